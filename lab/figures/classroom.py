"""The instructor's class view: every pair's gain, the class's T × α map, the spread of gains.
"""
from __future__ import annotations


import plotly.graph_objects as go

from .style import COLORS, figure, plain, t_alpha_heatmap
from ..serve.classroom import PairPoint


def _points(gains: list[float]) -> list[float]:
    return [100 * g for g in gains]  # accuracy points (0.01 → 1 point)

def pairs_figure(pairs: list[PairPoint], height: int = 380) -> go.Figure:
    """x = T (log), y = gain in points with its paired interval as an error bar, colour = α.
    A dashed line at 0: above it the distilled student beat its hard-label twin."""
    hover = [f"{plain(p.who)}<br>{plain(p.student)} · T={p.temperature:g} · α={p.alpha:g}"
             + ("" if p.method == "kd" else f" · {plain(p.method)}")
             + f"<br>labels {p.hard_accuracy:.1%} → distilled {p.distilled_accuracy:.1%}"
             + (f"<br>gain {100 * p.gain:+.1f} pt [{100 * p.low:+.1f}, {100 * p.high:+.1f}]"
                if p.low is not None else f"<br>gain {100 * p.gain:+.1f} pt (no interval recorded)")
             for p in pairs]
    error = dict(type="data", symmetric=False, color="#888", thickness=1,
                 array=[0 if p.high is None else 100 * (p.high - p.gain) for p in pairs],
                 arrayminus=[0 if p.low is None else 100 * (p.gain - p.low) for p in pairs])
    data = [dict(type="scatter", mode="markers", name="a student pair", x=[p.temperature for p in pairs],
                 y=_points([p.gain for p in pairs]), error_y=error, text=hover, hovertemplate="%{text}<extra></extra>",
                 marker=dict(size=11, color=[p.alpha for p in pairs], cmin=0, cmax=1, colorscale="Viridis",
                             line=dict(width=1, color="white"),
                             colorbar=dict(title="α", tickvals=[0, 0.25, 0.5, 0.75, 1], len=0.8)))]
    return figure(data, height, showlegend=False,
                   title="Each pair: distilled − labels-only (95 % interval)",
                   xaxis=dict(title="temperature T", type="log", tickvals=[0.5, 1, 2, 4, 8, 16],
                              ticktext=["0.5", "1", "2", "4", "8", "16"]),
                   yaxis=dict(title="gain (accuracy points)", zeroline=True, zerolinecolor="#888",
                              zerolinewidth=1, ticksuffix=" pt"),
                   shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0,
                                line=dict(color="#888", dash="dash", width=1))])

def class_sweep_heatmap(cells: list[dict], height: int = 400) -> go.Figure:
    """Rows T, columns α; colour = the cell's mean gain in points (diverging around 0, symmetric so
    a loss and a gain of the same size read the same), text = mean and how many pairs; empty cells blank."""
    by_cell = {(c["temperature"], c["alpha"]): c for c in cells}

    def cell(t, a):
        c = by_cell[(t, a)]
        gain = None if c["mean_gain"] is None else 100 * c["mean_gain"]
        return gain, "" if gain is None else f"{gain:+.1f}<br>n={c['count']}", c["count"]

    n = sum(c["count"] for c in cells)
    filled = sum(c["count"] > 0 for c in cells)
    return t_alpha_heatmap(
        sorted({c["temperature"] for c in cells}), sorted({c["alpha"] for c in cells}), cell, height,
        colorscale="RdBu", zmid=0, min_extent=0.5, gaps=2,
        colorbar=dict(title=dict(text="mean gain"), ticksuffix=" pt", nticks=5),
        hovertemplate="%{y} %{x}<br>mean gain %{z:+.2f} pt over %{customdata} pair(s)<extra></extra>",
        title=f"Class sweep: {n} pair{'s' if n != 1 else ''}, {filled} of {len(cells)} cells",
        xaxis=dict(title="α (weight of the soft targets)", side="bottom"), yaxis=dict(title="temperature T"))

def gain_spread_figure(pairs: list[PairPoint], height: int = 240) -> go.Figure:
    """Every pair's gain as a dot on one line, with the box of the class's quartiles; 0 dashed."""
    gains = _points([p.gain for p in pairs])
    colors = [COLORS["distilled"] if p.beyond_noise and p.gain > 0 else COLORS["hard"] if p.beyond_noise
              else COLORS["reference"] for p in pairs]
    # The box (quartiles) and the dots (one per pair, spread vertically by a fixed jitter so
    # equal gains stay visible; a box's own points cannot take a colour each).
    extent = 1.15 * max([abs(g) for g in gains] + [0.5])
    jitter = [0.3 * (((i * 0.618034) % 1.0) - 0.5) for i in range(len(gains))]
    data = [dict(type="box", x=gains, y=[0.0] * len(gains), orientation="h", name="class", boxpoints=False,
                 line=dict(color="#555"), fillcolor="rgba(0,0,0,0.04)", hoverinfo="skip"),
            dict(type="scatter", mode="markers", name="pairs", x=gains, y=jitter, marker=dict(color=colors, size=9),
                 text=[plain(p.who) for p in pairs], hovertemplate="%{text}: %{x:+.1f} pt<extra></extra>")]
    return figure(data, height, showlegend=False,
                   title="Spread of the class's gains (green/red: beyond that pair's noise; grey: within it)",
                   xaxis=dict(title="gain (accuracy points)", ticksuffix=" pt", zeroline=False,
                              range=[-extent, extent]),  # 0 in the middle: gains right, losses left
                   yaxis=dict(showticklabels=False, range=[-0.5, 0.5]),
                   shapes=[dict(type="line", yref="paper", y0=0, y1=1, x0=0, x1=0,
                                line=dict(color="#888", dash="dash", width=1))])

__all__ = ['pairs_figure', 'class_sweep_heatmap', 'gain_spread_figure']
