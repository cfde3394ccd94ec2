"""Where distillation helped, image by image: the test images the distilled student gets right
and the label-trained one gets wrong (and the reverse) — the two off-diagonal cells of the paired
2×2 table, which is all the gain's confidence interval rests on (lab.stats).

    changed = where_changed(labels, teacher_logits, hard_logits, distilled_logits)
    changed.helped      # indices, distilled right / labels wrong, most confident distilled answer first
    changed.hurt        # indices, labels right / distilled wrong, most confident labels answer first
    changed.paired      # lab.stats.PairedDifference (only_a = len(hurt), only_b = len(helped))
    soft_targets_of(changed, i)   # the three models' probabilities on image i (for its bars)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .stats import PairedDifference, correct, paired_difference


@dataclass(frozen=True)
class ChangedImages:
    helped: list[int]               # distilled right, labels wrong; sorted by distilled confidence, high first
    hurt: list[int]                 # labels right, distilled wrong; sorted by labels-student confidence
    both_right: int
    both_wrong: int
    paired: PairedDifference        # distilled (b) minus labels (a) on the same images
    probabilities: dict[str, torch.Tensor]  # "teacher" | "labels" | "distilled" -> (M, K) softmax at T = 1
    labels: torch.Tensor            # (M,)

    def confidence(self, model: str, i: int) -> float:
        """How sure `model` is of its own answer on image i (its top probability)."""
        return float(self.probabilities[model][i].max())

    def counts(self) -> dict:
        return {"only_distilled_right": len(self.helped), "only_labels_right": len(self.hurt),
                "both_right": self.both_right, "both_wrong": self.both_wrong}


def where_changed(labels: torch.Tensor, teacher_logits: torch.Tensor | None, hard_logits: torch.Tensor,
                  distilled_logits: torch.Tensor) -> ChangedImages:
    """Split the test images by which of the two students gets them right (logits (M, K), any device)."""
    labels = torch.as_tensor(labels).cpu()
    probabilities = {"labels": torch.softmax(hard_logits.float().cpu(), -1),
                     "distilled": torch.softmax(distilled_logits.float().cpu(), -1)}
    if teacher_logits is not None:
        probabilities["teacher"] = torch.softmax(teacher_logits.float().cpu(), -1)
    right_hard, right_distilled = correct(hard_logits, labels), correct(distilled_logits, labels)
    helped = np.flatnonzero(right_distilled & ~right_hard)
    hurt = np.flatnonzero(right_hard & ~right_distilled)
    sure = {m: p.max(-1).values.numpy() for m, p in probabilities.items()}
    helped = helped[np.argsort(-sure["distilled"][helped], kind="stable")]
    hurt = hurt[np.argsort(-sure["labels"][hurt], kind="stable")]
    return ChangedImages([int(i) for i in helped], [int(i) for i in hurt],
                         int((right_hard & right_distilled).sum()), int((~right_hard & ~right_distilled).sum()),
                         paired_difference(right_hard, right_distilled), probabilities, labels)


def soft_targets_of(changed: ChangedImages, i: int) -> dict[str, list[float]]:
    """Each model's probabilities on test image i (teacher first when known)."""
    order = [m for m in ("teacher", "labels", "distilled") if m in changed.probabilities]
    return {m: changed.probabilities[m][i].tolist() for m in order}


def summary(changed: ChangedImages) -> str:
    """One sentence: how many images each student alone gets right, and what that makes of the gain."""
    n_helped, n_hurt = len(changed.helped), len(changed.hurt)
    return (f"The distilled student alone gets {n_helped:,} test image{'s' if n_helped != 1 else ''} right, the "
            f"label-trained one alone {n_hurt:,}; the other {changed.both_right + changed.both_wrong:,} images "
            f"they get both right or both wrong. The gain, {changed.paired.words()}, rests on these "
            f"{n_helped + n_hurt:,} images only.")
