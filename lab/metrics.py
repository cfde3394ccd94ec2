"""Evaluation: logits for a whole split, accuracy, per-class accuracy, confusion matrix,
expected calibration error, and agreement between two models."""
from __future__ import annotations

import torch

from .data import Dataset, normalize


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: torch.Tensor, mean, std,
                   batch_size: int = 1000) -> torch.Tensor:
    """(N, K) float32 logits for uint8 (N, C, H, W) images, in eval mode, on the images' device.
    A stack of G models (lab.stacking.StackedModels) gives (G, N, K); `accuracy` then averages the members.

    Always in fp32, even where training runs under bf16 autocast: every accuracy a card, a page
    or a test reports, and the teacher's cached soft targets, are the fp32 model's (bf16 logits
    round to ~3 significant digits, enough to flip a close top-2 on a few test images)."""
    was_training = model.training
    model.eval()
    try:
        parts = []
        for start in range(0, len(images), batch_size):
            x = normalize(images[start:start + batch_size], mean, std)
            with torch.autocast(x.device.type, enabled=False):  # fp32 inside a caller's autocast too
                parts.append(model(x).float())
        # (N, K); a stack of G models (lab.stacking) gives (G, N, K): images are the second-last dim
        return torch.cat(parts, dim=-2) if parts else torch.empty(0, 0)
    finally:
        model.train(was_training)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(-1) == labels).double().mean().item()


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts: row = true class, column = predicted class."""
    index = labels.cpu() * num_classes + logits.argmax(-1).cpu()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    cm = confusion_matrix(logits, labels, num_classes).double()
    return (cm.diag() / cm.sum(1).clamp_min(1)).tolist()


def reliability(logits: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> dict:
    """Per confidence bin: mean confidence, accuracy and count (for reliability diagrams)."""
    probs = torch.softmax(logits.float(), -1).cpu()
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels.cpu()).double()
    which = torch.clamp((confidence * bins).long(), max=bins - 1)
    count = torch.bincount(which, minlength=bins).double()
    conf_sum = torch.bincount(which, weights=confidence.double(), minlength=bins)
    acc_sum = torch.bincount(which, weights=correct, minlength=bins)
    return {"edges": torch.linspace(0, 1, bins + 1).tolist(), "count": count.long().tolist(),
            "confidence": (conf_sum / count.clamp_min(1)).tolist(), "accuracy": (acc_sum / count.clamp_min(1)).tolist()}


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b| over equal-width confidence bins."""
    r = reliability(logits, labels, bins)
    n = max(sum(r["count"]), 1)
    return sum(c / n * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"]))


def agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Fraction of images on which two models predict the same class."""
    return (logits_a.argmax(-1).cpu() == logits_b.argmax(-1).cpu()).double().mean().item()


def evaluate(model: torch.nn.Module, dataset: Dataset, reference_logits: torch.Tensor | None = None) -> dict:
    """Everything the Compare page shows about one model on the test split."""
    logits = predict_logits(model, dataset.test_images, dataset.mean, dataset.std)
    labels = dataset.test_labels
    result = {"test_accuracy": accuracy(logits, labels), "n": len(labels),
              "per_class_accuracy": per_class_accuracy(logits, labels, dataset.num_classes),
              "confusion_matrix": confusion_matrix(logits, labels, dataset.num_classes).tolist(),
              "ece": expected_calibration_error(logits, labels)}
    if reference_logits is not None:
        result["agreement"] = agreement(logits, reference_logits)
    return result
