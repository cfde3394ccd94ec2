"""What the teacher's soft targets look like: bars at T, entropy over T, class similarity.
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
import torch

from ..losses import soft_targets
from .style import COLORS, figure, log_ticks, styled


def soft_target_bars(logits: torch.Tensor, classes, temperature: float, log_scale: bool = False,
                     title: str | None = None, height: int = 320) -> go.Figure:
    """Bars of softmax(z/T) for one image, with the ordinary softmax (T = 1) as a grey reference."""
    logits = torch.as_tensor(logits).float().reshape(-1)
    names = [str(c) for c in classes]
    data = [] if temperature == 1 else [dict(type="bar", x=names, y=soft_targets(logits, 1.0).tolist(),
                                             name="T = 1 (ordinary softmax)", marker=dict(color=COLORS["reference"]))]
    data.append(dict(type="bar", x=names, y=soft_targets(logits, temperature).tolist(), name=f"T = {temperature:g}",
                     marker=dict(color=COLORS["teacher"])))
    return figure(data, height, barmode="group", title=title or f"Soft targets at T = {temperature:g}",
                   xaxis=dict(title="class", type="category"),
                   yaxis=dict(title="probability", type="log" if log_scale else "linear",
                              range=None if log_scale else [0, 1.02]))

def logit_bars(logits: torch.Tensor, classes, height: int = 260) -> go.Figure:
    """The raw logits z (what the softmax turns into probabilities)."""
    logits = torch.as_tensor(logits).float().reshape(-1)
    fig = go.Figure(go.Bar(x=[str(c) for c in classes], y=logits.tolist(), name="logit z",
                           marker_color=[COLORS["teacher"] if v == logits.max() else COLORS["reference"]
                                         for v in logits.tolist()]))
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="logit z")
    return styled(fig, height, title="The teacher's logits z", showlegend=False)

def temperature_sweep_figure(sweep: dict, temperature: float | None = None, height: int = 320,
                             title: str = "Softening with temperature") -> go.Figure:
    """Entropy (bits, left axis) and probability off the top class (right axis) against T.

    Built as one dict (no make_subplots / add_vline): this chart is redrawn on every T-slider
    move, and plotly's helpers cost tens of milliseconds each."""
    temps, top = sweep["temperature"], sweep["max_entropy_bits"]
    data = [dict(type="scatter", x=temps, y=sweep["entropy_bits"], name="entropy (bits)", yaxis="y",
                 line=dict(color=COLORS["teacher"], width=3)),
            dict(type="scatter", x=temps, y=sweep["off_top_mass"], name="probability off the top class", yaxis="y2",
                 line=dict(color=COLORS["distilled"], width=3, dash="dot"))]
    shapes = [dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=top, y1=top,
                   line=dict(color=COLORS["reference"], dash="dash"))]
    annotations = [dict(xref="paper", x=0, yref="y", y=top, text="uniform", showarrow=False,
                        xanchor="left", yanchor="bottom")]
    if temperature is not None:
        shapes.append(dict(type="line", x0=temperature, x1=temperature, yref="paper", y0=0, y1=1,
                           line=dict(color="#2D3436", width=1.5)))
        annotations.append(dict(x=float(np.log10(temperature)), yref="paper", y=0, text=f"T = {temperature:g}",
                                showarrow=False, xanchor="left", yanchor="bottom"))
    # Labelled 1-2-5 ticks (0.5, 1, 2, 5, 10, 20, 50): over two decades plotly labels every minor tick
    # (2, 3, … 9) in a small font, and in half a page's width they ran into each other.
    ticks = [t for t in log_ticks(temps) if min(temps) * (1 - 1e-9) <= t <= max(temps) * (1 + 1e-9)]
    layout = dict(
        xaxis=dict(title=dict(text="temperature T"), type="log", range=[np.log10(min(temps)), np.log10(max(temps))],
                   tickvals=ticks, ticktext=[f"{t:g}" for t in ticks]),
        yaxis=dict(title=dict(text="entropy (bits)"), range=[0, top * 1.05]),
        yaxis2=dict(title=dict(text="off the top class"), overlaying="y", side="right", range=[0, 1.05],
                    showgrid=False, tickformat=".0%"),
        shapes=shapes, annotations=annotations)
    return figure(data, height, title=title, **layout)

def similarity_heatmap(similarity: torch.Tensor, classes, temperature: float, hide_diagonal: bool = True,
                       height: int = 440) -> go.Figure:
    """Mean soft targets per true class (rows) at T. With the diagonal hidden, the colour scale
    shows only the off-diagonal mass: which classes the teacher thinks look alike."""
    z = torch.as_tensor(similarity).float().tolist()
    if hide_diagonal:  # None (JSON null), not NaN: browsers' JSON.parse rejects NaN
        for i in range(len(z)):
            z[i][i] = None
    names = [str(c) for c in classes]
    heatmap = dict(type="heatmap", z=z, x=names, y=names, colorscale="Purples", hoverongaps=False,
                   colorbar=dict(title="mean p"), hovertemplate="true %{y} → %{x}: %{z:.4f}<extra></extra>")
    return figure([heatmap], height, title=f"What the teacher thinks looks alike (T = {temperature:g})",
                   xaxis=dict(title="soft target for class", type="category", side="bottom"),
                   yaxis=dict(title="true class", type="category", autorange="reversed"))

def off_top_by_class(similarity: torch.Tensor, classes, temperature: float, height: int = 300) -> go.Figure:
    """Per true class: how much of the mean soft target sits off the class itself."""
    matrix = torch.as_tensor(similarity).float()
    off = (1 - matrix.diag()).tolist()
    bars = dict(type="bar", x=[str(c) for c in classes], y=off, marker=dict(color=COLORS["distilled"]))
    return figure([bars], height, title=f"Dark knowledge per class (T = {temperature:g})", showlegend=False,
                   xaxis=dict(type="category", title="true class"),
                   yaxis=dict(title="mass off the true class", rangemode="tozero"))

def three_soft_targets(probabilities: dict[str, list[float]], classes, true_class: int | None = None,
                       height: int = 300) -> go.Figure:
    """Grouped bars: each model's probabilities (T = 1) on one image; the true class marked."""
    names = {"teacher": ("teacher", COLORS["teacher"]), "labels": ("student on labels", COLORS["hard"]),
             "distilled": ("distilled student", COLORS["distilled"])}
    x = [str(c) for c in classes]
    fig = go.Figure([go.Bar(x=x, y=p, name=names.get(m, (m, COLORS["accent"]))[0],
                            marker_color=names.get(m, (m, COLORS["accent"]))[1],
                            hovertemplate="%{x}: %{y:.1%}<extra>" + names.get(m, (m,))[0] + "</extra>")
                     for m, p in probabilities.items()])
    if true_class is not None:
        fig.add_vrect(x0=true_class - 0.5, x1=true_class + 0.5, fillcolor="#FDCB6E", opacity=0.3, line_width=0,
                      layer="below", annotation_text="true class", annotation_position="top")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title="probability")
    fig.update_xaxes(type="category")
    return styled(fig, height, barmode="group", title="Soft targets on this image")

__all__ = ['soft_target_bars', 'logit_bars', 'temperature_sweep_figure', 'similarity_heatmap', 'off_top_by_class', 'three_soft_targets']
