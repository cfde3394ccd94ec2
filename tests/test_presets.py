import tomllib
import urllib.parse
from pathlib import Path

import pytest

from lab.errors import ConfigError
from lab.lessons.presets import DEFAULTS, LESSONS, check_settings, from_query_params, lesson_of, to_query_params

ROOT = Path(__file__).resolve().parents[1]


def test_five_lessons_each_with_text_a_question_and_valid_settings():
    assert [lesson.title for lesson in LESSONS.values()] == [
        "Lesson 1: dark knowledge", "Lesson 2: a student 10× smaller", "Lesson 3: the class it never saw",
        "Lesson 4: when distillation does not help", "Lesson 5: cats, dogs and trucks (CIFAR-10)"]
    for lesson in LESSONS.values():
        assert check_settings(lesson.settings) == lesson.settings
        assert len(lesson.text.split(". ")) >= 2 and lesson.question.endswith("?") and len(lesson.choices) >= 3
        assert set(lesson.settings) == set(DEFAULTS)
    assert LESSONS["unseen-class"].settings["hidden_class"] == 3
    assert LESSONS["no-help"].settings["teacher_epochs"] < DEFAULTS["teacher_epochs"]
    assert LESSONS["cifar-kinds"].settings["dataset"] == "cifar10"  # CIFAR-10's own lesson, on its default run




@pytest.mark.parametrize("key", list(LESSONS))
def test_a_lesson_survives_a_trip_through_a_url(key):
    lesson = LESSONS[key]
    url = "https://lab.example/?" + urllib.parse.urlencode(to_query_params(lesson))
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert params["lesson"] == key
    settings = from_query_params(params)
    assert settings == lesson.settings and lesson_of(settings) is lesson


def test_custom_settings_round_trip_and_override_a_lesson():
    custom = {**DEFAULTS, "temperature": 2.5, "alpha": 0.3, "student": "student-cnn-tiny", "seed": 7}
    params = to_query_params(custom)
    assert params == {"T": "2.5", "alpha": "0.3", "student": "student-cnn-tiny", "seed": "7"}  # only the changes
    assert from_query_params(params) == custom and lesson_of(custom) is None
    tweaked = from_query_params({"lesson": "unseen-class", "T": "20", "hide": ["5", "7"]})  # lists: last wins
    assert tweaked["temperature"] == 20.0 and tweaked["hidden_class"] == 7 and tweaked["alpha"] == 1.0
    assert from_query_params({"lesson": "unseen-class", "hide": "none"})["hidden_class"] is None
    assert from_query_params({"utm_source": "mail"}) == DEFAULTS  # unknown parameters are ignored


@pytest.mark.parametrize("params,message", [
    ({"T": "0"}, "above 0"), ({"T": "-3"}, "above 0"), ({"T": "nan"}, "above 0"), ({"T": "abc"}, "not a number"),
    ({"alpha": "1.5"}, "between 0 and 1"), ({"alpha": "-0.1"}, "between 0 and 1"),
    ({"epochs": "0"}, "from 1 to"), ({"epochs": "100000"}, "from 1 to"), ({"epochs": "2.5"}, "not a number"),
    ({"student": "gpt"}, "Unknown student"), ({"data": "imagenet"}, "Unknown dataset"),
    ({"lesson": "lesson-99"}, "unknown lesson"), ({"hide": "12"}, "class number"), ({"page": "admin"}, "Unknown page"),
])
def test_bad_links_get_a_clear_message(params, message):
    with pytest.raises(ConfigError, match=message):
        from_query_params(params)


def test_streamlit_config_limits_fit_the_lab():
    from lab.checkpoints import MAX_CARD_BYTES
    from lab.digits import MAX_UPLOAD_BYTES
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server_mb = config["server"]["maxUploadSize"]
    assert 1 <= server_mb <= 50  # small: a 200 MB upload is refused by the server before Python sees it
    assert MAX_UPLOAD_BYTES <= server_mb * 2**20 and MAX_CARD_BYTES <= server_mb * 2**20
    assert config["client"]["showErrorDetails"] in ("type", "none")  # no stack traces for students
    assert config["browser"]["gatherUsageStats"] is False and config["theme"]["primaryColor"].startswith("#")


