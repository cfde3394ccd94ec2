"""The app's Streamlit glue, one purpose per module. Pages do `from app_pages import _app as app`
and call the names below; the modules themselves are importable too (`app.jobs`, `app.panels`).

    startup.start()                 once per server: logging, torch thread cap, warm-ups (streamlit_app.py)
    session     init_session(), write_cookie()   a browser's persistent identity (cookie `lab_id`) and its
                record(): jobs, results, uploads, restored after a reload or a restart
                jobs(), latest_job(kind), running_job(), distill_jobs(), experiment_jobs(name),
                experiment_key(name, settings, teacher), experiment_result(key), harvest(), touch()
    settings    bound(widget, name, ...), set_value(name, v), share_params(),
                sync_query_params(), url_notices(), instructor_mode(), DISTILL_METHODS
                (the URL is read and written only through lab.lessons.presets)
    lessons     LESSON_PAGES, load_lesson(key), lesson_banner(), lesson_teacher_needed(l), teacher_steps(l)
    teachers    dataset(), available_teachers(), teacher_info(key), need_teacher(), add_uploaded_teacher(...),
                model_choices(role), devices(), device_label(name), pretrained_dir(name)
    history     history_store(), history_problem(), recorded_runs(store, key), run_labels(runs),
                compare_recorded(runs, key)
    work        start_teacher_job(arch, epochs, lr, seed), start_distill_job(teacher_key),
                start_experiment(name, key, label, task)   -> a jobs.Job (task: lab.serve.tasks.Task)
    jobs        Job (ONE type: teacher, pair, experiment), Run, Measured, start(job, work), drive(),
                the backend seam (ProcessBackend: warm worker processes, the server's default;
                ThreadBackend: LAB_BACKEND=threads, AppTest; RayBackend with LAB_RAY_ADDRESS), reap()
                (below it, one way: job.py the type <- drive.py what every backend shares <- ray_backend.py)
    panels      progress(job, show_result), sidebar_status(), page_header(), show_error(sentence, e),
                queue_text(job), temperature_slider(), image_picker(data)
    records     a job's rows in the run history and its files in app-runs/
    classroom   the instructor key (configured_key, unlock), a student's optional name (name_field),
                today's pairs and the queue for the instructor page (lab.serve.classroom does the maths)
    caps        bounded memory: a browser's old jobs give back their models and results (Job.release),
                and all of them once every tab has been gone for the grace period
    memo        memo.get(key, build): figures and numbers built once per server from results that do not change
    memory_probe  LAB_MEMORY_PROBE=<prefix>: live objects and tracemalloc on request (debugging)
    fmt         fmt_seconds(), fmt_bytes(), md_text() (what someone typed, Markdown-escaped)

A job: `job = app.start_distill_job(key)` → `app.progress(job, show_result)` draws it; `job.status`,
`job.position`, `job.progress()`, `job.cancel()`. Which backend runs it is not the page's business.
"""
from . import (caps, classroom, drive, fmt, history, job, jobs, lessons, memo, panels, ray_backend,  # noqa: F401
               records, session, settings, startup, teachers, work)
from .fmt import fmt_bytes, fmt_seconds, md_text  # noqa: F401
from .history import compare_recorded, history_problem, history_store, recorded_runs, run_labels  # noqa: F401
from .jobs import POLL_S, QUEUED_POLL_S, SIDEBAR_POLL_S, Job, Run  # noqa: F401
from .lessons import LESSON_PAGES, lesson_banner, lesson_teacher_needed, load_lesson, teacher_steps  # noqa: F401
from .panels import (image_picker, page_header, progress, queue_text, show_error,  # noqa: F401
                     sidebar_status, temperature_slider)
from .session import (distill_jobs, experiment_jobs, experiment_key, experiment_result, harvest,  # noqa: F401
                      init_session, latest_job, running_job, touch, write_cookie)
from .settings import (DISTILL_METHODS, bound, instructor_mode, set_value, share_params,  # noqa: F401
                       sync_query_params, url_notices)
from .teachers import (add_uploaded_teacher, available_teachers, dataset, device_label, devices,  # noqa: F401
                       model_choices, need_teacher, pretrained_dir, teacher_info)
from .work import start_distill_job, start_experiment, start_teacher_job  # noqa: F401


def job_panel(kind: str, show_result=None) -> None:
    """The progress panel of this browser's latest `kind` job (teacher, distill)."""
    progress(latest_job(kind), show_result)


def experiment_panel(experiment_job) -> None:
    """The progress panel of an experiment job (the same panel as every job)."""
    progress(experiment_job)


def running_experiment():
    return running_job("experiment")


def reap_queue() -> None:
    jobs.reap()
