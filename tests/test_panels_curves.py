"""The running job's chart is rebuilt only when it has new points and CURVES_EVERY_S has passed,
or once more when the job ends (building a plotly figure costs ~30x sending it, and the panel
polls every 0.4 s)."""
from types import SimpleNamespace

from app_pages._app import panels


def rows(n):
    return [{"step": i, "loss": 1.0 / (i + 1), "train_accuracy": i / n} for i in range(n)]


def test_the_chart_is_kept_between_polls_and_rebuilt_when_the_job_ends(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(panels.time, "monotonic", lambda: clock[0])
    job = SimpleNamespace(done=False)
    points, first = panels._curves(job, {"hard": rows(3)}, 10)
    assert points == 3 and [tr.name for tr in first.data][:2] == ["hard loss", "hard train accuracy"]
    clock[0] += panels.CURVES_EVERY_S / 4                       # the next 0.4 s poll: new points, kept chart
    assert panels._curves(job, {"hard": rows(4)}, 10) == (3, first)
    clock[0] += panels.CURVES_EVERY_S                           # later: rebuilt with every point so far
    points, later = panels._curves(job, {"hard": rows(5)}, 10)
    assert points == 5 and later is not first and len(later.data[0].x) == 5
    job.done = True                                             # the end: the last points at once
    points, final = panels._curves(job, {"hard": rows(6)}, 10)
    assert points == 6 and len(final.data[0].x) == 6
    assert panels._curves(job, {"hard": rows(6)}, 10) == (6, final)  # and never again
