"""A difference and its noise: the gain chart, confusion matrices, accuracy against size.
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import COLORS, NOISE_COLOR, count_ticks, plain, styled


def _color(low: float | None, high: float | None, value: float) -> str:
    if low is None or low <= 0 <= high:
        return NOISE_COLOR
    return COLORS["distilled"] if value > 0 else COLORS["hard"]

def gain_chart(paired: dict, seeds: dict | None = None, seed: int | None = None, height: int | None = None) -> go.Figure:
    """`paired`: lab.stats.PairedDifference.as_dict() of labels (A) vs distilled (B) for this run.
    `seeds`: a lab.experiments.seeds result (per_seed, gains, mean_gain, std_gain, low, high) or None.
    Everything in points (100 × accuracy difference)."""
    rows = []  # (label, value, minus, plus, colour, hover)
    d, lo, hi = 100 * paired["difference"], 100 * paired["low"], 100 * paired["high"]
    this = "this run" + (f" (seed {seed})" if seed is not None else "") + ", 95 % interval"
    rows.append((this, d, d - lo, hi - d, _color(lo, hi, d),
                 f"{paired['words']}<br>{paired['only_b']} images only the distilled student gets right, "
                 f"{paired['only_a']} only the labels student; McNemar p = {paired['p_value']:.3g}"))
    data = []
    if seeds is not None:
        k = len(seeds["gains"])
        per_seed = [100 * g for g in seeds["gains"]]
        data.append(dict(type="scatter", x=per_seed, y=[f"each of {k} seeds"] * k, mode="markers",
                         name="each seed", marker=dict(size=10, color=COLORS["reference"], line=dict(color="white", width=1)),
                         customdata=[r["seed"] for r in seeds["per_seed"]],
                         hovertemplate="seed %{customdata}: %{x:+.1f} points<extra></extra>"))
        mean = 100 * seeds["mean_gain"]
        spread = 100 * (seeds["std_gain"] or 0.0)
        low = None if seeds.get("low") is None else 100 * seeds["low"]
        high = None if seeds.get("high") is None else 100 * seeds["high"]
        rows.append((f"mean of {k} seeds ± 1 SD", mean, spread, spread, _color(low, high, mean), seeds["words"]))
    for label, value, minus, plus, color, hover in rows:
        data.append(dict(type="scatter", x=[value], y=[label], mode="markers", name=label,
                         marker=dict(size=14, color=color, symbol="diamond"),
                         error_x=dict(type="data", symmetric=False, array=[plus], arrayminus=[minus], color=color,
                                      thickness=3, width=8),
                         hovertext=[hover], hovertemplate="%{hovertext}<extra></extra>"))
    reach = max([abs(v) + max(m, p) for _, v, m, p, _, _ in rows] + [abs(x) for t in data for x in t["x"]] + [0.5])
    labels = [r[0] for r in rows[:1]] + ([f"each of {len(seeds['gains'])} seeds"] if seeds else []) + \
        [r[0] for r in rows[1:]]
    layout = dict(
        title=dict(text="Gain of the distilled student over the same student on labels (grey: within noise)"),
        showlegend=False,
        xaxis=dict(title=dict(text="distilled − labels (points of test accuracy)"), range=[-1.15 * reach, 1.15 * reach],
                   zeroline=False),
        yaxis=dict(type="category", categoryorder="array", categoryarray=labels, autorange="reversed"),
        shapes=[dict(type="line", x0=0, x1=0, yref="paper", y0=0, y1=1, line=dict(color="#2D3436", width=1.5, dash="dash"))],
        annotations=[dict(x=0, yref="paper", y=1, text="no difference", showarrow=False, xanchor="left", yanchor="bottom",
                          font=dict(size=11))])
    fig = go.Figure(dict(data=data, layout=layout))
    return styled(fig, height or (150 + 45 * len(labels)), margin=dict(l=10, r=10, t=50, b=10))

def confusion_matrices(named: list[tuple[str, list[list[int]]]], classes, height: int = 360) -> go.Figure:
    """Confusion matrices side by side (rows: true class, columns: predicted), one colour scale."""
    named = list(named)
    names = [str(c) for c in classes]
    fig = make_subplots(rows=1, cols=max(len(named), 1), subplot_titles=[n for n, _ in named],
                        horizontal_spacing=0.04)
    zmax = max((max(max(r) for r in cm) for _, cm in named), default=1)
    for i, (name, cm) in enumerate(named, start=1):
        text = [[str(v) if v else "" for v in row] for row in cm]
        fig.add_trace(go.Heatmap(z=cm, x=names, y=names, colorscale="Blues", zmin=0, zmax=zmax, showscale=False,
                                 text=text, texttemplate="%{text}", textfont=dict(size=9), name=name,
                                 hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"), row=1, col=i)
        fig.update_xaxes(type="category", title="predicted", row=1, col=i)
        fig.update_yaxes(type="category", autorange="reversed", showticklabels=i == 1, row=1, col=i)
    fig.update_yaxes(title="true class", row=1, col=1)
    return styled(fig, height, showlegend=False)

def accuracy_vs_size(rows: list[dict], height: int = 380) -> go.Figure:
    """Test accuracy against parameter count (log x); rows: {"model", "role", "params", "test_accuracy", ...}."""
    fig = go.Figure()
    for role in ("teacher", "hard", "distilled"):
        chosen = [r for r in rows if r["role"] == role and r.get("test_accuracy") is not None]
        if not chosen:
            continue
        fig.add_scatter(x=[r["params"] for r in chosen], y=[r["test_accuracy"] for r in chosen], mode="markers+text",
                        name={"teacher": "teacher", "hard": "student (labels)", "distilled": "student (distilled)"}[role],
                        text=[plain(r["model"]) for r in chosen], textposition="middle right", cliponaxis=False,
                        hovertemplate="%{text}<br>%{x:,} parameters<br>%{y:.2%}<extra></extra>",
                        marker=dict(size=[10 + 4 * np.log10(max(r["params"], 10)) for r in chosen],
                                    color=COLORS[role], line=dict(color="white", width=1)))
    params = [r["params"] for r in rows if r.get("params")] or [1]
    fig.update_xaxes(type="log", title="parameters (log scale)",
                     range=[np.log10(min(params)) - 0.3, np.log10(max(params)) + 0.6], **count_ticks(params))
    fig.update_yaxes(title="test accuracy", tickformat=".1%")
    return styled(fig, height, title="Accuracy against size")

ROLE_NAMES = {"teacher": "teacher", "hard": "student (labels)", "distilled": "student (distilled)"}

def history_scatter(rows: list[dict], height: int = 400) -> go.Figure:
    """Accuracy against parameters (log x) for recorded runs, one trace per kind of run.

    rows: lab.serve.runs.Run.summary() dicts ({"id", "kind", "status", "arch", "params", "test_accuracy", ...});
    runs without both numbers (stopped early, failed) are left out."""
    rows = [r for r in rows if r.get("test_accuracy") is not None and r.get("params")]
    fig = go.Figure()
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    for kind in sorted(kinds, key=lambda k: (k not in ROLE_NAMES, list(ROLE_NAMES).index(k) if k in ROLE_NAMES else 0, k)):
        chosen = [r for r in rows if r["kind"] == kind]
        fig.add_scatter(x=[r["params"] for r in chosen], y=[r["test_accuracy"] for r in chosen], mode="markers",
                        name=ROLE_NAMES.get(kind, kind), customdata=[[r["id"], plain(r.get("arch") or "?"), plain(r["status"])]
                                                                     for r in chosen],
                        hovertemplate="run %{customdata[0]}: %{customdata[1]} (%{customdata[2]})<br>"
                                      "%{x:,} parameters<br>%{y:.2%}<extra></extra>",
                        marker=dict(size=11, color=COLORS.get(kind, COLORS["accent"]), opacity=0.8,
                                    line=dict(color="white", width=1)))
    params = [r["params"] for r in rows] or [1]
    fig.update_xaxes(type="log", title="parameters (log scale)",
                     range=[np.log10(min(params)) - 0.3, np.log10(max(params)) + 0.3], **count_ticks(params))
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    styled(fig, height, title=f"Accuracy against size across {len(rows)} recorded run{'s' if len(rows) != 1 else ''}")
    return fig

__all__ = ['gain_chart', 'confusion_matrices', 'accuracy_vs_size', 'ROLE_NAMES', 'history_scatter']
