"""The ensemble experiment picks its best teacher on held-out test images and reports on the others."""
import torch

from lab.experiments import ensemble


def test_the_best_teacher_is_picked_on_the_selection_images_only():
    labels = torch.arange(10).repeat(20)  # 200 images, 20 per class
    selection, report = ensemble.selection_split(labels, 0.5, seed=0)
    assert len(selection) == len(report) == 100 and not set(selection.tolist()) & set(report.tolist())
    assert torch.bincount(labels[selection], minlength=10).tolist() == [10] * 10
    right = torch.nn.functional.one_hot(labels, 10).float() * 5
    wrong = torch.roll(right, 1, dims=1)
    # member 0 is right on every report image and wrong on the selection; member 1 the reverse.
    m0, m1 = right.clone(), right.clone()
    m0[selection], m1[report] = wrong[selection], wrong[report]
    assert ensemble.pick_best([m0, m1], labels, selection) == 1  # the test images it reports on would say 0
    assert ensemble.pick_best([m1, m0], labels, selection) == 0
