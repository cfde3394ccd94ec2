"""The cost-quality frontier (lab/experiments/frontier.py): frontier.json's contract through the
command; sizes against hand counts; both students of a rung from one init on one schedule; ONE
interleaved speed measurement for the teacher and every rung; and the readings of a result (Pareto
front, smallest student within N points, the sentence about the 80-95 % claim) on a hand-made result."""
import json

import pytest

from lab.experiments import common, frontier
from lab.stacking import StackedModels

TEACHER = "assets/teacher-mnist-sample"


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path / "cache"))


def mlp_params(hidden: int) -> int:
    return 784 * hidden + hidden + hidden * 10 + 10  # two linear layers with biases


def test_ladder_spans_2x_to_300x_fewer_parameters_than_the_teacher():
    from lab.models import build, count_params
    teacher = count_params(build("teacher-cnn"))
    ratios = [teacher / count_params(build(arch)) for arch in frontier.LADDER]
    assert len(ratios) >= 6 and ratios == sorted(ratios)
    assert 1.5 < ratios[0] < 2.5 and 200 < ratios[-1] < 350
    assert count_params(build("student-mlp-256")) == mlp_params(256)


def test_frontier_command_writes_the_contract(tmp_path, capsys, monkeypatch):
    from lab import speed
    from lab.cli import main
    measured, trained = [], []
    real_measure, real_train = speed.measure_speed, common.train

    def measure_spy(models, shape, **kwargs):
        measured.append(list(models))
        return real_measure(models, shape, **kwargs)

    def train_spy(model, dataset, objective, config, stop=None, **kwargs):
        members = model.unstack() if isinstance(model, StackedModels) else [model]
        trained.append(([{k: v.clone() for k, v in m.state_dict().items()} for m in members], config))
        return real_train(model, dataset, objective, config, stop, **kwargs)
    monkeypatch.setattr(frontier, "measure_speed", measure_spy)
    monkeypatch.setattr(common, "train", train_spy)

    out = tmp_path / "out"
    ladder = "student-mlp-12,student-cnn-tiny"
    assert main(["frontier", "--teacher", TEACHER, "--students", ladder, "--seeds", "0,1", "--epochs", "1",
                 "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = json.loads((out / "frontier.json").read_text())
    assert printed == result
    teacher = result["teacher"]
    assert teacher["params"] == 390_634 and 0.9 < teacher["accuracy"] <= 1 and teacher["latency_ms_b1"] > 0
    assert [r["arch"] for r in result["rungs"]] == ["student-mlp-12", "student-cnn-tiny"]
    mlp, cnn = result["rungs"]
    assert mlp["params"] == mlp_params(12) and mlp["macs"] == 784 * 12 + 12 * 10
    assert cnn["macs"] == 28 * 28 * 8 * 9 + 14 * 14 * 16 * 8 * 9 + 16 * 10  # as tests/test_models.py counts
    for r in result["rungs"]:
        assert r["latency_ms_b1"] > 0 and r["throughput_b256"] > 0
        assert len(r["hard_accuracies"]) == len(r["distilled_accuracies"]) == 2
        mean = sum(r["distilled_accuracies"]) / 2
        assert r["recovered"] == pytest.approx(mean / teacher["accuracy"])
        hard = sum(r["hard_accuracies"]) / 2
        gap = r["gap_to_teacher"]
        assert gap["difference"] == pytest.approx(teacher["accuracy"] - hard) and gap["seeds"] == 2
        if gap["within_noise"]:
            assert r["gap_closed"] is None and "cannot be measured" in r["gap_closed_note"]
        else:
            assert r["gap_closed"] == pytest.approx((mean - hard) / (teacher["accuracy"] - hard))
            assert r["gap_closed_low"] <= r["gap_closed"] <= r["gap_closed_high"]
        assert r["gain"] == pytest.approx(mean - hard)
        assert r["gain_low"] <= r["gain"] <= r["gain_high"]
        # the two off-diagonal cells of the paired tables, summed over seeds, give the gain
        d = r["discordant"]
        assert (d["only_distilled_right"] - d["only_labels_right"]) / (2 * result["n_test"]) == pytest.approx(
            r["gain"])
    # one measurement, the teacher and every rung in it (interleaved by lab.speed)
    assert measured == [["teacher", "student-mlp-12", "student-cnn-tiny"]]
    # MLP: one stacked pair per seed; CNN (BatchNorm): two runs per seed. Every pair from one init.
    sizes = [len(initial) for initial, _ in trained]
    assert sizes == [2, 2, 1, 1, 1, 1]
    for initial, _ in trained[:2]:
        assert all((initial[0][k] == initial[1][k]).all() for k in initial[0])
    for (a, ca), (b, cb) in zip(trained[2::2], trained[3::2]):
        assert all((a[0][k] == b[0][k]).all() for k in a[0]) and ca == cb


def hand_made() -> dict:
    rung = lambda arch, params, latency, hard, distilled: {  # noqa: E731
        "arch": arch, "params": params, "latency_ms_b1": latency, "hard_mean": hard, "distilled_mean": distilled,
        "recovered": distilled / 0.98, "recovered_labels": hard / 0.98,
        "gap_closed": (distilled - hard) / (0.98 - hard)}
    return {"dataset": "toy", "teacher": {"params": 100_000, "accuracy": 0.98, "latency_ms_b1": 1.0},
            "rungs": [rung("big", 50_000, 0.10, 0.96, 0.975), rung("ten", 10_000, 0.05, 0.92, 0.95),
                      rung("slow-small", 1_000, 0.50, 0.80, 0.90), rung("tiny", 2_000, 0.02, 0.70, 0.72)]}


def test_pareto_front_and_smallest_within_on_a_hand_made_result():
    result = hand_made()
    # by size: slow-small (1k, 90 %) beats tiny (2k, 72 %), then ten, then big
    assert frontier.pareto_front(result, "params") == ["slow-small", "ten", "big"]
    # by latency: tiny is fastest, slow-small is dominated by ten (faster and better)
    assert frontier.pareto_front(result, "latency_ms_b1") == ["tiny", "ten", "big"]
    assert frontier.pareto_front(result, "params", which="hard") == ["slow-small", "ten", "big"]
    assert frontier.smallest_within(result, 1)["arch"] == "big"     # 97.5 ≥ 97
    assert frontier.smallest_within(result, 3)["arch"] == "ten"     # 95 ≥ 95
    assert frontier.smallest_within(result, 8)["arch"] == "slow-small"
    assert frontier.smallest_within(result, 1, which="hard") is None  # on labels no rung is within 1 point
    assert frontier.smallest_within(result, 3, which="hard")["arch"] == "big"
    sentence = frontier.claim_sentence(result)
    # the rung nearest 10× fewer parameters is "ten": 95/98 = 96.9 % kept, above the claim's 80-95 %
    assert "10× smaller student (ten)" in sentence and "96.9%" in sentence and "above the 80-95 %" in sentence
    assert "closes 50% of the gap" in sentence and "2.5× the teacher's" in sentence  # errors 5 % vs 2 %


def test_claim_sentence_when_distillation_closes_none_of_the_gap():
    result = hand_made()
    ten = result["rungs"][1]
    ten.update(distilled_mean=0.915, recovered=0.915 / 0.98, gap_closed=(0.915 - 0.92) / (0.98 - 0.92))
    sentence = frontier.claim_sentence(result)
    assert "closes none of the gap" in sentence and "(−0.5 points)" in sentence


def _rung_of(hard, distilled, teacher_right):
    """frontier.rung on hand-made right/wrong arrays (the model and the speeds only fill the cost columns)."""
    from types import SimpleNamespace

    import numpy as np

    from lab.data import load
    from lab.models import build
    data = load("mnist-sample")
    speed = SimpleNamespace(latency_ms={"student-mlp": 0.1}, throughput={"student-mlp": 1e4}, cpu_latency_ms={})
    as_bool = lambda rows: [np.asarray(r, dtype=bool) for r in rows]  # noqa: E731
    return frontier.rung("student-mlp", build("student-mlp"), data, as_bool(hard), as_bool(distilled),
                         np.asarray(teacher_right, dtype=bool), speed)


def test_gap_closed_only_where_the_teacher_labels_gap_is_beyond_noise():
    """1,000 images. Teacher right on 930; the labels-only student on 928 (it misses 4 the teacher gets,
    gets 2 the teacher misses): a 0.2-point gap, McNemar p = 0.69. The distilled student gets 2 of the 4
    back. The old code reported (93.0 − 92.8) / 0.2 → 100 % of the gap closed."""
    import numpy as np
    teacher = np.zeros(1000, bool)
    teacher[:930] = True
    hard = teacher.copy()
    hard[[0, 1, 2, 3]] = False       # the teacher's, missed
    hard[[930, 931]] = True          # the teacher's misses, got
    distilled = hard.copy()
    distilled[[0, 1]] = True
    r = _rung_of([hard], [distilled], teacher)
    assert r["gap_to_teacher"]["within_noise"] and r["gap_to_teacher"]["difference"] == pytest.approx(0.002)
    assert r["gap_closed"] is None and r["gap_closed_low"] is None
    assert "within noise" in r["gap_closed_note"] and "cannot be measured" in r["gap_closed_note"]
    # a gap beyond noise: labels 85 %, teacher 93 %; distilled gets back 40 of the 80 images
    hard = teacher.copy()
    hard[:80] = False
    distilled = hard.copy()
    distilled[:40] = True
    r = _rung_of([hard], [distilled], teacher)
    assert not r["gap_to_teacher"]["within_noise"]
    assert r["gap_closed"] == pytest.approx(0.5) and r["gap_closed_low"] < 0.5 < r["gap_closed_high"]
    # by hand: each resample keeps the ratio of the 40 "gained" to the 80 "gap" images near 1/2; the
    # binomial spread of 40 of 80 is ±0.11 at 95 %: the interval is about that wide
    assert 0.35 < r["gap_closed_low"] and r["gap_closed_high"] < 0.65


def test_claim_sentence_says_when_the_gap_is_within_noise():
    result = hand_made()
    ten = result["rungs"][1]
    ten.update(gap_closed=None, gap_closed_note="the teacher − labels gap is +0.2 points over 1 seed "
                                                "(95 % CI -0.4 to +0.8), within noise: the share of it "
                                                "distillation closes cannot be measured")
    sentence = frontier.claim_sentence(result)
    assert "cannot be measured" in sentence and "closes 50%" not in sentence
