"""What every page draws the same way: the header, the ONE progress panel of a job (teacher, pair
or experiment: progress, Stop, queue position, outcome), the sidebar's status, shared pickers,
and errors shown as a sentence (with the traceback in the server log)."""
from __future__ import annotations

import logging
import time

import streamlit as st
import torch

from lab import figures
from lab.serve import jobs as job_queue

from . import session
from .fmt import fmt_seconds
from .jobs import POLL_S, SIDEBAR_POLL_S, queued_poll_s
from .settings import bound, set_value
from .teachers import teacher_info

log = logging.getLogger(__name__)
STATUS_TEXT = {"queued": "Waiting for a free training slot…", "running": "Training…",
               "measuring": "Measuring accuracy, size and latency…",
               "waiting": "Waiting for another session that trains this very teacher…"}


def page_header(title: str, lead: str, icon: str = "") -> None:
    st.title(f"{icon} {title}".strip())
    st.markdown(f"<p class='lead'>{lead}</p>", unsafe_allow_html=True)


def show_error(sentence: str, error: BaseException | None = None, icon: str = ":material/error:") -> None:
    """An error as one sentence on the page; its traceback in the server log."""
    log.warning("shown on the page: %s", sentence, exc_info=error)
    st.error(sentence, icon=icon)


def queue_text(job) -> str:
    """ "Queued — position 2 of 3, starts in about 0:40 (1 training job at once on this server)."
    The estimate comes from how long recent jobs ran (lab.serve.jobs.JobQueue.eta)."""
    queue = job_queue.shared_queue()
    q = queue.snapshot()
    eta = queue.eta(job.handle) if job.handle is not None else None
    starts = "" if eta is None else f", starts in about {fmt_seconds(eta)}"
    return (f"Queued — position {job.position} of {len(q['waiting'])}{starts} ({q['limit']} training job"
            f"{'s' if q['limit'] != 1 else ''} at once on this server).")


def progress(job, show_result=None) -> None:
    """Live view of one job: progress, Stop (or Cancel while it waits); then its outcome and
    `show_result(job)`. Re-renders itself while the job runs (st.fragment), so the rest of the
    page stays responsive; reruns the whole page once when the job ends."""
    if job is None:
        return
    waiting = job.status in ("queued", "waiting")
    every = None if job.done else queued_poll_s(job.position) if waiting else POLL_S

    @st.fragment(run_every=every)
    def panel():
        session.touch()
        announced = st.session_state.setdefault("announced", set())
        if job.done and job.key not in announced:
            announced.add(job.key)
            st.rerun()  # the whole page (and the sidebar) now show the outcome
        if waiting and job.status not in ("queued", "waiting") and not job.done:
            st.rerun()  # it started: redraw the panel at the live polling rate
        if waiting and job.status == "queued" and queued_poll_s(job.position) != every:
            st.rerun()  # it moved up the queue: poll at its new place's rate
        _draw(job)
        if job.done and show_result is not None:
            show_result(job)

    panel()


def _draw(job) -> None:
    head = st.container()
    if job.status in ("queued", "waiting"):
        cols = head.columns([5, 1])
        text = queue_text(job) if job.status == "queued" else STATUS_TEXT["waiting"]
        cols[0].info(f"{text} It starts by itself; you can leave this page.", icon=":material/hourglass_top:")
        if cols[1].button("Cancel", key=f"cancel-{job.key}", width="stretch"):
            job.cancel()
            st.rerun()
        return
    if not job.done:
        cols = head.columns([5, 1])
        cols[0].progress(job.fraction(), text=_running_text(job))
        if cols[1].button("Stop", key=f"stop-{job.key}", type="primary", width="stretch", disabled=job.stop.is_set()):
            job.stop.set()
            st.toast("Stopping… (takes effect within one step)")
    else:
        _outcome(head, job)
    if job.kind != "experiment":
        histories = {(f"{r.name} ({r.arch})" if job.kind == "distill" else r.name): r.history
                     for r in job.runs.values()}
        totals = [r.last.total_steps for r in job.runs.values() if hasattr(r.last, "total_steps")]
        if any(histories.values()):
            points, figure = _curves(job, histories, max(totals) if totals else None)
            st.plotly_chart(figure, width="stretch", key=f"curves-{job.key}-{points}")


CURVES_EVERY_S = 2.0  # a running job's chart is rebuilt at most this often (the progress bar stays at POLL_S)


def _curves(job, histories: dict, total: int | None) -> tuple[int, object]:
    """(points, figure) of the job's training curves, kept on the job and rebuilt only when there
    are new points and CURVES_EVERY_S has passed (or the job ended). Building the plotly figure
    takes ~30x longer than sending it; in a load test of 60 sessions it was a third of the
    server's script-run CPU, rebuilt at every 0.4 s poll of the running job."""
    points = sum(len(rows) for rows in histories.values())
    kept = getattr(job, "_curves", None)  # (points, built at, figure)
    now = time.monotonic()
    if kept is None or (kept[0] != points and (job.done or now - kept[1] >= CURVES_EVERY_S)):
        kept = job._curves = (points, now, figures.training_curves(histories, total))
    return kept[0], kept[2]


