"""The instructor's class view (lab.serve.classroom, lab.figures) on a synthetic run history whose
gains, cells and names are worked out by hand below."""
from __future__ import annotations

import io
import math
import sqlite3
import threading

import numpy as np
import pytest
import torch

from lab import figures, stats

from lab.serve import classroom
from lab.serve.jobs import JobQueue
from lab.serve.runs import RunStore


def test_paired_counts_by_hand():
    labels = torch.tensor([0, 1, 2, 3, 4])
    # hard predicts 0 1 0 0 4 -> right on images 0, 1, 4; distilled predicts 0 0 2 3 4 -> right on 0, 2, 3, 4
    hard = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 0, 4]), 5).float()
    distilled = torch.nn.functional.one_hot(torch.tensor([0, 0, 2, 3, 4]), 5).float()
    assert classroom.paired_counts(labels, hard, distilled) == \
        {"n": 5, "both": 2, "hard_only": 1, "distilled_only": 2, "neither": 0}


def test_pair_interval_from_counts_by_hand():
    # 1000 images, 10 only the hard student got right, 30 only the distilled one: d = +0.02. lab.stats'
    # interval is (m/n)(2p − 1) over the Clopper–Pearson interval of p = 30/40: at its lower end
    # P(X ≥ 30) = 0.025, at its upper end P(X ≤ 30) = 0.025, X ~ Binomial(40, p) (summed by hand).
    counts = {"n": 1000, "both": 890, "hard_only": 10, "distilled_only": 30, "neither": 70}
    found = classroom.pair_difference(counts)
    assert (found.only_a, found.only_b, found.difference) == (10, 30, pytest.approx(0.02))
    p_low, p_high = (1 + found.low / 0.04) / 2, (1 + found.high / 0.04) / 2
    tail = lambda p, ks: sum(math.comb(40, k) * p ** k * (1 - p) ** (40 - k) for k in ks)  # noqa: E731
    assert tail(p_low, range(30, 41)) == pytest.approx(0.025) and tail(p_high, range(31)) == pytest.approx(0.025)
    assert found.p_value == pytest.approx(2 * sum(math.comb(40, k) for k in range(11)) / 2 ** 40)
    assert not found.within_noise  # p = 0.0022
    # The same as lab.stats on the per-image arrays in another order (what the Distill page computes).
    rng = torch.Generator().manual_seed(0)
    order = torch.randperm(1000, generator=rng).numpy()
    hard = np.array([True] * 900 + [False] * 100)[order]
    distilled = np.array([True] * 890 + [False] * 10 + [True] * 30 + [False] * 70)[order]
    direct = stats.paired_difference(hard, distilled)
    assert (found.low, found.high, found.p_value) == (direct.low, direct.high, direct.p_value)
    # Students that agree on every image: no noise at all, the interval is the point 0.
    same = classroom.pair_difference({"n": 50, "both": 40, "hard_only": 0, "distilled_only": 0, "neither": 10})
    assert (same.low, same.high) == (0.0, 0.0)


def test_display_names_are_chosen_or_anonymous():
    assert classroom.clean_display_name("  Ada\n  Lovelace\x07 ") == "Ada Lovelace"
    assert classroom.clean_display_name("   ") is None and classroom.clean_display_name(None) is None
    assert len(classroom.clean_display_name("x" * 200)) == classroom.MAX_NAME


def _pair(store, session, T, alpha, hard_acc, distilled_acc, *, name=None, method="kd", counts=None,
          distilled_status="finished", group=None):
    config = {"T": T, "alpha": alpha, "method": method, "epochs": 12, "student": "student-mlp"}
    if name:
        config["display_name"] = name
    group = group or f"{session}-{T}-{alpha}-{method}"
    ids = []
    for kind, acc, status in (("hard", hard_acc, "finished"), ("distilled", distilled_acc, distilled_status)):
        run_id = store.start_run(kind, {**config, "role": kind}, dataset="mnist-sample", arch="student-mlp",
                                 group_id=group, session=session, owner=session)
        metrics = {"test_accuracy": acc, **({"paired": counts} if kind == "distilled" and counts else {})}
        store.finish_run(run_id, status, metrics=metrics, curves=[{"step": 1, "loss": 1.0}])
        ids.append(run_id)
    return ids


