"""Word and phoneme error rates, hand-computed: a word is right if it matches any of its pronunciations;
PER counts edits to the closest one."""
import numpy as np
import pytest

from lab.seq.metrics import edit_distance, first_errors_by_position, paired, score


@pytest.mark.parametrize("a,b,d", [("", "", 0), ("abc", "abc", 0), ("abc", "abd", 1), ("abc", "ac", 1),
                                   ("kitten", "sitting", 3), ("", "abc", 3), ("flaw", "lawn", 2)])
def test_edit_distance(a, b, d):
    assert edit_distance(tuple(a), tuple(b)) == d == edit_distance(tuple(b), tuple(a))


def test_a_word_is_right_if_it_matches_any_pronunciation():
    refs = [(("R", "EH", "D"), ("R", "IY", "D")), (("K", "AE", "T"),), (("D", "AO", "G"),)]
    outputs = [("R", "IY", "D"), ("K", "AH", "T"), ("D", "AO", "G", "Z")]
    s = score(outputs, refs)
    assert s.correct.tolist() == [True, False, False]
    assert s.wer == pytest.approx(2 / 3)
    assert s.per == pytest.approx((0 + 1 + 1) / (3 + 3 + 3))


def test_per_uses_the_closest_pronunciation():
    refs = [(("AH", "B", "AW", "T"), ("B", "AW", "T"))]
    s = score([("B", "AW", "D")], refs)
    assert s.errors.tolist() == [1] and s.reference_lengths.tolist() == [3]


def test_first_errors_by_position():
    refs = [(("A", "B", "C"),), (("A", "B"),), (("A",),)]
    s = score([("A", "X", "C"), ("A", "B"), ("Y",)], refs)
    # position 0: 3 words reach it, 1 goes wrong (Y); position 1: 2 still right, 1 wrong (X);
    # position 2: word 2's end-of-word, right; position 3: nobody left who is right and reaches it
    assert first_errors_by_position(s, refs, positions=4) == [pytest.approx(1 / 3), pytest.approx(1 / 2), 0.0, None]


def test_paired_counts_the_discordant_words():
    a = np.array([True, True, False, False, True])
    b = np.array([True, False, True, True, True])
    d = paired(a, b)
    assert (d.n, d.only_a, d.only_b) == (5, 1, 2)
    assert d.difference == pytest.approx(1 / 5)
