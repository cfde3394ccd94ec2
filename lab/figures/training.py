"""Training curves: loss and accuracy per step, one line per run.
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import styled, run_color, log_ticks


def training_curves(runs: dict[str, list[dict]], total_steps: int | None = None, height: int = 340) -> go.Figure:
    """Loss (left) and accuracy (right) against optimizer steps; one colour per run.

    `runs` maps a run's name to its history rows: {"step", "loss", "train_accuracy", "test_accuracy"?}.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "accuracy"), horizontal_spacing=0.08)
    for name, rows in runs.items():
        if not rows:
            continue
        color = run_color(name)
        steps = [r["step"] for r in rows]
        fig.add_scatter(x=steps, y=[r["loss"] for r in rows], name=f"{name} loss", mode="lines",
                        line=dict(color=color, width=2.5), legendgroup=name, row=1, col=1)
        fig.add_scatter(x=steps, y=[r["train_accuracy"] for r in rows], name=f"{name} train accuracy",
                        mode="lines", line=dict(color=color, width=1.5, dash="dot"), legendgroup=name,
                        row=1, col=2)
        tested = [r for r in rows if r.get("test_accuracy") is not None]
        fig.add_scatter(x=[r["step"] for r in tested], y=[r["test_accuracy"] for r in tested],
                        name=f"{name} test accuracy", mode="lines+markers", marker=dict(size=8),
                        line=dict(color=color, width=2.5), legendgroup=name, row=1, col=2)
    fig.update_xaxes(title="step", range=[0, total_steps] if total_steps else None)
    losses = [r["loss"] for rows in runs.values() for r in rows if r["loss"] is not None and r["loss"] > 0]
    ticks = log_ticks(losses) if losses else None
    fig.update_yaxes(type="log", row=1, col=1, **({} if ticks is None else dict(
        tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], range=[np.log10(ticks[0]), np.log10(ticks[-1])])))
    fig.update_yaxes(range=[0, 1.01], tickformat=".0%", row=1, col=2)
    styled(fig, height)
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
    return fig

__all__ = ['training_curves']
