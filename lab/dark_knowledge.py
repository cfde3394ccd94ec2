"""What the teacher's soft targets say, as numbers the Concepts and Dark-knowledge pages plot.

    temperature_sweep(logits, temperatures) -> entropy and probability off the top class per T
    class_similarity(logits, labels, T, K)  -> (K, K) mean soft targets per true class
    confusable_pairs(similarity, classes)   -> the class pairs the teacher finds most alike
    second_choice_kind(logits, classes, KINDS["cifar10"]) -> how often the runner-up is of the same kind
"""
from __future__ import annotations

import functools
import math

import torch

from .losses import soft_targets
from .stats import clopper_pearson

# Kinds a person would group the classes into, per dataset: the teacher was never told them, so a
# runner-up of the same kind far more often than chance is structure it found in the images.
KINDS = {
    "cifar10": {"animal": ("bird", "cat", "deer", "dog", "frog", "horse"),
                "vehicle": ("airplane", "automobile", "ship", "truck")},
    "fashion-mnist": {"clothes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt"),
                      "footwear": ("Sandal", "Sneaker", "Ankle boot"), "bag": ("Bag",)},
}


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (bits) of each row of probabilities: 0 = certain, log2(K) = uniform."""
    return -(probs * torch.log2(probs.clamp_min(1e-12))).sum(-1)


def off_top_mass(probs: torch.Tensor) -> torch.Tensor:
    """Probability *not* on the most likely class: where the dark knowledge lives."""
    return 1 - probs.max(-1).values


def temperature_sweep(logits: torch.Tensor, temperatures) -> dict:
    """Mean entropy (bits) and mean off-top-class mass of softmax(z / T) for each T.

    `logits` is (K,) for one image or (N, K) for many (averaged over images).
    """
    logits = logits.float().reshape(-1, logits.shape[-1]).cpu()
    temps = torch.tensor([float(t) for t in temperatures]).view(-1, 1, 1)
    p = torch.softmax(logits.unsqueeze(0) / temps, dim=-1)  # (M, N, K): every T at once, no per-T host sync
    entropy = entropy_bits(p).mean(-1)
    off_top = off_top_mass(p).mean(-1)
    return {"temperature": temps.flatten().tolist(), "entropy_bits": entropy.tolist(), "off_top_mass": off_top.tolist(),
            "max_entropy_bits": math.log2(logits.shape[-1])}


SWEEP_TEMPERATURES = tuple(float(t) for t in torch.logspace(math.log10(0.5), math.log10(50), 50))


@functools.lru_cache(maxsize=16)
def sweep_of(logits: torch.Tensor) -> dict:
    """temperature_sweep over SWEEP_TEMPERATURES, computed once per logits tensor (tensors hash by
    identity and the cache keeps them alive): the curve does not depend on the T slider, so a
    slider move must not recompute it."""
    return temperature_sweep(logits, SWEEP_TEMPERATURES)


def class_similarity(logits: torch.Tensor, labels: torch.Tensor, temperature: float, num_classes: int) -> torch.Tensor:
    """(K, K): row i = the teacher's mean soft targets at T over test images whose true class is i."""
    probs = soft_targets(logits, temperature).cpu()
    labels = labels.cpu()
    sums = torch.zeros(num_classes, num_classes).index_add_(0, labels, probs)
    counts = torch.bincount(labels, minlength=num_classes).clamp_min(1).unsqueeze(1)
    return sums / counts


def confusable_pairs(similarity: torch.Tensor, classes, top: int = 5) -> list[dict]:
    """Unordered class pairs ranked by symmetric off-diagonal soft mass (S_ij + S_ji) / 2."""
    sym = (similarity + similarity.T) / 2
    k = len(classes)
    pairs = [(sym[i, j].item(), i, j) for i in range(k) for j in range(i + 1, k)]
    pairs.sort(reverse=True)
    return [{"pair": f"{classes[i]} ↔ {classes[j]}", "a": classes[i], "b": classes[j], "mass": mass,
             "a_to_b": similarity[i, j].item(),
             "b_to_a": similarity[j, i].item()} for mass, i, j in pairs[:top]]


def second_choice_kind(logits: torch.Tensor, classes, kinds: dict[str, tuple[str, ...]]) -> dict:
    """Is the teacher's second choice of the same kind as its first (an animal after an animal)?

    For each image: its top and runner-up class (argmax and second-largest logit; T does not
    change the order). `rate` is the share of images whose runner-up is of the top class's kind,
    with its exact 95 % interval over the images (Clopper-Pearson). `chance` is that share if the
    runner-up were any other class at random: (n_kind(top) - 1) / (K - 1) averaged over the images
    (CIFAR-10: 5/9 after an animal, 3/9 after a vehicle). A class in no kind is its own kind.
    """
    kind_of = {c: name for name, members in kinds.items() for c in members}
    kind = [kind_of.get(c, c) for c in classes]
    k = len(classes)
    assert logits.shape[-1] == k >= 2, (logits.shape, k)
    size = torch.tensor([kind.count(x) for x in kind], dtype=torch.float64)          # (K,) its kind's size
    ids = {name: i for i, name in enumerate(dict.fromkeys(kind))}
    kind_id = torch.tensor([ids[x] for x in kind])                                   # (K,)
    top2 = logits.float().reshape(-1, k).cpu().topk(2, dim=-1).indices               # (N, 2)
    same = kind_id[top2[:, 0]] == kind_id[top2[:, 1]]                                # (N,) bool
    n, hits = len(same), int(same.sum())
    chance = ((size[top2[:, 0]] - 1) / (k - 1)).mean().item() if n else float("nan")
    low, high = clopper_pearson(hits, n)
    return {"n": n, "same": hits, "rate": hits / n if n else float("nan"), "low": low, "high": high,
            "chance": chance, "kinds": {name: list(members) for name, members in kinds.items()}}
