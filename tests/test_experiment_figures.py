"""lab/figures/experiments.py: each builder on a small hand-made result, read back as JSON."""
import pytest
import torch

from lab import figures
from lab.experiments.omit import apply_bias
from lab.objectives import soft_gradient_norms


def _sweep(student="student-mlp", best=(4.0, 0.9)):
    temperatures, alphas = [1.0, 4.0], [0.0, 0.9]
    cells = []
    for t in temperatures:
        for a in alphas:
            accs = [0.80, 0.82] if a == 0 else ([0.90, 0.94] if (t, a) == best else [0.85, 0.85])
            gain = sum(accs) / 2 - 0.81
            cells.append({"temperature": t, "alpha": a, "accuracies": accs, "mean": sum(accs) / 2,
                          "spread": max(accs) - min(accs), "gain": gain, "gain_low": gain - 0.012,
                          "gain_high": gain + 0.012, "gain_within_noise": abs(gain) <= 0.012})
    return {"student": student, "temperatures": temperatures, "alphas": alphas, "seeds": [0, 1],
            "hard_label_accuracies": [0.80, 0.82], "hard_label_mean": 0.81, "cells": cells,
            "best": {"temperature": best[0], "alpha": best[1], "labels_only": False, "selection_size": 500,
                     "report_size": 500, "selection_accuracy": 0.93, "report_accuracy": 0.905,
                     "labels_report_accuracy": 0.81, "gain": 0.095, "gain_low": 0.07, "gain_high": 0.12,
                     "gain_within_noise": False, "gain_words": "+9.5 points over 2 seeds (95 % CI +7.0 to +12.0), "
                                                               "beyond noise"}}


