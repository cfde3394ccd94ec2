"""Convention translator: the same distillation loss as different code bases parametrize it.

Every convention below is  L = w_soft · T² · S(p_t, p_s) + w_hard · CE(z_s, y)  for some
weights, where S is the KL divergence (or the soft-target cross-entropy, which differs from it
by the teacher's entropy — a constant, so the gradients are identical):

    hinton            this lab, Hinton et al. 2015   w_soft = alpha,                w_hard = 1 − alpha
    keras             keras.io KD example            w_soft = 1 − alpha,            w_hard = alpha
    torchdistill      KDLoss(alpha, beta)            w_soft = beta (default 1 − alpha), w_hard = alpha;
                                                     but alpha = 0: w_soft = 1/T², w_hard = 0 (see below)
    pytorch-tutorial  PyTorch KD tutorial            w_soft = soft_target_loss_weight, w_hard = ce_loss_weight
                      (soft-target cross-entropy, T² included)

torchdistill, read in its code (yoshitomo-matsubara/torchdistill, torchdistill/losses/mid_level.py,
`KDLoss.forward`, the same in the older single.py): `if self.alpha is None or self.alpha == 0 or
targets is None: return soft_loss` — with alpha = 0 it returns the bare batchmean KL, without β and
without T². So torchdistill's alpha = 0 is T² times weaker than Hinton's alpha = 1 (β is ignored).

Converting to a convention whose weights sum to 1 may leave an overall factor `scale`
(the source loss = scale × the target loss): with Adam/AdamW it barely matters, with SGD it
multiplies the learning rate.
"""
from __future__ import annotations

import math

from ..errors import ConfigError

CONVENTIONS = {
    "hinton": ("alpha",),
    "keras": ("alpha",),
    "torchdistill": ("alpha", "beta"),
    "pytorch-tutorial": ("soft_target_loss_weight", "ce_loss_weight"),
}
DESCRIPTIONS = {
    "hinton": "L = α·T²·KL(p_t‖p_s) + (1−α)·CE — α weighs the teacher (this lab, Hinton et al. 2015).",
    "keras": "L = α·CE + (1−α)·T²·KL(p_t‖p_s) — α weighs the labels (keras.io knowledge-distillation example).",
    "torchdistill": "L = α·CE + β·T²·KL(p_t‖p_s), β = 1−α unless given — α weighs the labels (torchdistill KDLoss); "
                    "α = 0 returns the bare KL(p_t‖p_s): no β, no T².",
    "pytorch-tutorial": "L = soft_target_loss_weight·T²·H(p_t, p_s) + ce_loss_weight·CE — two free weights, "
                        "soft-target cross-entropy H = KL + entropy(p_t) (same gradients as KL) (PyTorch KD tutorial).",
}


def _weights(convention: str, settings: dict) -> tuple[float, float]:
    """(w_soft, w_hard) of a setting in a convention."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"Unknown convention {convention!r}. Choose one of: {', '.join(CONVENTIONS)}.")
    if convention == "torchdistill" and settings.get("beta") is None:
        settings = {**settings, "beta": 1 - settings.get("alpha", 0)}
    missing = [k for k in CONVENTIONS[convention] if settings.get(k) is None]
    if missing:
        raise ConfigError(f"The {convention} convention needs {', '.join(missing)}.")
    values = {k: float(settings[k]) for k in CONVENTIONS[convention]}
    if any(not math.isfinite(v) or v < 0 for v in values.values()):
        raise ConfigError(f"Loss weights must be finite and not negative (got {values}).")
    if convention in ("hinton", "keras") and values["alpha"] > 1:
        raise ConfigError(f"alpha must lie between 0 and 1 in the {convention} convention (got {values['alpha']}).")
    if convention == "hinton":
        return values["alpha"], 1 - values["alpha"]
    if convention == "keras":
        return 1 - values["alpha"], values["alpha"]
    if convention == "torchdistill":
        if values["alpha"] == 0:  # KDLoss returns the bare KL: no β, no T² (module docstring)
            return 1 / float(settings["temperature"]) ** 2, 0.0
        return values["beta"], values["alpha"]
    return values["soft_target_loss_weight"], values["ce_loss_weight"]


def translate(settings: dict, source: str, target: str) -> dict:
    """Convert {"temperature", ...weights} from `source`'s convention to `target`'s.

    >>> translate({"temperature": 4, "alpha": 0.9}, "hinton", "keras")["alpha"]   # 0.1
    """
    temperature = settings.get("temperature")
    if temperature is None or not (math.isfinite(float(temperature)) and float(temperature) > 0):
        raise ConfigError(f"The temperature must be a number above 0 (got {temperature}).")
    w_soft, w_hard = _weights(source, settings)
    total = w_soft + w_hard
    if total <= 0:
        raise ConfigError("Both loss weights are 0: nothing would be learned.")
    out = {"convention": target, "temperature": float(temperature)}
    scale = 1.0
    if target == "hinton":
        out["alpha"], scale = w_soft / total, total
    elif target == "keras":
        out["alpha"], scale = w_hard / total, total
    elif target == "torchdistill":
        if w_hard == 0:  # only alpha = 0 drops the labels, and then KDLoss drops β and T² too
            out["alpha"], out["beta"], scale = 0.0, 1.0, w_soft * float(temperature) ** 2
        else:
            out["alpha"], out["beta"] = w_hard, w_soft
    elif target == "pytorch-tutorial":
        out["soft_target_loss_weight"], out["ce_loss_weight"] = w_soft, w_hard
    else:
        _weights(target, {})  # raises the unknown-convention error
    out["scale"] = scale
    out["weights"] = {"soft": w_soft, "hard": w_hard}
    out["formula"] = DESCRIPTIONS[target]
    if target == "torchdistill" and w_hard == 0:
        out["note"] = (f"torchdistill's KDLoss with alpha = 0 returns the plain KL, without T² and ignoring beta: "
                       f"the {source} loss is {scale:g}× that (T² = {float(temperature) ** 2:g}). Multiply the "
                       f"learning rate by {scale:g} for plain SGD, or keep T² with a tiny alpha (e.g. 1e-6) and "
                       f"beta = {w_soft:g}.")
    elif scale != 1.0:
        out["note"] = (f"The {source} loss is {scale:g}× the {target} loss with these settings: the same "
                       f"optimum, but multiply the learning rate by {scale:g} to match plain SGD exactly.")
    return out