def _running_text(job) -> str:
    if job.kind == "experiment":
        p = job.latest
        if p is None or p.total_runs == 0:
            return "Preparing: the teacher's logits, the cache…"
        frac = job.fraction()
        elapsed = time.monotonic() - job.started
        eta = elapsed / frac * (1 - frac) if frac > 0.01 and job.status == "running" else None
        return f"Run {min(p.run_index + 1, p.total_runs)} of {p.total_runs}: {p.run} · {frac:.0%} · ETA {fmt_seconds(eta)}"
    done, total, rate, eta = job.progress()
    status = STATUS_TEXT.get(job.status, job.status)
    return f"{status} step {done:,} of {total:,} · {rate:,.0f} images/s · ETA {fmt_seconds(eta)}" if total else status


def _outcome(head, job) -> None:
    what = "experiment" if job.kind == "experiment" else "run"
    if job.status == "finished" and job.cached_s is not None:
        head.success(f"**This teacher was already trained on this server** — loaded in {job.cached_s:.1f} s "
                     f"instead of training **{job.label}** again.", icon=":material/bolt:")
    elif job.status == "finished":
        seconds = [r.last.seconds for r in job.runs.values() if hasattr(r.last, "seconds")]
        took = f" in {fmt_seconds(max(seconds))}" if seconds else (" (from the cache)" if job.message == "from cache" else "")
        head.success(f"Finished **{job.label}**{took}.", icon=":material/check_circle:")
    elif job.status == "stopped":
        extra = " Nothing was kept; press Run to start again." if job.kind == "experiment" else ""
        head.warning(f"**Stopped.** {job.message}{extra}", icon=":material/stop_circle:")
    elif job.status == "diverged":
        head.error(f"**Training diverged.** {job.message}", icon=":material/warning:")
    elif job.status == "abandoned":
        head.warning(f"This {what} was stopped because its browser tab was closed.", icon=":material/stop_circle:")
    elif job.status == "cancelled":
        head.info(f"**Cancelled.** {job.message}", icon=":material/cancel:")
    else:
        head.error(job.message, icon=":material/error:")


def sidebar_status() -> None:
    """The sidebar's "Models in use": the teacher, the student pairs, and this browser's job."""
    active = session.running_job()
    # Queued: no faster than 5 s (the page's own panel, if shown, is the live one)
    every = None if active is None else max(queued_poll_s(active.position), 5.0) \
        if active.status in ("queued", "waiting") else SIDEBAR_POLL_S

    @st.fragment(run_every=every)
    def status():
        session.touch()  # heartbeat from every page: the job knows this tab is still open
        job = session.running_job()
        info = teacher_info() if st.session_state.dataset else None
        if info is not None:
            acc = info.metrics.get("test_accuracy")
            st.caption(f":material/school: Teacher: **{info.label}** · {acc:.1%} test accuracy" if acc is not None
                       else f":material/school: Teacher: **{info.label}**")
        else:
            st.caption(":material/school: Teacher: none yet for this dataset")
        st.caption(f":material/groups: Student pairs trained: **{len(session.distill_jobs())}**")
        if job is not None and job.status in ("queued", "waiting"):
            st.caption(f":material/hourglass_top: {queue_text(job) if job.status == 'queued' else STATUS_TEXT['waiting']}")
            if st.button("Cancel", key="sidebar-cancel", help="leave the queue: this job will not run"):
                job.cancel()
                st.rerun()
        elif job is not None:
            what = {"teacher": "Teacher", "distill": "Students"}.get(job.kind, "Experiment")
            done, total, _, eta = job.progress()
            text = (f"{what}: {done}/{total} steps · ETA {fmt_seconds(eta)}" if total
                    else f"{what}: {job.fraction():.0%}")
            st.progress(job.fraction(), text=text)

    status()


def temperature_slider(label: str = "Temperature T") -> float:
    """The one T slider (same key on every page, so T follows you and the URL)."""
    return bound(st.slider, "T", label, 0.5, 20.0, step=0.5,
                 help="T = 1 is the ordinary softmax. Higher T softens the teacher's probabilities and "
                      "reveals how it ranks the wrong classes.")


def image_picker(data, label: str = "Test image") -> int:
    """A test-image index slider (shared across pages) and a random-pick button."""
    n = len(data.test_labels)
    if st.session_state.image_index >= n:
        set_value("image_index", 0)
    cols = st.columns([4, 1])
    with cols[1]:
        st.write("")
        if st.button(":material/casino:", help="a random test image", key="random_image"):
            set_value("image_index", int(torch.randint(n, (1,)).item()))
    with cols[0]:
        return bound(st.slider, "image_index", label, 0, n - 1)
