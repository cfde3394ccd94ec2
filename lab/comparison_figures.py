"""Pure plotly builders for a difference and its noise (the Distill and Compare pages).
No Streamlit here: tests read each figure's JSON (`fig.to_dict()`).

    gain_chart(paired, seeds=None)   distilled − labels in points: this run with its 95 % interval over
                                     the test images; with a seed repeat, each seed's gain and the
                                     mean ± spread over seeds, on the same axis
"""
from __future__ import annotations

import plotly.graph_objects as go

from .figures import COLORS, _layout

NOISE_COLOR = "#636E72"  # a difference the data cannot tell from 0 is drawn grey, not in a winner's colour


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
    return _layout(fig, height or (150 + 45 * len(labels)), margin=dict(l=10, r=10, t=50, b=10))
