"""lab.figures, lab.dark_knowledge, lab.compare: pure functions, checked through their numbers
and the plotly JSON they produce (no Streamlit)."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from lab import figures
from lab.compare import comparison_row, verdict
from lab.dark_knowledge import class_similarity, confusable_pairs, entropy_bits, off_top_mass, temperature_sweep
from lab.stats import paired_difference
from lab.recipes import STUDENT_CONFIG, distill_pair, distill_pair_together

LOGITS = torch.tensor([8.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, 3.0, 0.5, 1.5])


def test_soft_target_bars_show_both_temperatures_and_sum_to_one():
    fig = figures.soft_target_bars(LOGITS, list(range(10)), 5.0).to_dict()
    ref, hot = fig["data"]
    assert ref["name"].startswith("T = 1") and hot["name"] == "T = 5"
    assert math.isclose(sum(hot["y"]), 1, abs_tol=1e-5) and max(hot["y"]) < max(ref["y"])
    assert np.argmax(hot["y"]) == np.argmax(ref["y"]) == 0  # temperature never changes the ranking
    assert figures.soft_target_bars(LOGITS, list(range(10)), 5.0, log_scale=True).to_dict()["layout"]["yaxis"]["type"] == "log"


def test_temperature_sweep_entropy_rises_towards_uniform():
    sweep = temperature_sweep(LOGITS, [0.5, 1, 2, 4, 8, 1000])
    assert all(a < b for a, b in zip(sweep["entropy_bits"], sweep["entropy_bits"][1:]))
    assert all(a < b for a, b in zip(sweep["off_top_mass"], sweep["off_top_mass"][1:]))
    assert math.isclose(sweep["entropy_bits"][-1], math.log2(10), rel_tol=1e-3)
    assert math.isclose(sweep["off_top_mass"][-1], 0.9, rel_tol=1e-2)
    fig = figures.temperature_sweep_figure(sweep, 4.0).to_dict()
    assert [t["name"] for t in fig["data"]] == ["entropy (bits)", "probability off the top class"]


def test_the_concepts_log_t_axis_labels_1_2_5_ticks_only():
    """The Concepts page's sweep (T from 0.5 to 50) drew plotly's own log ticks, every minor one
    labelled (5, 2, 5, 1, 2, 5, …) in half a page's width: they ran into each other."""
    sweep = temperature_sweep(LOGITS, np.geomspace(0.5, 50, 60))
    axis = figures.temperature_sweep_figure(sweep, 4.0).to_dict()["layout"]["xaxis"]
    assert axis["type"] == "log" and list(axis["tickvals"]) == [0.5, 1, 2, 5, 10, 20, 50]
    assert list(axis["ticktext"]) == ["0.5", "1", "2", "5", "10", "20", "50"]


def test_entropy_and_off_top_by_hand():
    p = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert torch.allclose(entropy_bits(p), torch.tensor([1.0, 0.0]))
    assert torch.allclose(off_top_mass(p), torch.tensor([0.5, 0.0]))


def test_class_similarity_rows_are_mean_soft_targets():
    logits = torch.tensor([[5.0, 4.0, 0.0], [5.0, 0.0, 4.0], [0.0, 5.0, 4.9], [0.0, 4.9, 5.0]])
    labels = torch.tensor([0, 0, 1, 2])
    sim = class_similarity(logits, labels, 1.0, 3)
    assert torch.allclose(sim.sum(1), torch.ones(3))
    assert torch.allclose(sim[0], torch.softmax(logits[:2], -1).mean(0))
    pairs = confusable_pairs(sim, ["a", "b", "c"], top=3)
    assert pairs[0]["pair"] == "b ↔ c"  # 1 and 2 look alike to this "teacher"
    assert [p["mass"] for p in pairs] == sorted((p["mass"] for p in pairs), reverse=True)
    fig = figures.similarity_heatmap(sim, ["a", "b", "c"], 1.0).to_dict()
    assert fig["data"][0]["z"][0][0] is None and fig["data"][0]["z"][0][1] > 0  # the diagonal is hidden


def test_training_curves_one_line_per_run():
    history = [{"step": s, "loss": 1 / s, "train_accuracy": 0.5, "test_accuracy": 0.6 if s == 3 else None}
               for s in (1, 2, 3)]
    fig = figures.training_curves({"hard": history, "distilled": history}, total_steps=10).to_dict()
    names = [t["name"] for t in fig["data"]]
    assert names.count("hard loss") == 1 and names.count("distilled test accuracy") == 1
    test_trace = next(t for t in fig["data"] if t["name"] == "hard test accuracy")
    assert list(test_trace["x"]) == [3]
    assert fig["data"][0]["line"]["color"] == figures.COLORS["hard"]


