"""Plotly builders: numbers in, `go.Figure` out. No Streamlit here, so tests call every builder
and read the figure's JSON (`fig.to_dict()`) to check what a chart shows.

One file per subject, all sharing the public look in `style` (colours per role, the base layout,
axis ticks). Pages use `from lab import figures` and call `figures.<builder>`:

    style         COLORS, figure(), styled(), log_ticks(), count_ticks(), mosaic(), png_data_uri()
    soft_targets  the teacher's soft targets at T, entropy over T, class similarity
    training      loss and accuracy per step, one line per run
    images        a class-by-class mosaic, class balance, a grid of chosen test images
    comparison    a difference and its noise, confusion matrices, accuracy against size
    experiments   sweep, transfer size, methods, calibration, gradients, ensemble, frontier, black box
    classroom     the instructor's view of the class's pairs
    sequences     forward vs reverse KL: one bump fitting two (the on-policy β)
"""
from .classroom import *  # noqa: F401,F403
from .comparison import *  # noqa: F401,F403
from .experiments import *  # noqa: F401,F403
from .images import *  # noqa: F401,F403
from .sequences import *  # noqa: F401,F403
from .soft_targets import *  # noqa: F401,F403
from .style import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
