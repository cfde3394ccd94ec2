"""The look every chart shares: role colours, fonts, the base layout, axis ticks, image helpers.

Every builder in lab.figures starts from `figure(data, height, **layout)` (one validation pass) or
`styled(fig, height)`; colours come from COLORS so a student keeps its colour from chart to chart.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
import torch



# One colour per role, used on every page so a student keeps its colour from chart to chart.
COLORS = {"teacher": "#6C5CE7", "hard": "#E17055", "distilled": "#00A884", "reference": "#B2BEC3",
          "accent": "#0984E3"}

FONT = dict(family="Inter, 'Source Sans Pro', sans-serif", size=13)

LEGEND_BELOW = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")

NOISE_COLOR = "#636E72"  # a difference the data cannot tell from 0 is drawn grey, not in a winner's colour

def base_layout(height: int) -> dict:
    # No explicit template: st.plotly_chart draws with Streamlit's theme anyway, and naming one
    # ("plotly_white") costs ~10-15 ms of validation per figure — most of a T-slider rerun.
    # The legend goes under the chart, anchored to the figure's bottom edge ("container"): plotly
    # then shrinks the plot to make room. Above the plot it sat on top of the title once it wrapped.
    return dict(height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT, legend=LEGEND_BELOW)

def styled(fig: go.Figure, height: int = 360, **kwargs) -> go.Figure:
    fig.update_layout(**{**base_layout(height), **kwargs})
    return fig

def figure(data: list[dict], height: int = 360, **layout) -> go.Figure:
    """One go.Figure built from plain dicts in a single validation pass: several times faster than
    add_trace/update_layout, which matters for charts redrawn on every slider move."""
    return go.Figure(dict(data=data, layout={**base_layout(height), **layout}))

def t_alpha_heatmap(temperatures, alphas, cell, height: int, *, hovertemplate: str, colorscale: str, zmid: float,
                    colorbar: dict, min_extent: float | None = None, gaps: int = 0, name: str | None = None,
                    **layout) -> go.Figure:
    """The one T × α grid (the sweep's, the class's): rows T from the top, columns α, and for each
    cell `cell(t, a) -> (value, text, hover data)`; a None value leaves the cell blank. Colours
    diverge around `zmid`; with `min_extent` the scale is symmetric about it (a loss reads as large
    as a gain), reaching at least that far. `layout` adds to the figure's (title, shapes, ...)."""
    grid = [[cell(t, a) for a in alphas] for t in temperatures]
    z = [[value for value, _, _ in row] for row in grid]
    heat = dict(type="heatmap", z=z, x=[f"α={a:g}" for a in alphas], y=[f"T={t:g}" for t in temperatures],
                text=[[text for _, text, _ in row] for row in grid], texttemplate="%{text}",
                customdata=[[data for _, _, data in row] for row in grid], hovertemplate=hovertemplate,
                hoverongaps=False, colorscale=colorscale, zmid=zmid, colorbar=colorbar)
    if min_extent is not None:
        extent = max([abs(v - zmid) for row in z for v in row if v is not None] + [min_extent])
        heat.update(zmin=zmid - extent, zmax=zmid + extent)
    if gaps:
        heat.update(xgap=gaps, ygap=gaps)
    if name is not None:
        heat["name"] = name
    yaxis = {"autorange": "reversed", **layout.pop("yaxis", {})}
    return figure([heat], height, yaxis=yaxis, **layout)

def plain(text) -> str:
    """Text someone typed (a student's name, a run's label), made inert for plotly: its hover and
    text labels render a subset of HTML (<br>, <b>, <a href>...), so `&`, `<` and `>` become entities
    (plotly shows them as the characters). Builders pass every such string through this."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def run_color(name: str) -> str:
    for role in ("distilled", "hard", "teacher"):
        if role in name:
            return COLORS[role]
    return COLORS["accent"]

def count_ticks(counts) -> dict:
    """tickvals/ticktext for a log axis of counts (parameters): 1-2-5 ticks written 20k, 100k, 1M."""
    def short(v: float) -> str:
        for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if v >= size:
                return f"{v / size:g}{unit}"
        return f"{v:g}"
    ticks = log_ticks([c for c in counts if c > 0] or [1])
    return dict(tickvals=ticks, ticktext=[short(t) for t in ticks])

def log_ticks(values) -> list[float]:
    """Ticks for a log axis: the 1-2-5 values from the one just below the data to the one just
    above (at least two labelled ticks, the range snapped to them); only powers of ten (plus the
    two ends) once that makes more than 7. Plotly's own labels every minor tick (2, 3, … 9) when
    the range spans about a decade."""
    lo, hi = min(values), max(values)
    candidates = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
                  for m in (1, 2, 5)]
    below = max(c for c in candidates if c <= lo * (1 + 1e-9))
    above = min(c for c in candidates if c >= hi * (1 - 1e-9))
    if above == below:
        above = min(c for c in candidates if c > below)
    ticks = [c for c in candidates if below <= c <= above]
    if len(ticks) > 7:
        ticks = [below] + [c for c in ticks if below < c < above and math.isclose(10 ** round(math.log10(c)), c)] + [above]
    return [float(f"{t:.12g}") for t in ticks]

def percent_format(values) -> str:
    """A d3 percent format with enough decimals that ticks over this range differ: over 93.5-94.5 %
    ".0%" labels the ticks 94 %, 94 %, 94 %…"""
    values = [v for v in values if v is not None]
    span = (max(values) - min(values)) if values else 1.0
    return ".0%" if span >= 0.05 else (".1%" if span >= 0.005 else ".2%")

def png_data_uri(array: np.ndarray) -> str:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

def mosaic(images: torch.Tensor, columns: int, pad: int = 2, scale: int = 1) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 (rows·(H+pad), columns·(W+pad), 3) picture, row-major."""
    images = torch.as_tensor(images)
    n, c, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, dtype=np.uint8)
    pixels = images.expand(n, 3, h, w) if c == 1 else images
    pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
    if c == 1:
        pixels = 255 - pixels  # dark digits on white paper read better on a projector
    for i in range(n):
        r, col = divmod(i, columns)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = pixels[i]
    if scale > 1:
        canvas = canvas.repeat(scale, 0).repeat(scale, 1)
    return canvas

__all__ = ['COLORS', 'FONT', 'LEGEND_BELOW', 'NOISE_COLOR', 'base_layout', 'styled', 'figure', 't_alpha_heatmap', 'plain', 'run_color', 'count_ticks', 'log_ticks', 'percent_format', 'png_data_uri', 'mosaic']