def test_sweep_heatmap_marks_baseline_the_held_out_choice_and_each_cells_gain():
    fig = figures.sweep_heatmap(_sweep()).to_dict()
    heat = fig["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == ["α=0", "α=0.9"] and heat["y"] == ["T=1", "T=4"]
    assert [v for r in heat["z"] for v in r] == pytest.approx([0.81, 0.85, 0.81, 0.92])
    assert heat["zmid"] == 0.81                    # colours: better or worse than the labels-only baseline
    assert heat["text"][1][1] == "92.0%<br><b>+11.0</b>"  # mean, and its gain over labels: beyond noise, bold
    assert heat["text"][0][0] == "81.0%<br>+0.0"   # the labels-only column: no gain, within noise
    assert "95 % CI +9.8 to +12.2" in heat["customdata"][1][1] and "beyond noise" in heat["customdata"][1][1]
    baseline, chosen = fig["layout"]["shapes"]
    assert (chosen["x0"], chosen["x1"], chosen["y0"], chosen["y1"]) == (0.5, 1.5, 0.5, 1.5)
    assert baseline["x0"] == -0.5 and baseline["line"]["dash"] == "dash"
    caption = fig["layout"]["annotations"][0]["text"]
    # the box says where it was chosen and what it scored elsewhere, never its own (flattering) mean
    assert "81.0%" in caption and "chosen on 500 test images, T=4 α=0.9" in caption and "other 500" in caption
    assert "90.5% vs labels 81.0%" in caption and "92.0%" not in caption


def test_sweep_heatmap_names_no_cell_when_labels_only_was_chosen():
    result = _sweep()
    result["best"] = {**result["best"], "temperature": None, "alpha": 0.0, "labels_only": True}
    fig = figures.sweep_heatmap(result).to_dict()
    assert [s["name"] for s in fig["layout"]["shapes"]] == ["hard-label baseline"]  # no box
    assert "labels only — no distilled cell did better" in fig["layout"]["annotations"][0]["text"]


def test_sweep_students_best_over_alpha_per_temperature():
    fig = figures.sweep_students({"small": _sweep("small"), "big": _sweep("big", best=(1.0, 0.9))}).to_dict()
    lines = {t["name"]: t for t in fig["data"]}
    assert list(lines["small best over α"]["y"]) == pytest.approx([0.85, 0.92])
    assert list(lines["big best over α"]["y"]) == pytest.approx([0.92, 0.85])
    assert list(lines["big labels only"]["y"]) == [0.81, 0.81]


def test_per_class_bars_follow_the_bias():
    torch.manual_seed(0)
    logits, labels = torch.randn(200, 4), torch.arange(200) % 4
    logits[:, 2] -= 5  # class 2 is never predicted, as after omitting it
    before, after = apply_bias(logits, labels, 2, 0.0), apply_bias(logits, labels, 2, 5.0)
    fig = figures.per_class_bars({"no bias": before["per_class_accuracy"], "bias": after["per_class_accuracy"]},
                            ["a", "b", "c", "d"], highlight=2).to_dict()
    assert [t["name"] for t in fig["data"]] == ["no bias", "bias"]
    assert fig["data"][0]["y"][2] == 0.0 and fig["data"][1]["y"][2] > 0.1
    assert fig["layout"]["shapes"][0]["x0"] == 1.5  # the omitted class is highlighted


def test_data_efficiency_two_curves_over_sizes():
    result = {"fractions": [0.1, 1.0], "train_sizes": [400, 4000], "hard_accuracy": [0.6, 0.9],
              "distilled_accuracy": [0.7, 0.92], "hard_accuracies": [[0.6], [0.9]],
              "distilled_accuracies": [[0.7], [0.92]]}
    fig = figures.data_efficiency(result).to_dict()
    assert [t["name"] for t in fig["data"]] == ["labels only", "distilled"]
    assert list(fig["data"][1]["y"]) == [0.7, 0.92] and list(fig["data"][1]["x"]) == [400, 4000]
    assert fig["layout"]["xaxis"]["type"] == "log"


def test_methods_bars_and_reliability_diagram():
    bins = {"edges": [0, 0.5, 1], "count": [0, 10], "confidence": [0, 0.9], "accuracy": [0, 0.8]}
    rows = [{"method": m, "test_accuracy": a, "agreement": a, "ece": 0.1, "reliability": bins}
            for m, a in (("labels", 0.8), ("kd", 0.9))]
    bars = figures.methods_bars({"student": "s", "methods": rows}).to_dict()
    assert list(bars["data"][0]["x"]) == ["labels", "kd"] and list(bars["data"][0]["y"]) == [0.8, 0.9]
    diagram = figures.reliability_diagram({"teacher": rows[0], "distilled student": rows[1]}).to_dict()
    assert [t["name"] for t in diagram["data"]] == ["perfect calibration", "teacher (ECE 0.100)",
                                                    "distilled student (ECE 0.100)"]
    assert list(diagram["data"][1]["x"]) == [0.9]  # the empty bin is skipped


def test_gradient_norms_show_the_collapse_without_t_squared():
    torch.manual_seed(0)
    student, teacher = torch.randn(64, 10), 3 * torch.randn(64, 10)
    result = soft_gradient_norms(student, teacher, (1, 4, 16))
    fig = figures.gradient_norms(result, temperature=4).to_dict()
    lines = {t["name"]: list(t["y"]) for t in fig["data"]}
    correct, no_t2, kl_mean = (lines[figures.VARIANT_NAMES[v]] for v in ("hinton", "no-t2", "kl-mean"))
    assert no_t2[-1] < correct[-1] / 100           # falls like 1/T²
    assert abs(kl_mean[0] * 10 - correct[0]) < 1e-4 * correct[0] + 1e-6  # K = 10 times weaker
    assert fig["layout"]["shapes"][0]["x0"] == 4
    assert fig["layout"]["annotations"][0]["x"] == pytest.approx(0.60206)  # log10(4): on the log axis, not at 10⁴


def test_ensemble_bars():
    result = {"teacher_accuracies": [0.9, 0.91], "ensemble_accuracy": 0.93, "student_from_labels": 0.85,
              "student_from_best_teacher": 0.88, "student_from_ensemble": 0.89, "member_names": ["a", "b"]}
    fig = figures.ensemble_bars(result).to_dict()
    assert list(fig["data"][0]["x"])[:3] == ["a", "b", "ensemble"]
    assert list(fig["data"][0]["y"])[-1] == 0.89
