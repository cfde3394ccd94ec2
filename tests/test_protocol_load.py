"""The protocol-level load test (tests/load/protocol_load.py): a short class against a real server,
and its isolation check against a hand-made run history (it must catch a run filed under the
wrong session, not pass by construction).

    LAB_PROTOCOL_SESSIONS=60 python -m pytest -q tests/test_protocol_load.py   # or the script itself

Latency is printed, not asserted: on a shared machine it measures the neighbours too.
"""
import json
import os
import time

import pytest

from lab.serve.runs import RunStore
from load.protocol_load import IDENTITY_COOKIE, history_check, parse_args, percentile, run, temperatures

SESSIONS = int(os.environ.get("LAB_PROTOCOL_SESSIONS", "5"))


def session(index, clicked_at, status="finished"):
    return {"session": index, "clicked_at": clicked_at, "status_end": status}


def test_history_check_accepts_one_identity_per_session_and_times_its_queue(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    clicked = time.time()
    for seed, identity in ((0, "browser-a"), (1, "browser-b")):
        for role in ("hard", "distilled"):
            run_id = store.start_run(role, {"seed": seed, "T": 4.0}, session=identity, owner=identity)
            store.finish_run(run_id, "finished")
    out = history_check(tmp_path / "runs.sqlite3", [session(0, clicked - 3), session(1, clicked - 1)])
    assert out["problems"] == [] and out["rows"] == 4
    assert 2.5 < out["queue_wait_s"][0] < 10 and 0.5 < out["queue_wait_s"][1] < 10  # started ~now


def test_history_check_catches_a_run_filed_under_another_session(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3")
    store.start_run("hard", {"seed": 0}, session="browser-a")
    store.start_run("distilled", {"seed": 0}, session="browser-b")  # session 0's partner run, wrong owner
    store.start_run("hard", {"seed": 7}, session="browser-c")       # nobody asked for seed 7
    out = history_check(tmp_path / "runs.sqlite3", [session(0, time.time()), session(1, time.time())])
    assert any("session 0" in p for p in out["problems"]), out
    assert any("seed 7" in p for p in out["problems"]), out
    assert any("session 1" in p for p in out["problems"]), out  # it saw a finished job the history lacks


def test_percentile_and_each_sessions_own_temperature():
    assert percentile([3, 1, 2, 4], 50) == 2 and percentile([3, 1, 2, 4], 95) == 4 and percentile([], 50) is None
    finals = [temperatures(i, 3)[-1] for i in range(40)]
    assert len(set(finals)) == 40 and all(0.5 <= t <= 20 for t in finals)  # on the slider, all different


def test_each_simulated_browser_sends_the_apps_own_identity_cookie():
    from app_pages._app import session as app_session
    assert IDENTITY_COOKIE == app_session.COOKIE  # else every simulated student would be a new person
    assert app_session._TOKEN.match(__import__("uuid").uuid4().hex)  # the token format it sends


@pytest.mark.load
def test_a_short_class_paints_trains_and_stays_isolated():
    report = run(parse_args(["--sessions", str(SESSIONS), "--arrival-s", "2", "--think-s", "0.3",
                             "--timeout", "240"]))
    print(json.dumps({k: report[k] for k in ("first_paint", "slider_rerun", "jobs", "peak_rss_mb",
                                             "server_cpu_s", "cold", "loadavg_before")}))
    assert report["first_paint"]["ok"] == SESSIONS, report
    assert not report["session_errors"] and not report["exceptions"], report
    assert report["jobs"]["clicked"] == SESSIONS and report["jobs"]["lost"] == 0, report["jobs"]
    assert report["jobs"]["finished"] + report["jobs"]["queued_at_end"] + report["jobs"]["running_at_end"] == SESSIONS
    assert report["isolation_ok"], report["isolation"]
    assert report["isolation"]["history_rows"] == 2 * report["jobs"]["finished"] + 2 * report["jobs"]["running_at_end"]
    assert report["slider_rerun"]["n"] == 3 * SESSIONS and report["ok"], report


def test_the_ray_backend_says_what_to_install_when_ray_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--sessions", "2", "--backend", "ray"])
    assert exit_.value.code == 2 and "pip install ray" in capsys.readouterr().err
    assert parse_args(["--sessions", "2"]).backend == "processes"  # what `streamlit run` trains with
