"""lab.experiments.seeds: the Distill page's pair repeated over seeds, checked against the same
pairs trained separately (lab.recipes.distill_pair) and against statistics done by hand."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from lab import checkpoints
from lab.errors import ConfigError
from lab.experiments import seeds
from lab.experiments import common
from lab.experiments.common import finish
from lab.metrics import predict_logits
from lab.recipes import STUDENT_CONFIG, distill_pair, teacher_train_logits


@pytest.fixture(scope="module")
def teacher():
    model, _ = checkpoints.load("assets/teacher-mnist-sample")  # the shipped teacher: no training here
    return model


def test_each_seed_is_the_pair_the_distill_page_trains(sample, teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path))
    config = seeds.SeedsConfig(student="student-mlp", temperature=4.0, alpha=0.9, epochs=2, seeds=(0, 1),
                               device="cpu")
    logits = teacher_train_logits(teacher, sample, "cpu")
    measured = []  # the test logits the experiment scores, per seed (hard, distilled), recorded as they pass

    def recorded_test_logits(model, dataset):
        measured.append(common.test_logits(model, dataset))
        return measured[-1]

    monkeypatch.setattr(seeds, "test_logits", recorded_test_logits)
    result = finish(seeds.experiment(sample, teacher, config, teacher_logits=logits)).result
    assert [r["seed"] for r in result["per_seed"]] == [0, 1] and result["n_test"] == len(sample.test_labels)
    assert len(measured) == 2 * len(config.seeds)
    for i, row in enumerate(result["per_seed"]):
        # The separately trained pair at this seed (what the Distill page runs), same settings.
        separate = {}
        for name, event in distill_pair(sample, teacher, "student-mlp", 4.0, 0.9,
                                        replace(STUDENT_CONFIG, epochs=2, seed=row["seed"], device="cpu"),
                                        teacher_logits=logits):
            if event.done:
                separate[name] = predict_logits(event.result.model, sample.test_images, sample.mean, sample.std)
        right = {}
        for name, stacked in zip(("hard", "distilled"), measured[2 * i:2 * i + 2]):
            # stacked = separate, bit for bit: the same prediction on every test image
            assert torch.equal(stacked.argmax(-1), separate[name].argmax(-1)), (row["seed"], name)
            right[name] = separate[name].argmax(-1) == sample.test_labels
            assert row[name] * len(sample.test_labels) == pytest.approx(int(right[name].sum()), abs=1e-6)
        assert row["paired"]["only_a"] == int((right["hard"] & ~right["distilled"]).sum())
        assert row["paired"]["only_b"] == int((right["distilled"] & ~right["hard"]).sum())
        paired = row["paired"]
        assert row["gain"] == pytest.approx(row["distilled"] - row["hard"])
        assert row["gain"] == pytest.approx((paired["only_b"] - paired["only_a"]) / result["n_test"])
    gains = np.array([r["gain"] for r in result["per_seed"]])
    assert result["gains"] == pytest.approx(gains.tolist())
    assert result["mean_gain"] == pytest.approx(gains.mean()) and result["std_gain"] == pytest.approx(gains.std(ddof=1))
    half = 12.706 * gains.std(ddof=1) / np.sqrt(2)  # t(0.975, 1 d.f.) = 12.706 from a t table
    assert result["low"] == pytest.approx(gains.mean() - half, abs=1e-4)
    assert "over 2 seeds" in result["words"]
    # Asked again: the cached result, at once.
    again = finish(seeds.experiment(sample, teacher, config, teacher_logits=logits))
    assert again.message == "from cache" and again.result["gains"] == pytest.approx(result["gains"])


@pytest.mark.parametrize("changes, needle", [({"seeds": ()}, "at least one seed"), ({"seeds": (1, 1)}, "each different"),
                                             ({"epochs": 0}, "Epochs"), ({"temperature": 0.0}, "temperature T")])
def test_bad_settings_say_what_to_do(changes, needle):
    with pytest.raises(ConfigError, match=needle):
        seeds.SeedsConfig(**changes)
