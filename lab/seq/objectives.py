"""Four ways to teach the same student, as objectives the one training loop calls:

    objective(student, batch, generator) -> loss

`batch` holds the rows' letters, reference targets, lengths and row numbers. Each objective counts
`teacher_tokens`: decoder positions the teacher evaluated to build what the student learns from —
scored references (word-level), beam hypotheses (sequence-level) or scored student samples
(on-policy). A position is one token of one hypothesis, whatever the model does with it.

    Labels()                              the references, cross-entropy per token
    WordKD(teacher, T, α, top_k)          Hinton's loss at every position of the references (Kim & Rush's
                                          word-level KD); top_k: the teacher answers like an API that
                                          returns only its k most probable tokens
    SeqKD(teacher, beam, reference_share) cross-entropy on the teacher's beam output (Kim & Rush's
                                          sequence-level KD), optionally a share of references mixed in
    OnPolicy(teacher, λ, β, T)            GKD (Agarwal et al. 2024): a share λ of the batch is the student's
                                          own samples, the teacher scores each of their prefixes, and the
                                          student minimises a divergence from forward (β = 0) to reverse KL
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..losses import check_temperature_alpha
from . import decode
from .losses import on_policy_loss, token_nll, top_k_log_probs, word_kd
from .model import decoder_inputs


@dataclass
class Batch:
    letters: torch.Tensor    # (B, S) int64 letter ids
    targets: torch.Tensor    # (B, T) int64 reference classes, EOS-terminated, 0-padded
    lengths: torch.Tensor    # (B,) phonemes + 1
    rows: torch.Tensor       # (B,) row numbers in the training pairs (a row = one word and one pronunciation)
    words: list[str]         # (B,) the rows' spellings (a word with two pronunciations has two rows)


def _teacher_logits(teacher, letters, targets) -> torch.Tensor:
    with torch.no_grad():
        return teacher(letters, decoder_inputs(targets))


class Labels:
    name = "labels"
    teacher_tokens = 0

    def __call__(self, student, batch: Batch, generator) -> torch.Tensor:
        return token_nll(student(batch.letters, decoder_inputs(batch.targets)), batch.targets, batch.lengths)


class WordKD:
    """The teacher scores each reference once per row; a row seen again is scored again (cheaper here
    than keeping every distribution) but counted once: the corpus is what it would cost to keep."""

    def __init__(self, teacher, temperature: float = 2.0, alpha: float = 0.5, top_k: int | None = None):
        check_temperature_alpha(temperature, alpha)
        if top_k is not None and top_k < 1:
            raise ConfigError(f"Top-k needs k of at least 1 (got {top_k}); leave it out for the full distribution.")
        self.teacher, self.temperature, self.alpha, self.top_k = teacher.eval(), temperature, alpha, top_k
        self.name = "word-kd" if top_k is None else f"word-kd-top{top_k}"
        self.teacher_tokens, self._scored = 0, set()

    def __call__(self, student, batch: Batch, generator) -> torch.Tensor:
        fresh = [i for i, r in enumerate(batch.rows.tolist()) if r not in self._scored]
        self._scored.update(batch.rows[fresh].tolist())
        self.teacher_tokens += int(batch.lengths[fresh].sum())
        teacher = top_k_log_probs(_teacher_logits(self.teacher, batch.letters, batch.targets), self.top_k)
        logits = student(batch.letters, decoder_inputs(batch.targets))
        return word_kd(logits, teacher, batch.targets, batch.lengths, self.temperature, self.alpha)


class SeqKD:
    """The teacher decodes each training word once with beam search (memoised: the distillation corpus);
    the student learns its outputs as if they were the references."""

    name = "seq-kd"

    def __init__(self, teacher, beam: int = 5, reference_share: float = 0.0, corpus: dict | None = None):
        """`corpus`: a dict shared between runs (e.g. seeds) with the same teacher and beam width, so the
        teacher decodes each word once; every run still counts the cost of the words it used."""
        if not (isinstance(beam, int) and beam >= 1):
            raise ConfigError(f"The beam width must be a whole number of at least 1 (got {beam}).")
        if not 0 <= reference_share <= 1:
            raise ConfigError(f"The share of references must lie between 0 and 1 (got {reference_share}).")
        self.teacher, self.beam, self.reference_share = teacher.eval(), beam, reference_share
        # word -> (the teacher's output: 1-D classes, EOS-terminated; the decoder positions it cost)
        self.outputs = {} if corpus is None else corpus
        self.teacher_tokens, self._used = 0, set()

    def generate(self, words: list[str], letters: torch.Tensor) -> None:
        """Decode the words not yet in the corpus (letters: their (N, S) ids, one row per word)."""
        fresh = {w: i for i, w in enumerate(words) if w not in self.outputs}  # one row per new word
        if fresh:
            found = decode.beam(self.teacher, letters[list(fresh.values())], self.beam)
            for w, classes, cost in zip(fresh, found.classes, found.row_positions.tolist()):
                self.outputs[w] = (classes[:int((classes != 0).sum()) + 1].clone(), cost)

    def corpus(self, batch: Batch) -> list[torch.Tensor]:
        self.generate(batch.words, batch.letters)
        for w in set(batch.words) - self._used:
            self._used.add(w)
            self.teacher_tokens += self.outputs[w][1]
        return [self.outputs[w][0] for w in batch.words]

    def __call__(self, student, batch: Batch, generator) -> torch.Tensor:
        outputs = self.corpus(batch)
        keep = round(self.reference_share * len(outputs))  # the batch is shuffled: its first rows are a random share
        targets = [batch.targets[i, :batch.lengths[i]] for i in range(keep)] + outputs[keep:]
        padded = torch.nn.utils.rnn.pad_sequence(targets, batch_first=True)
        lengths = torch.tensor([len(t) for t in targets], device=padded.device)
        return token_nll(student(batch.letters, decoder_inputs(padded)), padded, lengths)


class OnPolicy:
    """A share λ of every batch: outputs the student samples itself (at temperature 1, no gradient through
    the sampling, as in GKD); the rest: the references. The teacher scores every prefix of both and the
    student minimises gkd_divergence(teacher ‖ student) at each position."""

    name = "on-policy"

    def __init__(self, teacher, student_share: float = 0.5, beta: float = 0.5, temperature: float = 1.0):
        if not 0 <= student_share <= 1:
            raise ConfigError(f"λ (the share of student samples) must lie between 0 and 1 (got {student_share}).")
        if not 0 <= beta <= 1:
            raise ConfigError(f"β must lie between 0 (forward KL) and 1 (reverse KL); got {beta}.")
        check_temperature_alpha(temperature, 0.0)
        self.teacher, self.student_share, self.beta, self.temperature = teacher.eval(), student_share, beta, temperature
        self.teacher_tokens, self._scored = 0, set()

    def __call__(self, student, batch: Batch, generator) -> torch.Tensor:
        own = round(self.student_share * len(batch.rows))
        targets, lengths = batch.targets, batch.lengths
        # References are scored once per row (as in WordKD); samples are new each time, so always paid for.
        fresh = [i for i, r in enumerate(batch.rows.tolist()) if i >= own and r not in self._scored]
        self._scored.update(batch.rows[fresh].tolist())
        self.teacher_tokens += int(lengths[fresh].sum())
        if own:
            samples = decode.sample(student, batch.letters[:own], generator).classes
            student.train()
            width = max(samples.shape[1], targets.shape[1])
            targets = torch.cat([_pad(samples, width), _pad(targets[own:], width)])
            lengths = torch.cat([(samples != 0).sum(1) + 1, lengths[own:]])
            self.teacher_tokens += int(lengths[:own].sum())
        inputs = decoder_inputs(targets)
        with torch.no_grad():
            teacher_logits = self.teacher(batch.letters, inputs)
        return on_policy_loss(student(batch.letters, inputs), teacher_logits, lengths, self.beta, self.temperature)


def _pad(classes: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(classes, (0, width - classes.shape[1]))
