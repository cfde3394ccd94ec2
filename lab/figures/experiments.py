"""The experiments' charts (sweep, transfer size, methods, calibration, gradients, ensemble,
frontier, black box): result dicts in, `go.Figure` out.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from ..experiments.frontier import pareto_front
from .style import COLORS, log_ticks, percent_format, styled, t_alpha_heatmap


VARIANT_NAMES = {"hinton": "T²·KL, batchmean (correct)", "no-t2": "no T² factor", "kl-mean": "KL reduction=\"mean\""}

VARIANT_COLORS = {"hinton": COLORS["distilled"], "no-t2": COLORS["hard"], "kl-mean": COLORS["teacher"]}

def sweep_heatmap(result: dict, height: int = 440) -> go.Figure:
    """Mean test accuracy per (T, α) cell with its gain over labels only (bold where the paired
    interval excludes 0), the α = 0 column (labels only: the hard-label baseline) outlined, and the
    cell *chosen on one half of the test images* boxed, with its accuracy on the other half. No cell
    is called best by its own mean: the largest of ~30 noisy means flatters itself (lab.experiments.sweep)."""
    temperatures, alphas = result["temperatures"], result["alphas"]
    cells = {(c["temperature"], c["alpha"]): c for c in result["cells"]}

    def cell(t, a):
        c = cells[(t, a)]
        mean, spread, gain = c["mean"], c.get("spread", 0.0), c.get("gain")
        if gain is None:  # a result from before the paired intervals: mean and spread only
            return mean, f"{100 * mean:.1f}%<br>±{100 * spread / 2:.1f}", f"spread over seeds {100 * spread:.1f} points"
        beyond = not c["gain_within_noise"]
        text = f"{100 * mean:.1f}%<br>" + (f"<b>{100 * gain:+.1f}</b>" if beyond else f"{100 * gain:+.1f}")
        hover = (f"vs labels only {100 * gain:+.1f} points (95 % CI {100 * c['gain_low']:+.1f} to "
                 f"{100 * c['gain_high']:+.1f}), {'beyond' if beyond else 'within'} noise<br>"
                 f"spread over seeds {100 * spread:.1f} points")
        return mean, text, hover

    baseline = result["hard_label_mean"]
    best = result["best"]
    shapes = []
    if 0 in alphas or 0.0 in alphas:
        j = alphas.index(0)
        shapes.append(dict(type="rect", x0=j - 0.5, x1=j + 0.5, y0=-0.5, y1=len(temperatures) - 0.5,
                           line=dict(color=COLORS["hard"], width=2, dash="dash"), name="hard-label baseline"))
    lines = [f"dashed: α=0 = labels only ({baseline:.1%}) · under each mean: its gain over labels in points, "
             "bold where beyond noise"]
    if "report_accuracy" not in best:  # an old result: its best cell was picked on the images it reports
        lines.append(f"best mean: T={best['temperature']:g} α={best['alpha']:g} ({best['mean']:.1%}), picked and "
                     "scored on the same images — run again for an honest pick")
    elif best["labels_only"]:
        lines.append(f"chosen on {best['selection_size']} test images: labels only — no distilled cell did better "
                     "there")
    else:
        bi, bj = temperatures.index(best["temperature"]), alphas.index(best["alpha"])
        shapes.append(dict(type="rect", x0=bj - 0.5, x1=bj + 0.5, y0=bi - 0.5, y1=bi + 0.5,
                           line=dict(color="black", width=4), name="chosen"))
        lines.append(f"boxed: chosen on {best['selection_size']} test images, T={best['temperature']:g} "
                     f"α={best['alpha']:g}; on the other {best['report_size']}:")
        lines.append(f"{best['report_accuracy']:.1%} vs labels {best['labels_report_accuracy']:.1%}, "
                     f"{best['gain_words']}")
    caption = dict(text="<br>".join(lines),
                   # under the α tick labels (about 30 px with Streamlit's theme), in a bottom margin kept for it
                   xref="paper", yref="paper", x=0, y=0, yanchor="top", yshift=-40, showarrow=False,
                   xanchor="left", align="left", font=dict(size=12))
    n = len(result.get("seeds", []))
    return t_alpha_heatmap(
        temperatures, alphas, cell, height, colorscale="RdYlGn", zmid=baseline, name="mean test accuracy",
        colorbar=dict(title="accuracy", tickformat=percent_format([c["mean"] for c in cells.values()])),
        hovertemplate="%{y} %{x}<br>mean %{z:.2%}<br>%{customdata}<extra></extra>",
        shapes=shapes, annotations=[caption], margin=dict(l=10, r=10, t=40, b=110),
        title=f"{result.get('student', 'student')}: test accuracy over T × α "
              f"(mean of {n} seed{'s' if n != 1 else ''})")

def sweep_students(results: dict[str, dict], height: int = 340) -> go.Figure:
    """For each student's sweep: the best mean accuracy over α at every T (where is its best T?),
    and its hard-label baseline as a dotted line of the same colour."""
    palette = [COLORS["distilled"], COLORS["teacher"], COLORS["accent"], COLORS["hard"]]
    fig = go.Figure()
    for i, (student, result) in enumerate(results.items()):
        color = palette[i % len(palette)]
        best = [max(c["mean"] for c in result["cells"] if c["temperature"] == t and c["alpha"] > 0)
                if any(c["alpha"] > 0 for c in result["cells"]) else result["hard_label_mean"]
                for t in result["temperatures"]]
        fig.add_trace(go.Scatter(x=result["temperatures"], y=best, mode="lines+markers", name=f"{student} best over α",
                                 line=dict(color=color, width=3)))
        fig.add_trace(go.Scatter(x=[min(result["temperatures"]), max(result["temperatures"])],
                                 y=[result["hard_label_mean"]] * 2, mode="lines", name=f"{student} labels only",
                                 line=dict(color=color, dash="dot")))
    fig.update_xaxes(title="temperature T", type="log")
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    return styled(fig, height, title="Which temperature suits which student size?")

def per_class_bars(series: dict[str, list[float]], classes, highlight: int | None = None,
                   height: int = 340, title: str = "Per-class test accuracy") -> go.Figure:
    """Grouped bars of per-class accuracy, one group per class; the highlighted class is marked."""
    palette = [COLORS["distilled"], COLORS["accent"], COLORS["hard"], COLORS["teacher"]]
    names = [str(c) for c in classes]
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=names, y=list(values), name=name, marker_color=palette[i % len(palette)],
                             hovertemplate="class %{x}: %{y:.1%}<extra>" + name + "</extra>"))
    if highlight is not None:
        fig.add_vrect(x0=highlight - 0.5, x1=highlight + 0.5, fillcolor="#FDCB6E", opacity=0.3, line_width=0,
                      layer="below", annotation_text="omitted", annotation_position="top")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title="accuracy")
    fig.update_xaxes(title="class", type="category")
    return styled(fig, height, title=title, barmode="group")

def data_efficiency(result: dict, height: int = 360) -> go.Figure:
    """Test accuracy against training images used (log scale): labels vs soft targets; each
    seed's accuracy as a faint dot behind the mean line."""
    sizes = result["train_sizes"]
    fig = go.Figure()
    for key, name, color in (("hard", "labels only", COLORS["hard"]), ("distilled", "distilled", COLORS["distilled"])):
        per_seed = result.get(f"{key}_accuracies") or []
        if per_seed and len(per_seed[0]) > 1:
            xs = [s for s, accs in zip(sizes, per_seed) for _ in accs]
            ys = [a for accs in per_seed for a in accs]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=f"{name} (each seed)", showlegend=False,
                                     marker=dict(color=color, opacity=0.35, size=7)))
        fig.add_trace(go.Scatter(x=sizes, y=result[f"{key}_accuracy"], mode="lines+markers", name=name,
                                 line=dict(color=color, width=3),
                                 customdata=[f"{f:.0%}" for f in result["fractions"]],
                                 hovertemplate="%{x} images (%{customdata})<br>%{y:.2%}<extra>" + name + "</extra>"))
    fig.update_xaxes(title="training images used", type="log")
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    return styled(fig, height, title="Data efficiency: accuracy against training-set size")

