"""The claims a sequence lesson could make, checked seed by seed on a hand-made compare result."""
import pytest

from lab.seq.claims import check


def method(name, wer, beam, low=0.01):
    return {"name": name, "wer": wer, "beam_wers": beam, "words_per_s": 5000.0,
            "vs_labels": [{"low": low, "high": low + 0.02}] * len(wer)}


def result(seq_wer, seq_beam, seq_low=0.01):
    return {"teacher": {"words_per_s": 1000.0},
            "methods": [method("labels", [0.40, 0.42], [0.36, 0.38]), method("word-kd", [0.38, 0.41], [0.35, 0.37]),
                        method("seq-kd", seq_wer, seq_beam, seq_low), method("on-policy", [0.39, 0.40], [0.36, 0.37])],
                "topk": [{"k": 1, "wer": [0.41, 0.42]}, {"k": 5, "wer": [0.385, 0.412]},
                         {"k": "full", "wer": [0.38, 0.41]}]}


def by_text(claims, start):
    return next(c for c in claims if c["claim"].startswith(start))


def test_greedy_beam_gap_claim_holds_only_if_it_holds_on_every_seed():
    closes = by_text(check(result([0.37, 0.38], [0.365, 0.375])), "sequence-level KD closes")
    assert closes["per_seed"] == pytest.approx([0.125, 0.125]) and closes["holds"]
    fails = by_text(check(result([0.37, 0.38], [0.365, 0.36])), "sequence-level KD closes")
    assert fails["holds_per_seed"] == [True, False] and not fails["holds"]


def test_a_gain_must_be_beyond_noise_on_every_seed():
    ok = by_text(check(result([0.37, 0.38], [0.365, 0.375])), "seq-kd lowers")
    assert ok["holds"] and abs(ok["per_seed"][0] - 3) < 1e-9
    noisy = by_text(check(result([0.37, 0.38], [0.365, 0.375], seq_low=-0.001)), "seq-kd lowers")
    assert not noisy["holds"] and noisy["note"] == "beyond noise on 0 of 2 seeds"


def test_best_method_speed_and_top_k():
    claims = check(result([0.37, 0.38], [0.365, 0.375]))
    assert by_text(claims, "the best method")["per_seed"] == ["seq-kd", "seq-kd"]
    assert by_text(claims, "every student decodes")["holds"]
    top5 = by_text(claims, "a top-5 teacher")
    assert abs(top5["per_seed"][0] - 0.75) < 1e-9
    assert not by_text(claims, "a top-1 teacher")["holds"]
