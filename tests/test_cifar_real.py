"""The lab on the real CIFAR-10 files, when ../shared/data holds them (CI does; skipped elsewhere):
the lab's loader (restricted unpickler, uint8 tensors) equals torchvision's CIFAR10 on every image
and label, in the official order, with class names from batches.meta."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

REAL = Path(os.environ.get("LAB_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
pytestmark = pytest.mark.skipif(not (REAL / "cifar-10-batches-py" / "data_batch_1").is_file(),
                                reason=f"the real CIFAR-10 files are not in {REAL}")


@pytest.fixture(scope="module")
def cifar():
    from lab import data
    previous = os.environ.get("LAB_DATA_DIR")
    os.environ["LAB_DATA_DIR"] = str(REAL)
    try:
        yield data.load("cifar10")
    finally:
        os.environ["LAB_DATA_DIR"] = previous


def test_loader_equals_torchvision_on_every_image_and_label(cifar):
    torchvision = pytest.importorskip("torchvision")
    for train, images, labels in ((True, cifar.train_images, cifar.train_labels),
                                  (False, cifar.test_images, cifar.test_labels)):
        reference = torchvision.datasets.CIFAR10(root=str(REAL), train=train, download=False)  # md5s checked
        expected = torch.from_numpy(np.ascontiguousarray(reference.data.transpose(0, 3, 1, 2)))  # HWC -> CHW
        assert images.dtype == torch.uint8 and images.shape == expected.shape
        assert torch.equal(images, expected)
        assert torch.equal(labels, torch.tensor(reference.targets, dtype=torch.int64))
    assert list(cifar.classes) == reference.classes
    assert cifar.origin == "data folder"


def test_statistics_are_cifar10s_well_known_ones(cifar):
    # The per-channel mean and std everyone quotes for CIFAR-10's training set (e.g. airbench's
    # 0.4914, 0.4822, 0.4465 / 0.2470, 0.2435, 0.2616), here exact to the last digit they give.
    assert cifar.mean == pytest.approx((0.4914, 0.4822, 0.4465), abs=5e-5)
    assert cifar.std == pytest.approx((0.2470, 0.2435, 0.2616), abs=5e-5)
    assert [int(n) for n in torch.bincount(cifar.test_labels)] == [1000] * 10


def test_the_live_recipe_learns_on_a_slice(cifar):
    """A dry run of the CIFAR-10 teacher recipe (airbench's net at half width, Nesterov SGD,
    Lookahead, label smoothing, flip + translate): one epoch on 2,048 real images, scored on 1,000
    test images (100 per class would be chance at 10 %)."""
    from dataclasses import replace

    from lab.recipes import teacher_recipe, train_teacher
    from lab.train import run_to_end
    small = replace(cifar.subset(torch.arange(2048)), test_images=cifar.test_images[:1000],
                    test_labels=cifar.test_labels[:1000])
    recipe = teacher_recipe("cifar10", "live")
    assert recipe.arch == "teacher-airbench-half" and recipe.config.optimizer == "sgd"
    result = run_to_end(train_teacher(small, recipe.arch, replace(recipe.config, epochs=2, batch_size=256)))
    assert result.status == "finished" and result.metrics["test_accuracy"] > 0.25


SHIPPED = sorted(p for p in (Path(__file__).resolve().parents[1] / "assets").glob("*cifar10*") if p.is_dir())


@pytest.mark.skipif(not SHIPPED, reason="no shipped CIFAR-10 teacher in assets/")
def test_shipped_teacher_scores_what_its_card_says(cifar, capsys, monkeypatch):
    """`python -m lab evaluate --model assets/<teacher> --dataset cifar10` on the official 10,000 test
    images prints the card's accuracy, exactly (one fp32 evaluation of the stored weights)."""
    import json

    from lab.cli import main
    monkeypatch.setenv("LAB_THREADS", "2")  # as when the card was made (a sum's order follows the threads)
    monkeypatch.setenv("LAB_DATA_DIR", str(REAL))
    folder = SHIPPED[0]
    card = json.loads((folder / "model.json").read_text())
    assert card["dataset"] == "cifar10" and card["metrics"]["n"] == 10000
    assert main(["evaluate", "--model", str(folder), "--dataset", "cifar10"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["n"] == 10000 and printed["accuracy"] == card["metrics"]["test_accuracy"] >= 0.94
