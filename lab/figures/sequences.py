"""The sequence part's picture: forward vs reverse KL, one bump fitting two (lab.seq.modes).
"""
from __future__ import annotations

import plotly.graph_objects as go

from .style import COLORS, figure

# β = 0 is forward KL, β = 1 reverse KL (lab.seq.losses.gkd_divergence); anything between, the accent
_FIT_COLORS = {0.0: COLORS["hard"], 1.0: COLORS["distilled"]}


def fit_name(beta: float) -> str:
    if beta == 0:
        return "β = 0: forward KL (covers both modes)"
    if beta == 1:
        return "β = 1: reverse KL (picks one mode)"
    return f"β = {beta:g} (between: generalized JSD)"


def modes_chart(fits: list[dict], height: int = 340) -> go.Figure:
    """`fits`: lab.seq.modes.fit_one_mode results on the same two-mode teacher, one line each; the
    teacher's distribution as bars."""
    x = fits[0]["x"]
    data = [dict(type="bar", x=x, y=fits[0]["teacher"], name="teacher (two modes)", marker_color=COLORS["teacher"],
                 opacity=0.35, hovertemplate="x = %{x:.2f}: %{y:.3f}<extra>teacher</extra>")]
    for fit in fits:
        beta = float(fit["beta"])
        data.append(dict(type="scatter", x=x, y=fit["student"], mode="lines", name=fit_name(beta),
                         line=dict(color=_FIT_COLORS.get(beta, COLORS["accent"]), width=3,
                                   dash="solid" if beta in _FIT_COLORS else "dash"),
                         hovertemplate=f"x = %{{x:.2f}}: %{{y:.3f}}<extra>β = {beta:g}</extra>"))
    return figure(data, height, title=dict(text="A one-mode student fits a two-mode teacher"), bargap=0.05,
                  xaxis=dict(title="output"), yaxis=dict(title="probability"))


__all__ = ["fit_name", "modes_chart"]
