"""Pure plotly builders: numbers in, `go.Figure` out. No Streamlit here, so tests can call
every builder and read the figure's JSON (`fig.to_dict()`) to check what a chart shows.

    soft_target_bars(logits, classes, T)       the teacher's softmax at T=1 and at T
    temperature_sweep_figure(sweep, T)         entropy / off-top mass as T grows
    training_curves({name: history})           loss and accuracy per step, one line per run
    image_grid(images, labels, classes)        a class-by-class mosaic of samples
    class_balance(dataset)                     images per class, train and test
    similarity_heatmap(matrix, classes, T)     mean soft targets per true class
    accuracy_vs_size(rows)                     accuracy against parameters (log scale)
    confusion_matrices([(name, cm)], classes)  side by side
    history_scatter(rows)                      accuracy against size across recorded runs
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .losses import soft_targets

# One colour per role, used on every page so a student keeps its colour from chart to chart.
COLORS = {"teacher": "#6C5CE7", "hard": "#E17055", "distilled": "#00A884", "reference": "#B2BEC3",
          "accent": "#0984E3"}
FONT = dict(family="Inter, 'Source Sans Pro', sans-serif", size=13)
LEGEND_BELOW = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")


def _base_layout(height: int) -> dict:
    # No explicit template: st.plotly_chart draws with Streamlit's theme anyway, and naming one
    # ("plotly_white") costs ~10-15 ms of validation per figure — most of a T-slider rerun.
    # The legend goes under the chart, anchored to the figure's bottom edge ("container"): plotly
    # then shrinks the plot to make room. Above the plot it sat on top of the title once it wrapped.
    return dict(height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT, legend=LEGEND_BELOW)


def _layout(fig: go.Figure, height: int = 360, **kwargs) -> go.Figure:
    fig.update_layout(**{**_base_layout(height), **kwargs})
    return fig


def _figure(data: list[dict], height: int = 360, **layout) -> go.Figure:
    """One go.Figure built from plain dicts in a single validation pass: several times faster than
    add_trace/update_layout, which matters for charts redrawn on every slider move."""
    return go.Figure(dict(data=data, layout={**_base_layout(height), **layout}))


def run_color(name: str) -> str:
    for role in ("distilled", "hard", "teacher"):
        if role in name:
            return COLORS[role]
    return COLORS["accent"]


# ---------------------------------------------------------------- temperature

def soft_target_bars(logits: torch.Tensor, classes, temperature: float, log_scale: bool = False,
                     title: str | None = None, height: int = 320) -> go.Figure:
    """Bars of softmax(z/T) for one image, with the ordinary softmax (T = 1) as a grey reference."""
    logits = torch.as_tensor(logits).float().reshape(-1)
    names = [str(c) for c in classes]
    data = [] if temperature == 1 else [dict(type="bar", x=names, y=soft_targets(logits, 1.0).tolist(),
                                             name="T = 1 (ordinary softmax)", marker=dict(color=COLORS["reference"]))]
    data.append(dict(type="bar", x=names, y=soft_targets(logits, temperature).tolist(), name=f"T = {temperature:g}",
                     marker=dict(color=COLORS["teacher"])))
    return _figure(data, height, barmode="group", title=title or f"Soft targets at T = {temperature:g}",
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
    return _layout(fig, height, title="The teacher's logits z", showlegend=False)


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
    layout = dict(
        xaxis=dict(title=dict(text="temperature T"), type="log", range=[np.log10(min(temps)), np.log10(max(temps))]),
        yaxis=dict(title=dict(text="entropy (bits)"), range=[0, top * 1.05]),
        yaxis2=dict(title=dict(text="off the top class"), overlaying="y", side="right", range=[0, 1.05],
                    showgrid=False, tickformat=".0%"),
        shapes=shapes, annotations=annotations)
    return _figure(data, height, title=title, **layout)


# ---------------------------------------------------------------- training

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
    _layout(fig, height)
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
    return fig


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


# ---------------------------------------------------------------- data

def _png_data_uri(array: np.ndarray) -> str:
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


def image_grid(images: torch.Tensor, labels: torch.Tensor, classes, per_class: int = 10, seed: int = 0,
               height: int | None = None) -> go.Figure:
    """`per_class` random samples of every class, one class per row, labelled on the y axis."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.as_tensor(labels).cpu()
    picked = []
    for k in range(len(classes)):
        members = torch.nonzero(labels == k).flatten()
        members = members[torch.randperm(len(members), generator=generator)[:per_class]]
        picked.append(members)
    counts = [len(m) for m in picked]
    index = torch.cat([torch.cat([m, m[:0].new_full((per_class - len(m),), -1)]) for m in picked])
    chosen = torch.as_tensor(images).cpu()[index.clamp_min(0)]
    chosen[index < 0] = 0
    h = chosen.shape[-1]
    scale = 2
    picture = mosaic(chosen, per_class, scale=scale)
    fig = go.Figure(go.Image(source=_png_data_uri(picture)))
    step = (h + 2) * scale
    fig.update_yaxes(tickvals=[(2 + k * (h + 2) + h / 2) * scale for k in range(len(classes))],
                     ticktext=[f"{c}  ({n})" if n < per_class else str(c) for c, n in zip(classes, counts)],
                     showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    rows = picture.shape[0]
    _layout(fig, height or int(rows + 60), showlegend=False)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
    fig.layout.meta = {"per_class": per_class, "classes": [str(c) for c in classes], "row_height": step}
    return fig


def class_balance(train_labels: torch.Tensor, test_labels: torch.Tensor, classes, height: int = 300) -> go.Figure:
    k = len(classes)
    names = [str(c) for c in classes]
    fig = go.Figure()
    fig.add_bar(x=names, y=torch.bincount(torch.as_tensor(train_labels).cpu(), minlength=k).tolist(), name="train",
                marker_color=COLORS["teacher"])
    fig.add_bar(x=names, y=torch.bincount(torch.as_tensor(test_labels).cpu(), minlength=k).tolist(), name="test",
                marker_color=COLORS["distilled"])
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(title="images")
    return _layout(fig, height, barmode="group", title="Images per class")


# ---------------------------------------------------------------- dark knowledge

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
    return _figure([heatmap], height, title=f"What the teacher thinks looks alike (T = {temperature:g})",
                   xaxis=dict(title="soft target for class", type="category", side="bottom"),
                   yaxis=dict(title="true class", type="category", autorange="reversed"))


def off_top_by_class(similarity: torch.Tensor, classes, temperature: float, height: int = 300) -> go.Figure:
    """Per true class: how much of the mean soft target sits off the class itself."""
    matrix = torch.as_tensor(similarity).float()
    off = (1 - matrix.diag()).tolist()
    bars = dict(type="bar", x=[str(c) for c in classes], y=off, marker=dict(color=COLORS["distilled"]))
    return _figure([bars], height, title=f"Dark knowledge per class (T = {temperature:g})", showlegend=False,
                   xaxis=dict(type="category", title="true class"),
                   yaxis=dict(title="mass off the true class", rangemode="tozero"))


# ---------------------------------------------------------------- comparison

def accuracy_vs_size(rows: list[dict], height: int = 380) -> go.Figure:
    """Test accuracy against parameter count (log x); rows: {"model", "role", "params", "test_accuracy", ...}."""
    fig = go.Figure()
    for role in ("teacher", "hard", "distilled"):
        chosen = [r for r in rows if r["role"] == role and r.get("test_accuracy") is not None]
        if not chosen:
            continue
        fig.add_scatter(x=[r["params"] for r in chosen], y=[r["test_accuracy"] for r in chosen], mode="markers+text",
                        name={"teacher": "teacher", "hard": "student (labels)", "distilled": "student (distilled)"}[role],
                        text=[r["model"] for r in chosen], textposition="middle right", cliponaxis=False,
                        hovertemplate="%{text}<br>%{x:,} parameters<br>%{y:.2%}<extra></extra>",
                        marker=dict(size=[10 + 4 * np.log10(max(r["params"], 10)) for r in chosen],
                                    color=COLORS[role], line=dict(color="white", width=1)))
    params = [r["params"] for r in rows if r.get("params")] or [1]
    fig.update_xaxes(type="log", title="parameters (log scale)",
                     range=[np.log10(min(params)) - 0.3, np.log10(max(params)) + 0.6], **count_ticks(params))
    fig.update_yaxes(title="test accuracy", tickformat=".1%")
    return _layout(fig, height, title="Accuracy against size")


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
    return _layout(fig, height, showlegend=False)


ROLE_NAMES = {"teacher": "teacher", "hard": "student (labels)", "distilled": "student (distilled)"}


def history_scatter(rows: list[dict], height: int = 400) -> go.Figure:
    """Accuracy against parameters (log x) for recorded runs, one trace per kind of run.

    rows: lab.runs.Run.summary() dicts ({"id", "kind", "status", "arch", "params", "test_accuracy", ...});
    runs without both numbers (stopped early, failed) are left out."""
    rows = [r for r in rows if r.get("test_accuracy") is not None and r.get("params")]
    fig = go.Figure()
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    for kind in sorted(kinds, key=lambda k: (k not in ROLE_NAMES, list(ROLE_NAMES).index(k) if k in ROLE_NAMES else 0, k)):
        chosen = [r for r in rows if r["kind"] == kind]
        fig.add_scatter(x=[r["params"] for r in chosen], y=[r["test_accuracy"] for r in chosen], mode="markers",
                        name=ROLE_NAMES.get(kind, kind), customdata=[[r["id"], r.get("arch") or "?", r["status"]]
                                                                     for r in chosen],
                        hovertemplate="run %{customdata[0]}: %{customdata[1]} (%{customdata[2]})<br>"
                                      "%{x:,} parameters<br>%{y:.2%}<extra></extra>",
                        marker=dict(size=11, color=COLORS.get(kind, COLORS["accent"]), opacity=0.8,
                                    line=dict(color="white", width=1)))
    params = [r["params"] for r in rows] or [1]
    fig.update_xaxes(type="log", title="parameters (log scale)",
                     range=[np.log10(min(params)) - 0.3, np.log10(max(params)) + 0.3], **count_ticks(params))
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    _layout(fig, height, title=f"Accuracy against size across {len(rows)} recorded run{'s' if len(rows) != 1 else ''}")
    return fig
