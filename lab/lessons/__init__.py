"""Lesson content, not machinery: what a teacher clicks and what each click must show.

    presets           the guided lessons: a whole setup in one click, its sentences and its claims
    dataset_defaults  each dataset's measured default run (teacher recipe, student, T, α, epochs)
    check             `python -m lab lessons --check`: train every lesson as the app does, on several
                      seeds, and check each claim
"""