def methods_bars(result: dict, height: int = 340) -> go.Figure:
    """Test accuracy and agreement with the teacher for each distillation target."""
    rows = result["methods"]
    names = [r["method"] for r in rows]
    fig = go.Figure([
        go.Bar(x=names, y=[r["test_accuracy"] for r in rows], name="test accuracy", marker_color=COLORS["distilled"],
               text=[f"{r['test_accuracy']:.1%}" for r in rows], textposition="outside"),
        go.Bar(x=names, y=[r.get("agreement") for r in rows], name="agreement with the teacher",
               marker_color=COLORS["teacher"]),
    ])
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    return styled(fig, height, title=f"{result.get('student', 'student')}: what the student learns from",
                   barmode="group")

def reliability_diagram(rows: dict[str, dict], height: int = 380) -> go.Figure:
    """Accuracy against confidence per confidence bin (bins with no image are skipped); a
    calibrated model lies on the diagonal. Legend entries carry each model's ECE."""
    colors = {"teacher": COLORS["teacher"], "hard": COLORS["hard"], "labels": COLORS["hard"],
              "distilled": COLORS["distilled"]}
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                               line=dict(color=COLORS["reference"], dash="dash")))
    for name, row in rows.items():
        bins = row["reliability"]
        keep = [i for i, n in enumerate(bins["count"]) if n > 0]
        fig.add_trace(go.Scatter(
            x=[bins["confidence"][i] for i in keep], y=[bins["accuracy"][i] for i in keep],
            mode="lines+markers", name=f"{name} (ECE {row['ece']:.3f})",
            marker=dict(size=[6 + 14 * (bins["count"][i] / max(sum(bins["count"]), 1)) ** 0.5 for i in keep]),
            line=dict(color=next((c for k, c in colors.items() if k in name), COLORS["accent"]), width=2),
            customdata=[bins["count"][i] for i in keep],
            hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} images<extra>" + name + "</extra>"))
    fig.update_xaxes(title="confidence (top-class probability)", range=[0, 1.02])
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    return styled(fig, height, title="Reliability diagram")

def gradient_norms(result: dict, temperature: float | None = None, height: int = 360) -> go.Figure:
    """‖∂ soft term / ∂ z_s‖ over T for each loss variant (log-log): with T² it levels off, without
    it the signal falls like 1/T², with reduction="mean" it is K times weaker."""
    fig = go.Figure()
    for variant, name in VARIANT_NAMES.items():
        if variant in result:
            fig.add_trace(go.Scatter(x=result["temperatures"], y=result[variant], mode="lines+markers", name=name,
                                     line=dict(color=VARIANT_COLORS[variant], width=3)))
    if temperature is not None:
        fig.add_vline(x=temperature, line_dash="dot", line_color=COLORS["accent"])
        # annotations on a log axis take log10 of the position (shapes do not)
        fig.add_annotation(x=math.log10(temperature), y=1, yref="paper", text=f"T = {temperature:g}", showarrow=False,
                           xanchor="left", yanchor="top", font=dict(color=COLORS["accent"]))
    fig.update_xaxes(title="temperature T", type="log")
    fig.update_yaxes(title="gradient norm of the soft term", type="log")
    return styled(fig, height, title="What breaks: the teacher's learning signal as T grows")

def ensemble_bars(result: dict, height: int = 360) -> go.Figure:
    """Each member's test accuracy, the ensemble's, and the three students (same initial weights)."""
    members = result["teacher_accuracies"]
    names = result.get("member_names") or [f"member {i + 1}" for i in range(len(members))]
    x = list(names) + ["ensemble", "student: labels", "student: best member", "student: ensemble"]
    y = list(members) + [result["ensemble_accuracy"], result["student_from_labels"],
                         result["student_from_best_teacher"], result["student_from_ensemble"]]
    colors = [COLORS["reference"]] * len(members) + [COLORS["teacher"], COLORS["hard"], COLORS["accent"],
                                                     COLORS["distilled"]]
    fig = go.Figure(go.Bar(x=x, y=y, marker_color=colors, text=[f"{v:.1%}" for v in y], textposition="outside",
                           name="test accuracy"))
    low = min(y)
    fig.update_yaxes(range=[max(0.0, low - 0.05), min(1.0, max(y) + 0.03)], tickformat=".0%", title="test accuracy")
    return styled(fig, height, title="Many teachers → one student")

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
    return styled(fig, height, title=f"Accuracy against {COST_AXES.get(cost, cost).split(' (')[0]} "
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
    return styled(fig, height, title="What a query-only teacher teaches, per query budget")

__all__ = ['VARIANT_NAMES', 'VARIANT_COLORS', 'sweep_heatmap', 'sweep_students', 'per_class_bars', 'data_efficiency', 'methods_bars', 'reliability_diagram', 'gradient_norms', 'ensemble_bars', 'COST_AXES', 'SETTING_COLORS', 'frontier_chart', 'blackbox_curves']