@pytest.fixture
def history(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    # A pair from yesterday: outside "today".
    old = _pair(store, "s-old", 4.0, 0.9, 0.5, 0.9)
    with sqlite3.connect(store.path) as conn:
        conn.execute(f"UPDATE runs SET started_at = started_at - 2 * 86400 WHERE id IN ({old[0]}, {old[1]})")
    store.finish_run(store.start_run("teacher", {}, session="s-ada"), "finished", metrics={"test_accuracy": 0.99})
    # Ada: T=4, α=0.9, 90 % -> 92 %: +2 points, with counts (n 1000, 10 vs 30 images right alone).
    _pair(store, "s-ada", 4.0, 0.9, 0.90, 0.92, name="Ada",
          counts={"n": 1000, "both": 890, "hard_only": 10, "distilled_only": 30, "neither": 70})
    # An anonymous student: T=3.5, α=0.85 (nearest cell T=4, α=0.9), +1 point, no counts recorded;
    # then T=1, α=0.5: 93 % -> 92 %, -1 point; then a stopped pair (left out) and a hint pair (no grid cell).
    _pair(store, "s-anon", 3.5, 0.85, 0.90, 0.91)
    _pair(store, "s-anon", 1.0, 0.5, 0.93, 0.92)
    _pair(store, "s-anon", 8.0, 0.5, 0.90, 0.99, distilled_status="stopped")
    _pair(store, "s-anon", 4.0, 0.9, 0.90, 0.80, method="hint")
    return store


def _today(store):
    return store.list_runs(kinds=classroom.PAIR_KINDS, status="finished", since=classroom.start_of_today(),
                           curves=False)


def test_today_query_filters_kinds_day_and_skips_curves(history):
    runs = _today(history)
    assert {r.kind for r in runs} == {"hard", "distilled"} and all(r.session != "s-old" for r in runs)
    assert len(runs) == 2 * 4 + 1  # four finished pairs, plus the hard half of the stopped one
    assert all(r.curves == [] for r in runs)
    assert history.list_runs(ids=[runs[0].id])[0].curves == [{"step": 1, "loss": 1.0}]


def test_class_pairs_grid_and_spread_by_hand(history):
    pairs = classroom.class_pairs(_today(history))
    assert [(p.who, p.temperature, p.alpha, p.method) for p in pairs] == [
        ("Ada", 4.0, 0.9, "kd"), ("anonymous 1", 3.5, 0.85, "kd"), ("anonymous 1", 1.0, 0.5, "kd"),
        ("anonymous 1", 4.0, 0.9, "hint")]
    assert [p.gain for p in pairs] == pytest.approx([0.02, 0.01, -0.01, -0.10])
    ada = pairs[0]  # her counts: the interval worked out in test_pair_interval_from_counts_by_hand
    found = classroom.pair_difference({"n": 1000, "both": 890, "hard_only": 10, "distilled_only": 30, "neither": 70})
    assert (ada.low, ada.high) == (found.low, found.high) and 0.007 < ada.low < ada.high < 0.030
    assert ada.beyond_noise and pairs[1].low is None and not pairs[1].beyond_noise
    assert [p.student_key for p in pairs] == ["s-ada", "s-anon", "s-anon", "s-anon"]

    cells = {(c["temperature"], c["alpha"]): c for c in classroom.class_grid(pairs)}
    assert len(cells) == len(classroom.GRID_T) * len(classroom.GRID_ALPHA)
    assert cells[(4.0, 0.9)]["count"] == 2 and cells[(4.0, 0.9)]["mean_gain"] == pytest.approx(0.015)
    assert cells[(1.0, 0.5)]["count"] == 1 and cells[(1.0, 0.5)]["mean_gain"] == pytest.approx(-0.01)
    assert sum(c["count"] for c in cells.values()) == 3  # the hint pair has no (T, α) cell
    assert all(c["mean_gain"] is None for k, c in cells.items() if k not in ((4.0, 0.9), (1.0, 0.5)))
    assert (8.0, 0.5) in classroom.empty_cells(list(cells.values()))

    spread = classroom.gain_spread(pairs)
    assert spread["n"] == 4 and spread["mean"] == pytest.approx(-0.02)
    assert spread["median"] == pytest.approx(0.0)  # of -0.10, -0.01, 0.01, 0.02
    assert (spread["better"], spread["worse"], spread["within_noise"], spread["no_interval"]) == (1, 0, 0, 3)
    assert classroom.gain_spread([]) == {"n": 0}


def test_queue_rows_from_a_real_queue():
    queue = JobQueue(limit=1)
    release = threading.Event()
    first = queue.submit(lambda stop: release.wait(10), label="T=4 α=0.9", owner="s-ada")
    waiting = queue.submit(lambda stop: None, label="T=2 α=0.5", owner="s-new")
    try:
        rows = classroom.queue_rows(queue.snapshot(), {"s-ada": "Ada"})
        assert rows == [{"who": "Ada", "what": "T=4 α=0.9", "state": "training", "position": 0},
                        {"who": "a new student", "what": "T=2 α=0.5", "state": "waiting", "position": 1}]
    finally:
        release.set()
        first.wait(10), waiting.wait(10)


def test_figures_show_the_cells_and_intervals(history):
    pairs = classroom.class_pairs(_today(history))
    heat = figures.class_sweep_heatmap(classroom.class_grid(pairs)).to_dict()["data"][0]
    row, col = classroom.GRID_T.index(4.0), classroom.GRID_ALPHA.index(0.9)
    assert heat["z"][row][col] == pytest.approx(1.5) and heat["text"][row][col] == "+1.5<br>n=2"
    assert heat["z"][0][0] is None and heat["text"][0][0] == ""
    assert heat["zmin"] == -heat["zmax"]  # symmetric around 0: a loss reads as large as a gain

    scatter = figures.pairs_figure(pairs).to_dict()["data"][0]
    assert list(scatter["y"]) == pytest.approx([2.0, 1.0, -1.0, -10.0])
    assert scatter["error_y"]["array"][0] == pytest.approx(100 * (pairs[0].high - pairs[0].gain))
    assert scatter["error_y"]["array"][1] == 0  # no counts: no bar (and the hover says so)
    assert "no interval" in scatter["text"][1]

    strip = figures.gain_spread_figure(pairs).to_dict()["data"][1]
    assert list(strip["x"]) == pytest.approx([2.0, 1.0, -1.0, -10.0])


HOSTILE_NAMES = ["![](http://x)", "<script>alert(1)</script>", "**bold**", "x" * 10_000, "\u202eevil\u202c name",
                 "<a href='http://x'>me</a> & co", "<b>Ada</b><br>"]


def _texts(figure) -> list[str]:
    """Every string a plotly figure shows as (pseudo-)HTML: traces' text, hovertext, names, templates."""
    found = []
    for trace in figure.to_dict()["data"]:
        for key in ("text", "hovertext", "name", "hovertemplate"):
            value = trace.get(key)
            found += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v is not None]
    return found


