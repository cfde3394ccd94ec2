"""Where distillation helped, image by image (lab/paired_images.py), on hand-made logits, and the
issue-12 figures (lab/figures/) read back from their JSON."""
import pytest
import torch

from lab import figures
from lab.paired_images import soft_targets_of, summary, where_changed


def logits_for(predictions, confidence):
    """(M, 4) logits whose argmax is `predictions[i]`, with softmax top probability ≈ confidence[i]."""
    out = torch.zeros(len(predictions), 4)
    for i, (p, c) in enumerate(zip(predictions, confidence)):
        out[i, p] = torch.log(torch.tensor(3 * c / (1 - c)))  # softmax: e^z / (e^z + 3) = c
    return out


def test_images_split_by_which_student_is_right_most_confident_first():
    labels = torch.tensor([0, 1, 2, 3, 1, 2, 0])
    #                           right? hard: T  F  T  F  F  T  T ; distilled: T  T  F  F  T  F  T
    hard = logits_for([0, 0, 2, 0, 3, 2, 0], [0.9, 0.8, 0.6, 0.5, 0.4, 0.95, 0.7])
    distilled = logits_for([0, 1, 1, 1, 1, 3, 0], [0.9, 0.55, 0.5, 0.5, 0.85, 0.6, 0.7])
    teacher = logits_for([0, 1, 2, 3, 1, 2, 0], [0.99] * 7)
    changed = where_changed(labels, teacher, hard, distilled)
    assert changed.helped == [4, 1]       # distilled alone right; confidence 0.85 before 0.55
    assert changed.hurt == [5, 2]         # labels alone right; confidence 0.95 before 0.6
    assert changed.counts() == {"only_distilled_right": 2, "only_labels_right": 2, "both_right": 2, "both_wrong": 1}
    assert (changed.paired.only_a, changed.paired.only_b) == (2, 2) and changed.paired.difference == 0
    assert changed.confidence("distilled", 4) == pytest.approx(0.85)
    bars = soft_targets_of(changed, 4)
    assert list(bars) == ["teacher", "labels", "distilled"] and bars["distilled"][1] == pytest.approx(0.85)
    assert "alone gets 2 test images right" in summary(changed) and "within noise" in summary(changed)


def test_changed_grid_and_three_bars():
    images = torch.randint(0, 255, (5, 1, 28, 28), dtype=torch.uint8)
    fig = figures.changed_grid(images, [3, 1], [0.9, 0.8], columns=10).to_dict()
    assert fig["data"][0]["type"] == "image" and fig["data"][1]["customdata"] == [[3, 0.9], [1, 0.8]]
    assert figures.changed_grid(images, [], []).to_dict()["layout"]["annotations"][0]["text"] == "no such image"
    bars = figures.three_soft_targets({"teacher": [0.7, 0.3], "labels": [0.4, 0.6], "distilled": [0.6, 0.4]},
                                 ["a", "b"], true_class=0).to_dict()
    assert [t["name"] for t in bars["data"]] == ["teacher", "student on labels", "distilled student"]


def test_frontier_and_blackbox_figures_show_their_numbers():
    rung = lambda arch, params, lat, h, d: {"arch": arch, "params": params, "latency_ms_b1": lat, "hard_mean": h,  # noqa: E731
                                            "distilled_mean": d, "hard_spread": 0.01, "distilled_spread": 0.02,
                                            "recovered": d / 0.98, "recovered_labels": h / 0.98}
    result = {"teacher": {"params": 100_000, "accuracy": 0.98, "latency_ms_b1": 1.0}, "seeds": [0, 1],
              "rungs": [rung("big", 50_000, 0.1, 0.96, 0.97), rung("small", 1_000, 0.5, 0.8, 0.9),
                        rung("tiny", 2_000, 0.02, 0.7, 0.72)]}
    fig = figures.frontier_chart(result, "params").to_dict()
    labels, distilled, front = fig["data"][:3]
    assert list(distilled["x"]) == [1_000, 2_000, 50_000] and list(distilled["y"]) == [0.9, 0.72, 0.97]
    assert list(front["text"]) == ["small", "big"] and fig["layout"]["xaxis"]["type"] == "log"
    assert fig["layout"]["shapes"][0]["y0"] == 0.98  # the teacher's reference line
    by_latency = figures.frontier_chart(result, "latency_ms_b1").to_dict()
    assert list(by_latency["data"][2]["text"]) == ["tiny", "big"]
    bb = {"budgets": [100, 200, 400], "train_size": 200,
          "settings": [{"name": "full-logits"}, {"name": "unlabeled"}],
          "mean": {"full-logits": [0.8, 0.85, 0.9], "unlabeled": [0.7, 0.8, 0.88]},
          "accuracies": {"full-logits": [[0.8], [0.85], [0.9]], "unlabeled": [[0.7], [0.8], [0.88]]},
          "baseline": {"mean": [0.75, 0.8, 0.82], "accuracies": [[0.75], [0.8], [0.82]]}}
    curves = figures.blackbox_curves(bb).to_dict()
    assert [t["name"] for t in curves["data"]] == ["full-logits", "unlabeled", "labels only (baseline)"]
    assert list(curves["data"][2]["y"]) == [0.75, 0.8, 0.82] and curves["data"][2]["line"]["dash"] == "dash"
