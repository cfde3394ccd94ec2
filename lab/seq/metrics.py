"""How right a G2P model is, word by word.

    word error rate (WER)     share of words whose output is not exactly one of their pronunciations
    phoneme error rate (PER)  edit distance (substitutions + insertions + deletions) to the closest
                              pronunciation, summed over words, divided by the summed length of
                              those pronunciations
    first_errors_by_position  at each output position, the share of words that make their first
                              mistake there among those still right so far (exposure bias shows as
                              a rate that climbs along the word)

Models are compared on the same test words, so their difference comes with a paired interval over
words (lab.stats: only the words where exactly one of the two is right carry information).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..stats import PairedDifference, paired_from_counts
from . import decode
from .data import Words, decode_phonemes


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (unit costs)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


@dataclass
class WordScores:
    outputs: list[tuple[str, ...]]
    correct: np.ndarray        # (N,) bool: the output is one of the word's pronunciations
    errors: np.ndarray         # (N,) edit distance to the closest pronunciation
    reference_lengths: np.ndarray  # (N,) length of that pronunciation

    @property
    def wer(self) -> float:
        return float(1 - self.correct.mean())

    @property
    def per(self) -> float:
        return float(self.errors.sum() / max(self.reference_lengths.sum(), 1))


def score(outputs: list[tuple[str, ...]], references: list[tuple[tuple[str, ...], ...]]) -> WordScores:
    correct, errors, lengths = [], [], []
    for out, refs in zip(outputs, references, strict=True):
        d, ref = min((edit_distance(out, r), len(r)) for r in refs)
        correct.append(d == 0)
        errors.append(d)
        lengths.append(ref)
    return WordScores(list(outputs), np.array(correct, dtype=bool), np.array(errors), np.array(lengths))


def transcribe(model, words: Words, beam: int = 1, batch_size: int = 1000) -> list[tuple[str, ...]]:
    """Each word's output: greedy (beam = 1) or beam search of that width."""
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(words), batch_size):
        letters = words.letters[start:start + batch_size].to(device)
        letters = letters[:, :max(1, int((letters > 0).sum(1).max()))]
        found = decode.greedy(model, letters) if beam == 1 else decode.beam(model, letters, beam)
        outputs += [decode_phonemes(row) for row in found.classes.cpu()]
    return outputs


def evaluate(model, words: Words, beam: int = 1) -> WordScores:
    return score(transcribe(model, words, beam), words.references)


def first_errors_by_position(scores: WordScores, references, positions: int = 12) -> list[float | None]:
    """Position t (0-based, end-of-word included): among words right up to t whose closest pronunciation
    has a token at t, the share that go wrong at t. None where no word reaches t."""
    wrong_at = np.zeros(positions)
    reached = np.zeros(positions)
    for out, refs in zip(scores.outputs, references):
        ref = min(refs, key=lambda r: (edit_distance(out, r), len(r)))
        out, ref = out + ("</w>",), ref + ("</w>",)
        for t in range(min(len(ref), positions)):
            reached[t] += 1
            if t >= len(out) or out[t] != ref[t]:
                wrong_at[t] += 1
                break
    return [float(w / r) if r else None for w, r in zip(wrong_at, reached)]


def paired(correct_a: np.ndarray, correct_b: np.ndarray) -> PairedDifference:
    """Accuracy (1 − WER) of B minus A over the same words, with its interval (lab.stats)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    return paired_from_counts(len(a), int((a & b).sum()), int((a & ~b).sum()), int((b & ~a).sum()))


def words_per_second(model, words: Words, beam: int = 1, repeats: int = 1) -> float:
    """Decoding throughput (best of `repeats`), the model as it is (device, threads)."""
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        transcribe(model, words, beam)
        best = min(best, time.perf_counter() - start)
    return len(words) / best


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
