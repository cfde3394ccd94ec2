"""Batched decoding with the key/value cache: greedy, beam search and sampling.

Every function takes (B, S) letter ids and returns (B, T) output classes, each row ending with
end-of-word (0) and padded with 0, plus how many decoder positions it ran (the cost in tokens:
one position of one hypothesis = one token, so a beam of width K costs about K times greedy).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import BOS, EOS, MAX_PHONEMES


@dataclass
class Decoded:
    classes: torch.Tensor    # (B, T) int64 classes, end-of-word included, 0-padded
    row_positions: torch.Tensor   # (B,) decoder positions evaluated per word (the teacher-token cost)
    log_probs: torch.Tensor | None = None   # (B,) total log-probability of each output (beam, sample)

    @property
    def positions(self) -> int:
        return int(self.row_positions.sum())


def _max_len(letters: torch.Tensor, max_len: int | None) -> int:
    # A pronunciation is rarely longer than its spelling + 3 (no CMUdict entry exceeds it by more than 4).
    return max_len or min(MAX_PHONEMES + 1, int((letters > 0).sum(1).max()) + 5)


@torch.no_grad()
def greedy(model, letters: torch.Tensor, max_len: int | None = None) -> Decoded:
    model.eval()
    max_len = _max_len(letters, max_len)
    memory, mask = model.encode(letters)
    cache = model.new_cache(memory, mask, max_len)
    b = letters.shape[0]
    out = torch.zeros(b, max_len, dtype=torch.long, device=letters.device)
    tokens = torch.full((b,), BOS, dtype=torch.long, device=letters.device)
    alive = torch.ones(b, dtype=torch.bool, device=letters.device)
    positions = torch.zeros(b, dtype=torch.long, device=letters.device)
    for t in range(max_len):
        positions += alive
        choice = model.step(tokens, cache).argmax(-1)
        if t == max_len - 1:
            choice = torch.full_like(choice, EOS)  # every output ends within max_len
        out[:, t] = torch.where(alive, choice, EOS)
        alive &= choice != EOS
        if not alive.any():
            return Decoded(out[:, :t + 1], positions)
        tokens = choice
    return Decoded(out, positions)


@torch.no_grad()
def sample(model, letters: torch.Tensor, generator: torch.Generator, temperature: float = 1.0,
           max_len: int | None = None) -> Decoded:
    """One output per word drawn from the model's own distribution (ancestral sampling)."""
    model.eval()
    max_len = _max_len(letters, max_len)
    memory, mask = model.encode(letters)
    cache = model.new_cache(memory, mask, max_len)
    b = letters.shape[0]
    out = torch.zeros(b, max_len, dtype=torch.long, device=letters.device)
    total = torch.zeros(b, device=letters.device)
    tokens = torch.full((b,), BOS, dtype=torch.long, device=letters.device)
    alive = torch.ones(b, dtype=torch.bool, device=letters.device)
    positions = torch.zeros(b, dtype=torch.long, device=letters.device)
    for t in range(max_len):
        positions += alive
        log_p = torch.log_softmax(model.step(tokens, cache).float() / temperature, -1)
        choice = torch.multinomial(log_p.exp(), 1, generator=generator)[:, 0]
        if t == max_len - 1:
            choice = torch.full_like(choice, EOS)  # every sample ends within max_len
        total += torch.where(alive, log_p.gather(1, choice[:, None])[:, 0], 0.0)
        out[:, t] = torch.where(alive, choice, EOS)
        alive &= choice != EOS
        if not alive.any():
            return Decoded(out[:, :t + 1], positions, total)
        tokens = choice
    return Decoded(out, positions, total)


@torch.no_grad()
def beam(model, letters: torch.Tensor, width: int = 5, max_len: int | None = None, n_best: int = 1):
    """Beam search (no length penalty): keeps the `width` most probable prefixes of every word; a prefix
    that ends leaves the beam as a finished hypothesis, and a word is done once its best finished
    hypothesis beats all its live ones (log-probabilities only fall as a prefix grows).
    Returns the best output per word (Decoded); with n_best > 1, also a list per word of its n best
    finished hypotheses as (classes tuple, log-probability), best first."""
    model.eval()
    max_len = _max_len(letters, max_len)
    b, k, device = letters.shape[0], width, letters.device
    memory, mask = model.encode(letters)
    cache = model.new_cache(memory, mask, max_len)
    model.reorder_cache(cache, torch.arange(b, device=device).repeat_interleave(k))
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0                                   # one live hypothesis per word at the start
    prefixes = torch.zeros(b, k, max_len, dtype=torch.long, device=device)   # EOS-padded
    best_score = torch.full((b,), float("-inf"), device=device)
    best = torch.zeros(b, max_len, dtype=torch.long, device=device)
    tokens = torch.full((b * k,), BOS, dtype=torch.long, device=device)
    rows = torch.arange(b, device=device)
    finished: list[list[tuple[float, tuple[int, ...]]]] = [[] for _ in range(b)]
    positions = torch.zeros(b, dtype=torch.long, device=device)
    for t in range(max_len):
        # A word's search is over once it cannot improve, even while others go on: count only that far.
        positions += torch.where(best_score < scores[:, 0], torch.isfinite(scores).sum(1), 0)
        log_p = torch.log_softmax(model.step(tokens, cache).float(), -1).view(b, k, -1)
        # Every live prefix may end here: its end-of-word extension is a finished hypothesis.
        end_scores = scores + log_p[..., EOS]            # (B, K)
        end_score, j = end_scores.max(1)
        better = end_score > best_score
        best = torch.where(better[:, None], prefixes[rows, j], best)   # the padding after the prefix is EOS
        best_score = torch.where(better, end_score, best_score)
        if n_best > 1:
            for i, jj in torch.isfinite(end_scores).nonzero().tolist():
                finished[i].append((end_scores[i, jj].item(), tuple(prefixes[i, jj, :t].tolist()) + (EOS,)))
        if t == max_len - 1:
            break
        # The K best continuations that do not end carry on.
        log_p[..., EOS] = float("-inf")
        scores, index = (scores[..., None] + log_p).view(b, -1).topk(k, dim=1)
        parent, token = index // log_p.shape[-1], index % log_p.shape[-1]
        prefixes = prefixes.gather(1, parent[..., None].expand(-1, -1, max_len))
        prefixes[:, :, t] = token
        model.reorder_cache(cache, (rows[:, None] * k + parent).view(-1))
        tokens = token.view(-1)
        if bool((best_score >= scores[:, 0]).all()):   # no live prefix can still win
            break
    length = int((best != EOS).sum(1).max()) + 1
    result = Decoded(best[:, :length], positions, best_score.cpu())
    if n_best == 1:
        return result
    return result, [[(c, s) for s, c in sorted(f, key=lambda x: -x[0])[:n_best]] for f in finished]
