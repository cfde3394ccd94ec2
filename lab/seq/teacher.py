"""The G2P teacher: trained once (`python -m lab seq teacher --out DIR`), shipped in
assets/seq-teacher-g2p/ as `model.safetensors` (weights only) + `model.json` (its card: the
architecture, the split, the error rates on the held-out words and the command that made it).

    teacher, card = load()                 # the shipped one
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import CheckpointError
from .data import TASK, G2P
from .metrics import evaluate, parameters
from .model import Seq2Seq, SeqModelConfig

ASSET = Path(__file__).resolve().parent.parent.parent / "assets" / "seq-teacher-g2p"
WEIGHTS, CARD = "model.safetensors", "model.json"
ARCH = "seq2seq-transformer"

# The published numbers the card is compared with (word error rates on CMUdict, stress removed).
PUBLISHED = [
    {"source": "Yao & Zweig 2015, Sequence-to-sequence neural net models for G2P (arXiv:1506.00196)",
     "model": "bidirectional LSTM encoder-decoder", "split": "CMUdict PRONALSYL 2007", "wer": 0.2355, "per": 0.0545},
    {"source": "Rao et al. 2015, G2P using LSTM recurrent neural networks (ICASSP)",
     "model": "LSTM + 5-gram FST", "split": "CMUdict PRONALSYL 2007", "wer": 0.213},
    {"source": "cmusphinx/g2p-seq2seq README (Tensor2Tensor transformer, 3 layers x 256)",
     "model": "transformer", "split": "CMUdict PRONALSYL 2007", "wer": 0.206},
    {"source": "cmusphinx/g2p-seq2seq README (Tensor2Tensor transformer, 3 layers x 256)",
     "model": "transformer", "split": "CMUdict latest, random held-out words", "wer": 0.302},
]


def measure(model, data: G2P, beam: int = 5) -> dict:
    """Error rates on every held-out test word, greedy and beam."""
    greedy, beamed = evaluate(model, data.test), evaluate(model, data.test, beam)
    return {"test_words": len(data.test), "wer": greedy.wer, "per": greedy.per,
            "beam": beam, "beam_wer": beamed.wer, "beam_per": beamed.per}


def make_card(model: Seq2Seq, metrics: dict, command: str, **extra) -> dict:
    return {"card_version": 1, "arch": ARCH, "task": TASK, "config": model.config.as_dict(),
            "params": parameters(model), "metrics": metrics, "command": command,
            "split": "by word: sha1(word) mod 20 -> 0-1 test, 2 dev, else train (lab/seq/data.py)",
            "stress": "removed (39 phonemes)", "published": PUBLISHED, **extra}


def save(folder: Path, model: Seq2Seq, card: dict) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / (WEIGHTS + ".tmp")), metadata={"arch": ARCH})
    (folder / (CARD + ".tmp")).write_text(json.dumps(card, indent=2))
    (folder / (WEIGHTS + ".tmp")).replace(folder / WEIGHTS)   # renamed last: never half a checkpoint
    (folder / (CARD + ".tmp")).replace(folder / CARD)
    return folder


def load(folder: Path | str = ASSET) -> tuple[Seq2Seq, dict]:
    """The model and its card, strictly: the weights must fit the card's architecture key by key."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CARD).is_file() or not (folder / WEIGHTS).is_file():
        raise CheckpointError(f"{folder} holds no G2P teacher ({WEIGHTS} + {CARD}). "
                              "Train one with `python -m lab seq teacher --out DIR`.")
    try:
        card = json.loads((folder / CARD).read_text())
        config = SeqModelConfig(**card["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{folder / CARD} is not a G2P teacher's card ({e}). Train the teacher again.") from None
    if card.get("arch") != ARCH:
        raise CheckpointError(f"{folder / CARD} describes a {card.get('arch')!r}, not a {ARCH}.")
    model = Seq2Seq(config)
    try:
        tensors = load_file(str(folder / WEIGHTS))
        model.load_state_dict(tensors, strict=True)
    except Exception as e:  # not safetensors, or keys/shapes that do not fit
        raise CheckpointError(f"{folder / WEIGHTS} does not fit the card's architecture ({str(e)[:200]}). "
                              "Train the teacher again.") from None
    if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise CheckpointError(f"{folder / WEIGHTS} holds NaN or infinite values. Train the teacher again.")
    return model.eval(), card

