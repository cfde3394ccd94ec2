"""Pictures of the data: a class-by-class mosaic, class balance, a grid of chosen test images.
"""
from __future__ import annotations


import plotly.graph_objects as go
import torch

from .style import COLORS, styled, png_data_uri, mosaic


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
    chosen[index < 0] = 0 if chosen.shape[1] == 1 else 255  # a class with fewer images: blank paper (digits are inverted)
    h = chosen.shape[-1]
    scale = 2
    picture = mosaic(chosen, per_class, scale=scale)
    fig = go.Figure(go.Image(source=png_data_uri(picture)))
    step = (h + 2) * scale
    fig.update_yaxes(tickvals=[(2 + k * (h + 2) + h / 2) * scale for k in range(len(classes))],
                     ticktext=[f"{c}  ({n})" if n < per_class else str(c) for c, n in zip(classes, counts)],
                     showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    rows = picture.shape[0]
    styled(fig, height or int(rows + 60), showlegend=False)
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
    return styled(fig, height, barmode="group", title="Images per class")

def changed_grid(images: torch.Tensor, indices: list[int], confidences: list[float], columns: int = 10,
                 height: int | None = None) -> go.Figure:
    """The chosen test images in order (most confident first), a grid; hovering shows the image's index."""
    if not indices:
        fig = go.Figure()
        fig.add_annotation(text="no such image", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return styled(fig, height or 120, showlegend=False)
    chosen = torch.as_tensor(images).cpu()[torch.as_tensor(indices)]
    scale = 2
    picture = mosaic(chosen, min(columns, len(indices)), scale=scale)
    fig = go.Figure(go.Image(source=png_data_uri(picture), hoverinfo="skip"))
    h, w = chosen.shape[-2:]
    centres = [((2 + (k % columns) * (w + 2) + w / 2) * scale, (2 + (k // columns) * (h + 2) + h / 2) * scale)
               for k in range(len(indices))]
    fig.add_trace(go.Scatter(x=[c[0] for c in centres], y=[c[1] for c in centres], mode="markers",
                             marker=dict(size=(h + 2) * scale, opacity=0), customdata=list(zip(indices, confidences)),
                             hovertemplate="test image %{customdata[0]}<br>confidence %{customdata[1]:.0%}"
                                           "<extra></extra>", showlegend=False))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    styled(fig, height or int(picture.shape[0] + 20), showlegend=False)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
    return fig

__all__ = ['image_grid', 'class_balance', 'changed_grid']
