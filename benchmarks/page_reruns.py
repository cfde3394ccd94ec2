"""How long a page's script rerun takes, through the real entry point (sidebar and session glue
included), idle and while this browser's student pair trains: median and p95 over N reruns.

    python benchmarks/page_reruns.py [--reruns 30]          # one JSON object
    LAB_BACKEND=threads python benchmarks/page_reruns.py    # the pair trains in this process

Cases: the Dark-knowledge page after a T-slider move (a new T each time, cycling over 10 values:
what a class does), the Distill page while its pair trains (the panel's own polls are fragment
reruns; this is the whole page), and the Distill page showing the finished pair's result. AppTest
runs the script in this process, so with LAB_BACKEND=threads the training competes with it as it
did in the server; with processes (the default) it trains in a worker. Run from the repository
root, under the shared lock, with nothing else running.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"n": len(times), "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)}


def timed(run) -> float:
    began = time.perf_counter()
    run()
    return 1000 * (time.perf_counter() - began)


def app(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def slider_moves(at: AppTest, reruns: int) -> list[float]:
    at.switch_page("app_pages/dark_knowledge.py").run()
    times = []
    for i in range(reruns):
        slider = next(s for s in at.slider if s.label == "Temperature T")
        times.append(timed(lambda: slider.set_value(1.0 + (i * 3) % 10).run()))
        assert not at.exception, at.exception
    return times


def start_pair(at: AppTest, epochs: int):
    at.switch_page("app_pages/distill.py").run()
    at.number_input(key="w_epochs").set_value(epochs).run()
    next(b for b in at.button if "Train both" in b.label).click().run()
    job = [j for j in at.session_state["jobs"] if j.kind == "distill"][-1]
    deadline = time.monotonic() + 300
    while job.status != "running":
        assert time.monotonic() < deadline and not job.done, job.message
        time.sleep(0.2)
    return job


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reruns", type=int, default=30)
    args = parser.parse_args(argv)
    out = {"backend": os.environ.get("LAB_BACKEND") or "processes", "load_before": os.getloadavg()[0]}
    at = app({"dataset": "mnist-sample", "student": "student-mlp", "T": "4", "epochs": "1"})
    slider_moves(at, 5)  # warm: the page's imports, the teacher's logits
    out["dark_knowledge_slider_idle"] = summary(slider_moves(at, args.reruns))

    job = start_pair(at, epochs=40)  # trains for minutes unless stopped
    out["dark_knowledge_slider_while_training"] = summary(slider_moves(at, args.reruns))
    at.switch_page("app_pages/distill.py").run()
    out["distill_while_training"] = summary([timed(at.run) for _ in range(args.reruns)])
    assert job.status == "running", job.status
    job.cancel()
    job.thread.join(60)

    job = start_pair(at, epochs=1)
    job.thread.join(300)
    at.run()
    assert job.status == "finished", job.message
    out["distill_finished_pair"] = summary([timed(at.run) for _ in range(args.reruns)])
    out["load_after"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