def test_hostile_names_stay_text_in_the_class_figures(tmp_path):
    """Plotly renders a subset of HTML in text and hover labels: a name is shown as typed (its `<`, `>`
    and `&` as entities), never as markup; the cleaner drops control and direction marks and cuts it short."""
    store = RunStore(tmp_path / "runs.sqlite3")
    for i, name in enumerate(HOSTILE_NAMES):
        _pair(store, f"s-{i}", 4.0, 0.9, 0.90, 0.92, name=name)
    pairs = classroom.class_pairs(_today(store))
    who = {p.who for p in pairs}
    assert "\u202eevil\u202c name" not in who and "evil name" in who  # direction marks are gone
    assert "x" * classroom.MAX_NAME in who and max(len(w) for w in who) <= classroom.MAX_NAME
    for figure in (figures.pairs_figure(pairs), figures.gain_spread_figure(pairs)):
        shown = "\n".join(_texts(figure))
        assert "<script" not in shown and "<a " not in shown and "<b>Ada" not in shown
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "&amp; co" in shown
        assert "![](http://x)" in shown  # Markdown means nothing to plotly: kept as typed
    # What the entities stand for is exactly the name: unescaping gives it back.
    import html
    hover = figures.pairs_figure(pairs).to_dict()["data"][0]["text"]
    assert {html.unescape(h.split("<br>")[0]) for h in hover} == who


def test_qr_code_decodes_to_the_link():
    zxingcpp = pytest.importorskip("zxingcpp")  # an independent decoder (test-only dependency)
    from PIL import Image
    url = "http://192.168.1.20:8501/?lesson=dark-knowledge&data=mnist-sample&T=4"
    image = Image.open(io.BytesIO(classroom.qr_png(url)))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [url]