@pytest.mark.parametrize("name,raw,key", [
    ("T", "nan", "temperature"), ("T", "inf", "temperature"), ("T", "1e309", "temperature"),
    ("T", "-inf", "temperature"), ("T", "0.1", "temperature"), ("T", "50", "temperature"), ("T", "hot", "temperature"),
    ("alpha", "nan", "alpha"), ("alpha", "1.5", "alpha"), ("alpha", "x", "alpha"),
    ("epochs", "0", "epochs"), ("epochs", "1e309", "epochs"), ("epochs", "2.5", "epochs"), ("epochs", "999", "epochs"),
    ("seed", "-1", "seed"), ("seed", "20000", "seed"), ("seed", "nan", "seed"),
    ("student", "gpt", "student"), ("dataset", "imagenet", "dataset"), ("method", "magic", "method"),
    ("instructor", "maybe", "instructor"), ("hide", "12", "hidden_class"),
])
def test_every_bad_link_value_falls_back_to_its_default_with_one_notice(name, raw, key):
    """The app's mode: one bad value never rejects the whole link; the rest of it is kept."""
    from lab.lessons.presets import URL_EXTRAS
    notices = []
    settings = from_query_params({name: raw, "student": "student-cnn-tiny" if name != "student" else raw,
                                  "seed": "7" if name != "seed" else raw}, notices=notices)
    default = URL_EXTRAS.get(key, DEFAULTS.get(key))
    assert settings.get(key, default) == default
    assert len(notices) == 1 and (raw in notices[0] or name in notices[0]), notices
    assert notices[0].count("\n") == 0  # one line
    if name != "student":
        assert settings["student"] == "student-cnn-tiny"  # the good values of the same link are kept
    if name != "seed":
        assert settings["seed"] == 7


def test_an_unknown_lesson_in_a_link_is_a_notice_and_the_rest_is_kept():
    notices = []
    settings = from_query_params({"lesson": "lesson-99", "T": "8"}, notices=notices)
    assert settings["temperature"] == 8.0 and len(notices) == 1 and "unknown lesson" in notices[0]


def test_the_apps_link_carries_its_whole_setup_and_reads_back():
    app_keys = ("dataset", "student", "temperature", "alpha", "epochs", "seed")
    values = {**DEFAULTS, "temperature": 7.5, "method": "hint", "instructor": True}
    params = to_query_params(values, lesson="small-student", keys=app_keys)
    assert params == {"lesson": "small-student", "dataset": "mnist-sample", "student": "student-mlp", "T": "7.5",
                      "alpha": "0.9", "epochs": str(DEFAULTS["epochs"]), "seed": "0", "method": "hint",
                      "instructor": "1"}
    back = from_query_params(params, notices=[])
    assert back["temperature"] == 7.5 and back["method"] == "hint" and back["instructor"] is True
    assert back["student"] == "student-mlp"  # the link overrides the lesson's student


def test_a_fresh_page_holds_the_measured_default_run():
    """One source for each dataset's default run (lab.lessons.dataset_defaults): the settings a page
    opens with are mnist-sample's measured ones (30 epochs: at 12 the gain vanished), not a copy."""
    from lab.lessons.dataset_defaults import defaults_for
    d = defaults_for("mnist-sample")
    fresh = from_query_params({})
    assert (fresh["student"], fresh["temperature"], fresh["alpha"], fresh["epochs"]) == (
        d.student, d.temperature, d.alpha, d.epochs) == ("student-mlp", 4.0, 0.9, 30)
    assert fresh["teacher_epochs"] == d.teacher.epochs
    assert f"{fresh['epochs']} epochs" in d.sentence()  # the caption says what the widgets hold


def test_a_link_naming_a_dataset_opens_its_default_run_and_its_own_values_win():
    from lab.lessons.dataset_defaults import defaults_for
    fashion = defaults_for("fashion-mnist")
    opened = from_query_params({"dataset": "fashion-mnist"})
    assert (opened["temperature"], opened["alpha"], opened["epochs"]) == (2.0, 0.25, fashion.epochs)
    assert from_query_params({"data": "fashion-mnist", "T": "3"})["temperature"] == 3.0  # the link's value wins
    assert from_query_params({"data": "fashion-mnist", "T": "3"})["alpha"] == 0.25
    # A lesson keeps its own settings on any dataset.
    lesson = from_query_params({"lesson": "small-student", "dataset": "fashion-mnist"})
    assert (lesson["temperature"], lesson["alpha"]) == (8.0, 0.5)


def test_switching_the_dataset_applies_its_defaults_and_says_what_changed():
    from lab.lessons.dataset_defaults import switch_dataset
    page = {"dataset": "mnist-sample", "student": "student-mlp", "temperature": 4.0, "alpha": 0.9, "epochs": 30,
            "seed": 7}
    moved, notice = switch_dataset(page, "fashion-mnist")
    assert moved == {**page, "dataset": "fashion-mnist", "temperature": 2.0, "alpha": 0.25}  # the seed stays
    assert notice == "Defaults for fashion-mnist: T 4 → 2, α 0.9 → 0.25."
    back, notice = switch_dataset(moved, "mnist-sample")
    assert back == page and notice == "Defaults for mnist-sample: T 2 → 4, α 0.25 → 0.9."
    assert switch_dataset(page, "mnist-sample") == (page, None)  # nothing changed: no notice
