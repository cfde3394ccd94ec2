"""Serving the lab to many people at once: what sits between the training core and the app.

    jobs           the shared job limit: at most N training jobs run at once, the rest wait in a queue
    tasks          a job as a small picklable description (a function by name, datasets and teachers by reference)
    workers        warm worker processes that run those tasks, their events streamed back over a pipe
    ray_runner     the same tasks run on a Ray cluster, their events streamed back
    teacher_cache  each teacher configuration trained once per server, kept on disk
    runs           the run history (SQLite): every run, its config, metrics and curves
    classroom      the class at a glance for the instructor: today's pairs from the run history

Nothing here imports Streamlit; the app's glue (app_pages/_app) wires these to the pages.
"""
