"""Figures that show a difference with its noise, and the layout fixes seen in screenshots
(issue 10 item 8), read back from the plotly JSON."""
import numpy as np
import pytest

from lab import figures
from lab.figures import NOISE_COLOR, gain_chart
from lab.stats import over_seeds, paired_difference


def correctness(only_a, only_b, both, neither):
    a = np.r_[np.ones(only_a, bool), np.zeros(only_b, bool), np.ones(both, bool), np.zeros(neither, bool)]
    b = np.r_[np.zeros(only_a, bool), np.ones(only_b, bool), np.ones(both, bool), np.zeros(neither, bool)]
    return a, b


def test_gain_chart_draws_the_interval_and_greys_a_gain_within_noise():
    paired = paired_difference(*correctness(20, 31, 920, 29))       # +1.1 points, interval contains 0
    fig = gain_chart(paired.as_dict(), seed=3).to_dict()
    (run,) = fig["data"]
    assert run["y"] == ["this run (seed 3), 95 % interval"] and run["x"][0] == pytest.approx(1.1)
    assert run["error_x"]["array"][0] == pytest.approx(100 * (paired.high - paired.difference))
    assert run["error_x"]["arrayminus"][0] == pytest.approx(100 * (paired.difference - paired.low))
    assert paired.within_noise and run["marker"]["color"] == NOISE_COLOR   # no winner's colour
    zero = fig["layout"]["shapes"][0]
    assert (zero["x0"], zero["x1"]) == (0, 0)
    clear = paired_difference(*correctness(10, 40, 900, 50))        # +3.0 points, beyond noise
    assert gain_chart(clear.as_dict()).to_dict()["data"][0]["marker"]["color"] == figures.COLORS["distilled"]


def test_gain_chart_with_a_seed_repeat_on_the_same_axis():
    paired = paired_difference(*correctness(20, 31, 920, 29)).as_dict()
    gains = [0.011, 0.004, 0.009, 0.012, 0.006]
    spread = over_seeds(gains)
    seeds = {"gains": gains, "per_seed": [{"seed": s} for s in range(5)], "mean_gain": spread.mean,
             "std_gain": spread.std, "low": spread.low, "high": spread.high, "words": spread.words()}
    fig = gain_chart(paired, seeds).to_dict()
    each, single, mean = fig["data"]
    assert list(each["x"]) == pytest.approx([1.1, 0.4, 0.9, 1.2, 0.6]) and list(each["customdata"]) == [0, 1, 2, 3, 4]
    assert mean["y"] == ["mean of 5 seeds ± 1 SD"] and mean["x"][0] == pytest.approx(0.84)
    assert mean["error_x"]["array"][0] == pytest.approx(100 * np.std(gains, ddof=1))
    assert mean["marker"]["color"] == figures.COLORS["distilled"]  # t-interval of the mean excludes 0
    assert fig["layout"]["yaxis"]["categoryarray"] == [single["y"][0], "each of 5 seeds", "mean of 5 seeds ± 1 SD"]


@pytest.mark.parametrize("values, ticks", [
    ([0.06, 2.3], [0.05, 0.1, 0.2, 0.5, 1, 2, 5]),   # a few decades: 1-2-5
    ([0.3, 0.45], [0.2, 0.5]),                       # less than a decade: still two labelled ticks
    ([0.2, 0.5], [0.2, 0.5]),                        # exact ends stay the ends
    ([0.0011, 40.0], [0.001, 0.01, 0.1, 1, 10, 50]),  # many decades: powers of ten and the ends
])
def test_log_ticks_by_hand(values, ticks):
    assert figures.log_ticks(values) == pytest.approx(ticks)


def test_training_curves_label_chosen_log_ticks_and_list_the_dotted_lines():
    history = [{"step": s, "loss": 2.0 / s, "train_accuracy": 0.5, "test_accuracy": 0.6 if s == 3 else None}
               for s in (1, 2, 3, 4)]
    fig = figures.training_curves({"hard": history, "distilled": history}, total_steps=10).to_dict()
    loss_axis = fig["layout"]["yaxis"]
    assert loss_axis["type"] == "log" and list(loss_axis["tickvals"]) == pytest.approx([0.5, 1, 2])
    assert loss_axis["ticktext"] == ["0.5", "1", "2"]
    dotted = [t for t in fig["data"] if t.get("line", {}).get("dash") == "dot"]
    assert {t["name"] for t in dotted} == {"hard train accuracy", "distilled train accuracy"}
    assert all(t.get("showlegend", True) for t in dotted)


def test_legends_sit_under_the_chart_not_on_its_title():
    fig = figures.per_class_bars({"labels only": [0.9, 0.8], "distilled": [0.95, 0.9]}, ["a", "b"]).to_dict()
    legend = fig["layout"]["legend"]
    assert (legend["yref"], legend["y"], legend["yanchor"]) == ("container", 0, "bottom")


def test_sweep_heatmap_colour_bar_and_caption():
    temperatures, alphas = [1.0, 4.0], [0.0, 0.9]
    means = {(1.0, 0.0): 0.938, (1.0, 0.9): 0.941, (4.0, 0.0): 0.938, (4.0, 0.9): 0.946}
    result = {"student": "student-mlp", "temperatures": temperatures, "alphas": alphas, "seeds": [0, 1],
              "hard_label_mean": 0.938, "best": {"temperature": 4.0, "alpha": 0.9, "labels_only": False,
                                                  "selection_size": 500, "report_size": 500,
                                                  "report_accuracy": 0.944, "labels_report_accuracy": 0.938,
                                                  "gain_words": "+0.6 points over 2 seeds (95 % CI -0.2 to "
                                                                "+1.4), within noise"},
              "cells": [{"temperature": t, "alpha": a, "mean": m, "spread": 0.002} for (t, a), m in means.items()]}
    fig = figures.sweep_heatmap(result).to_dict()
    # 93.8-94.6 %: whole percents would label every tick "94%"; one decimal tells them apart
    assert fig["data"][0]["colorbar"]["tickformat"] == ".1%"
    assert figures.percent_format([0.5, 0.9]) == ".0%" and figures.percent_format([0.9401, 0.9412]) == ".2%"
    caption = fig["layout"]["annotations"][0]
    assert caption["yanchor"] == "top" and caption["y"] == 0 and caption["yshift"] <= -30  # under the α labels
    assert fig["layout"]["margin"]["b"] >= 60


def test_parameter_axes_label_counts_not_every_minor_tick():
    rows = [{"model": "t", "role": "teacher", "params": 390_634, "test_accuracy": 0.99},
            {"model": "s", "role": "distilled", "params": 38_170, "test_accuracy": 0.95}]
    axis = figures.accuracy_vs_size(rows).to_dict()["layout"]["xaxis"]
    assert list(axis["tickvals"]) == [20_000, 50_000, 100_000, 200_000, 500_000]
    assert axis["ticktext"] == ["20k", "50k", "100k", "200k", "500k"]