def test_image_grid_and_class_balance(sample):
    fig = figures.image_grid(sample.train_images, sample.train_labels, sample.classes, per_class=5).to_dict()
    assert fig["data"][0]["type"] == "image" and fig["data"][0]["source"].startswith("data:image/png;base64,")
    assert fig["layout"]["yaxis"]["ticktext"] == list(sample.classes)
    balance = figures.class_balance(sample.train_labels, sample.test_labels, sample.classes).to_dict()
    assert list(balance["data"][0]["y"]) == [400] * 10 and list(balance["data"][1]["y"]) == [100] * 10
    picture = figures.mosaic(sample.test_images[:6], columns=3, pad=2)
    assert picture.shape == (2 * 30 + 2, 3 * 30 + 2, 3) and picture.dtype == np.uint8


def test_confusion_matrices_and_accuracy_vs_size():
    cm = [[5, 1], [0, 4]]
    fig = figures.confusion_matrices([("a", cm), ("b", cm)], ["x", "y"]).to_dict()
    assert len(fig["data"]) == 2 and fig["data"][1]["z"] == cm
    rows = [comparison_row("t", "teacher", {"test_accuracy": 0.99, "params": 390_000, "latency_ms": 1.0}),
            comparison_row("s", "distilled", {"test_accuracy": 0.95, "params": 19_000, "latency_ms_b1": 0.1})]
    # A card's latency is history (recorded_latency_ms); latency_ms comes only from a live measurement.
    assert rows[1]["recorded_latency_ms"] == 0.1 and rows[1]["latency_ms"] is None and rows[1]["agreement"] is None
    scatter = figures.accuracy_vs_size(rows).to_dict()
    assert scatter["layout"]["xaxis"]["type"] == "log" and len(scatter["data"]) == 2


def test_verdict_is_computed_from_the_numbers():
    teacher = {"test_accuracy": 0.99, "params": 390_000, "latency_ms": 2.0}
    hard = {"test_accuracy": 0.94, "params": 14_400, "latency_ms": 0.1}
    distilled = {"test_accuracy": 0.954, "params": 14_400, "latency_ms": 0.1}
    # 1,000 test images; the distilled student alone right on 24, the hard one alone on 10: +1.4 points.
    only_hard = np.r_[np.ones(10, bool), np.zeros(24, bool), np.ones(930, bool), np.zeros(36, bool)]
    only_distilled = np.r_[np.zeros(10, bool), np.ones(24, bool), np.ones(930, bool), np.zeros(36, bool)]
    gain = paired_difference(only_hard, only_distilled)
    assert gain.difference == pytest.approx(0.014) and not gain.within_noise
    text = verdict(teacher, hard, distilled, paired=gain)
    assert text.startswith("The distilled student is 27× smaller than the teacher, keeps 96% of its accuracy")
    assert "1.4 points better than the same student trained on labels alone (95 % CI +" in text
    assert "faster" not in text  # the cards' latencies (20×) are history: no speed claim without a live measurement
    worse = verdict(teacher, distilled, hard, paired=paired_difference(only_distilled, only_hard))
    assert "1.4 points worse" in worse and "did not help" in worse
    assert "within noise" in verdict(teacher, hard, hard, paired=paired_difference(only_hard, only_hard))


def test_students_taking_turns_learn_exactly_what_they_learn_one_after_the_other(sample, trained_teacher):
    teacher, _ = trained_teacher
    config = replace(STUDENT_CONFIG, epochs=1, device="cpu")
    together = list(distill_pair_together(sample, teacher, "student-mlp", 4.0, 0.9, config))
    names = [name for name, _ in together]
    assert names[:4] == ["hard", "distilled", "hard", "distilled"]  # they take turns
    sequential = {}
    for name, event in distill_pair(sample, teacher, "student-mlp", 4.0, 0.9, config):
        if event.done:
            sequential[name] = event.result
    finals = {name: event.result for name, event in together if event.done}
    for name in ("hard", "distilled"):
        a, b = finals[name].model.state_dict(), sequential[name].model.state_dict()
        assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), name
        assert finals[name].metrics["test_accuracy"] == pytest.approx(sequential[name].metrics["test_accuracy"])
