"""Plotly builders for issue 12: result dicts in, `go.Figure` out (tests read `fig.to_dict()`).

    frontier_chart(frontier_result, cost)        accuracy against params or latency (log x): labels vs
                                                 distilled per rung, the Pareto front, the teacher's line
    blackbox_curves(blackbox_result)             accuracy against teacher queries, one line per setting,
                                                 the labels-only student on as many labeled images
    changed_grid(images, indices, changed, ...)  the test images one student alone gets right, as a grid
    three_soft_targets(probabilities, classes)   teacher, labels student, distilled student on one image
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
import torch

from .experiments.frontier import pareto_front
from .figures import COLORS, _layout, _png_data_uri, log_ticks, mosaic

COST_AXES = {"params": "parameters (log scale)", "latency_ms_b1": "CPU latency, ms per image at batch 1 (log scale)",
             "macs": "multiply-adds per image (log scale)"}
SETTING_COLORS = {"full-logits": COLORS["distilled"], "top-5": "#00B894", "top-2": "#55EFC4", "top-1": "#81ECEC",
                  "answer": COLORS["accent"], "unlabeled": COLORS["teacher"]}


def frontier_chart(result: dict, cost: str = "params", height: int = 420) -> go.Figure:
    """Mean accuracy of every rung on labels and distilled (bars: the spread over seeds), against
    its cost; the distilled Pareto front as a line; the teacher as a dashed reference line."""
    rungs = sorted(result["rungs"], key=lambda r: r[cost])
    teacher = result["teacher"]
    xs = [r[cost] for r in rungs]
    fig = go.Figure()
    for key, name, color in (("hard", "labels only", COLORS["hard"]), ("distilled", "distilled", COLORS["distilled"])):
        fig.add_trace(go.Scatter(
            x=xs, y=[r[f"{key}_mean"] for r in rungs], mode="markers", name=name,
            marker=dict(color=color, size=11, symbol="circle" if key == "distilled" else "diamond"),
            error_y=dict(type="data", array=[r[f"{key}_spread"] / 2 for r in rungs], visible=True),
            text=[r["arch"] for r in rungs],
            customdata=[[teacher["params"] / r["params"], r["recovered" if key == "distilled" else "recovered_labels"]]
                        for r in rungs],
            hovertemplate="%{text}<br>%{x:,.4g}<br>%{y:.2%} (%{customdata[1]:.1%} of the teacher)<br>"
                          "%{customdata[0]:.0f}× fewer parameters<extra>" + name + "</extra>"))
    front = set(pareto_front(result, cost))
    on_front = [r for r in rungs if r["arch"] in front]
    fig.add_trace(go.Scatter(x=[r[cost] for r in on_front], y=[r["distilled_mean"] for r in on_front],
                             mode="lines+text", name="Pareto front (distilled)", text=[r["arch"] for r in on_front],
                             textposition="bottom right", line=dict(color=COLORS["distilled"], width=2, dash="dot"),
                             hoverinfo="skip"))
    fig.add_hline(y=teacher["accuracy"], line_dash="dash", line_color=COLORS["teacher"],
                  annotation_text=f"teacher {teacher['accuracy']:.1%}", annotation_position="bottom left")
    if cost in teacher:
        fig.add_trace(go.Scatter(x=[teacher[cost]], y=[teacher["accuracy"]], mode="markers", name="teacher",
                                 marker=dict(color=COLORS["teacher"], size=14, symbol="star")))
        xs = xs + [teacher[cost]]
    fig.update_xaxes(title=COST_AXES.get(cost, cost), type="log", tickvals=log_ticks(xs))
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    n = len(result.get("seeds", []))
    return _layout(fig, height, title=f"Accuracy against {COST_AXES.get(cost, cost).split(' (')[0]} "
                                      f"(mean of {n} seed{'s' if n != 1 else ''}; bars: spread)")


def blackbox_curves(result: dict, height: int = 420) -> go.Figure:
    """Mean test accuracy against teacher queries (log x) per setting, each seed a faint dot, and the
    labels-only student on the same number of labeled images (dashed); past the training set's size
    the extra queries are augmented copies."""
    budgets = result["budgets"]
    fig = go.Figure()
    series = [(s["name"], result["mean"][s["name"]], result["accuracies"][s["name"]],
               SETTING_COLORS.get(s["name"], COLORS["accent"]), "solid") for s in result["settings"]]
    series.append(("labels only (baseline)", result["baseline"]["mean"], result["baseline"]["accuracies"],
                   COLORS["hard"], "dash"))
    for name, mean, per_seed, color, dash in series:
        if per_seed and len(per_seed[0]) > 1:
            fig.add_trace(go.Scatter(x=[b for b, accs in zip(budgets, per_seed) for _ in accs],
                                     y=[a for accs in per_seed for a in accs], mode="markers", showlegend=False,
                                     marker=dict(color=color, opacity=0.35, size=6), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=budgets, y=mean, mode="lines+markers", name=name,
                                 line=dict(color=color, width=3, dash=dash),
                                 hovertemplate="%{x:,} queries<br>%{y:.2%}<extra>" + name + "</extra>"))
    n = result.get("train_size")
    if n and max(budgets) > n:
        fig.add_vline(x=n, line_dash="dot", line_color=COLORS["reference"])
        fig.add_annotation(x=math.log10(n), y=0, yref="paper", text="whole training set → augmented copies",
                           showarrow=False, xanchor="left", yanchor="bottom", font=dict(size=11))
    fig.update_xaxes(title="teacher queries (images labelled by the teacher; log scale)", type="log",
                     tickvals=log_ticks(budgets))
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    return _layout(fig, height, title="What a query-only teacher teaches, per query budget")


def changed_grid(images: torch.Tensor, indices: list[int], confidences: list[float], columns: int = 10,
                 height: int | None = None) -> go.Figure:
    """The chosen test images in order (most confident first), a grid; hovering shows the image's index."""
    if not indices:
        fig = go.Figure()
        fig.add_annotation(text="no such image", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return _layout(fig, height or 120, showlegend=False)
    chosen = torch.as_tensor(images).cpu()[torch.as_tensor(indices)]
    scale = 2
    picture = mosaic(chosen, min(columns, len(indices)), scale=scale)
    fig = go.Figure(go.Image(source=_png_data_uri(picture), hoverinfo="skip"))
    h, w = chosen.shape[-2:]
    centres = [((2 + (k % columns) * (w + 2) + w / 2) * scale, (2 + (k // columns) * (h + 2) + h / 2) * scale)
               for k in range(len(indices))]
    fig.add_trace(go.Scatter(x=[c[0] for c in centres], y=[c[1] for c in centres], mode="markers",
                             marker=dict(size=(h + 2) * scale, opacity=0), customdata=list(zip(indices, confidences)),
                             hovertemplate="test image %{customdata[0]}<br>confidence %{customdata[1]:.0%}"
                                           "<extra></extra>", showlegend=False))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _layout(fig, height or int(picture.shape[0] + 20), showlegend=False)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
    return fig


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
    return _layout(fig, height, barmode="group", title="Soft targets on this image")
