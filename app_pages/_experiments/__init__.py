"""The Experiments page's sections (not pages: st.navigation lists only app_pages/experiments.py).

    page.py           ExperimentPage: the dataset and teacher in use, persistent widgets, the ONE run block
    soft_targets.py   1-3  the T × α sweep, the omitted class, data efficiency
    targets.py        4-6  other distillation targets, calibration and agreement, conventions & what breaks
    ensemble.py       7    many teachers -> one student
    cost.py           8-9  the cost-quality frontier, a black-box teacher

Each section is `name_section(page)`: its explanation, its widgets, then `page.run_block(...)` with a
lab.experiments generator and a `show(result)`.
"""
