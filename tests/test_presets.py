import tomllib
import urllib.parse
from pathlib import Path

import pytest

from lab.errors import ConfigError
from lab.presets import DEFAULTS, LESSONS, check_settings, from_query_params, lesson_of, to_query_params

ROOT = Path(__file__).resolve().parents[1]


def test_four_lessons_each_with_text_a_question_and_valid_settings():
    assert [lesson.title for lesson in LESSONS.values()] == [
        "Lesson 1: dark knowledge", "Lesson 2: a student 30× smaller", "Lesson 3: the class it never saw",
        "Lesson 4: when distillation does not help"]
    for lesson in LESSONS.values():
        assert check_settings(lesson.settings) == lesson.settings
        assert len(lesson.text.split(". ")) >= 2 and lesson.question.endswith("?") and len(lesson.choices) >= 3
        assert set(lesson.settings) == set(DEFAULTS)
    assert LESSONS["unseen-class"].settings["hidden_class"] == 3
    assert LESSONS["no-help"].settings["teacher_epochs"] < DEFAULTS["teacher_epochs"]


def test_the_lesson_2_student_is_about_30_times_smaller():
    from lab.models import build, count_params
    s = LESSONS["small-student"].settings
    ratio = count_params(build(s["teacher"])) / count_params(build(s["student"]))
    assert 20 <= ratio <= 40


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
