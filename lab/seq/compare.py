"""The comparison: one student architecture, the same initial weights and the same batches,
taught four ways (labels, word-level KD, sequence-level KD, on-policy) plus the top-k API case,
on several seeds. A generator of `Progress` events (lab.experiments.common) whose last event
carries a JSON-able result — the contract of `python -m lab seq compare` (DIR/seq.json):

    {"task": "g2p-cmudict", "test_words": int,
     "teacher": {"params", "wer", "per", "words_per_s", ...},
     "methods": [{"name", "params", "wer": [per seed], "per": [per seed], "greedy_wer", "beam_wer",
                  "words_per_s", "teacher_tokens", ...}],
     "topk": [{"k", "wer": [per seed], ...}]}

Error rates are fractions over the first `test_words` held-out words (greedy decoding unless named
beam); greedy_wer / beam_wer are means over seeds. words_per_s: greedy decoding of `speed_words`
words, teacher and student timed alternately right after each run (same moment, same machine).
teacher_tokens: decoder positions the teacher evaluated to build the run's distillation corpus
(mean over seeds).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Iterator

import torch

from ..errors import ConfigError
from ..experiments.common import Progress, jsonable
from . import data as seq_data, decode, teacher as seq_teacher
from .metrics import evaluate, first_errors_by_position, paired, parameters, words_per_second
from .model import STUDENT, build
from .objectives import Labels, OnPolicy, SeqKD, WordKD
from .train import SeqTrainConfig, train, visited_rows

METHODS = ("labels", "word-kd", "seq-kd", "on-policy")
WARM_SEED = 1_000  # the warm start draws its batches apart from the methods' (seed + WARM_SEED)


@dataclass(frozen=True)
class CompareConfig:
    seeds: int = 3
    steps: int = 1200
    batch_size: int = 64
    lr: float = 3e-3
    test_words: int = 3000
    beam: int = 5                 # decoding width for the beam columns
    temperature: float = 2.0      # word-level KD
    alpha: float = 0.5
    seq_beam: int = 5             # the teacher's beam for sequence-level KD
    reference_share: float = 0.0  # share of references mixed into the sequence-level corpus
    student_share: float = 0.5    # on-policy λ: share of the batch that is the student's own samples
    beta: float = 0.5             # on-policy β: 0 forward KL ... 0.5 JSD ... 1 reverse KL
    top_k: tuple[int, ...] = (1, 5)
    methods: tuple[str, ...] = METHODS     # a page may run fewer; the CLI contract runs all four
    warm_steps: int = 0           # labels-only steps every method starts from (a shared warm start), 0 = none
    speed_words: int = 1000
    train_words: int | None = None    # only this many training words (tests, quick looks)

    def as_dict(self) -> dict:
        return asdict(self)


def objective_for(name: str, teacher, config: CompareConfig, corpus: dict):
    if name == "labels":
        return Labels()
    if name == "word-kd":
        return WordKD(teacher, config.temperature, config.alpha)
    if name == "seq-kd":
        return SeqKD(teacher, config.seq_beam, config.reference_share, corpus=corpus)
    if name == "on-policy":
        return OnPolicy(teacher, config.student_share, config.beta)
    if name.startswith("top"):
        return WordKD(teacher, config.temperature, config.alpha, top_k=int(name[3:]))
    raise ValueError(name)


def run(config: CompareConfig = CompareConfig(), teacher_folder=None, stop=None) -> Iterator[Progress]:
    g2p = seq_data.load(config.train_words)
    test = g2p.test.head(config.test_words)
    speed_set = g2p.test.head(config.speed_words)
    teacher, card = seq_teacher.load(teacher_folder or seq_teacher.ASSET)
    unknown = set(config.methods) - set(METHODS)
    if unknown:
        raise ConfigError(f"Unknown method(s) {', '.join(sorted(unknown))}. Choose from: {', '.join(METHODS)}.")
    names = [m for m in METHODS if m in config.methods] + [f"top{k}" for k in config.top_k]
    total = config.seeds * len(names)
    started = time.perf_counter()

    teacher_greedy, teacher_beam = evaluate(teacher, test), evaluate(teacher, test, config.beam)
    yield Progress("seq-compare", "teacher", 0, total, message=f"teacher: WER {teacher_greedy.wer:.1%} greedy, "
                                                              f"{teacher_beam.wer:.1%} beam {config.beam}")
    corpus: dict = {}  # the teacher's beam outputs, shared by the seq-kd runs of every seed
    corpus_info = None
    if "seq-kd" in names:
        corpus_info = yield from _generate_corpus(g2p.train, teacher, config, corpus, total)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    teacher_speeds: list[float] = []
    index = 0
    warm_seconds = []
    for seed in range(config.seeds):
        init = build(STUDENT, seed).state_dict()  # the same initial weights for every method of this seed
        if config.warm_steps:
            warm = build(STUDENT, seed)
            event = None
            for event in train(warm, g2p.train, Labels(), SeqTrainConfig(
                    steps=config.warm_steps, batch_size=config.batch_size, lr=config.lr, seed=WARM_SEED + seed), stop=stop):
                yield Progress("seq-compare", f"warm start seed={seed}", index, total, event)
            if event.kind != "finished":
                yield Progress("seq-compare", "warm start", index, total, event, event.kind, None, event.message)
                return
            init, warm_seconds = warm.state_dict(), warm_seconds + [event.result.metrics["seconds"]]
        for name in names:
            student = build(STUDENT, seed)
            student.load_state_dict(init)
            objective = objective_for(name, teacher, config, corpus)
            train_config = _train_config(config, seed)
            label = f"{name} seed={seed}"
            event = None
            for event in train(student, g2p.train, objective, train_config, stop=stop):
                yield Progress("seq-compare", label, index, total, event)
            if event.kind != "finished":
                yield Progress("seq-compare", label, index, total, event, event.kind, None, event.message)
                return
            greedy, beamed = evaluate(student, test), evaluate(student, test, config.beam)
            speed = []
            for _ in range(2):  # interleaved: teacher, student, teacher, student
                teacher_speeds.append(words_per_second(teacher, speed_set))
                speed.append(words_per_second(student, speed_set))
            runs[name].append({"seed": seed, "greedy": greedy, "beam": beamed, "words_per_s": max(speed),
                               "teacher_tokens": objective.teacher_tokens, "seconds": event.result.metrics["seconds"]})
            index += 1
            yield Progress("seq-compare", label, index, total, event,
                           message=f"{label}: WER {greedy.wer:.1%} greedy, {beamed.wer:.1%} beam "
                                   f"({event.result.metrics['seconds']:.0f} s, {objective.teacher_tokens:,} teacher tokens)")
    result = summarize(config, card, teacher, teacher_greedy, teacher_beam, teacher_speeds, runs, test)
    result["seq_kd_corpus"] = corpus_info
    result["warm_start"] = {"steps": config.warm_steps, "seconds": warm_seconds} if config.warm_steps else None
    result["examples"] = disagreements(teacher, test, {n: runs[n][0]["greedy"].outputs for n in config.methods})
    result["seconds"] = time.perf_counter() - started
    yield Progress("seq-compare", "", total, total, None, "finished", jsonable(result))


def _train_config(config: CompareConfig, seed: int) -> SeqTrainConfig:
    return SeqTrainConfig(steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=seed)


def _generate_corpus(pairs, teacher, config: CompareConfig, corpus: dict, total: int, chunk: int = 500):
    """Sequence-level KD's corpus, made before the runs (as Kim & Rush decode the training set once):
    the teacher's beam output for every word some seed's run will see. Its cost is the teacher's, not
    a student run's; each run is charged the teacher tokens of the words it uses."""
    started = time.perf_counter()
    rows = torch.cat([visited_rows(pairs, _train_config(config, seed)) for seed in range(config.seeds)]).tolist()
    first_row = {}
    for r in rows:
        first_row.setdefault(pairs.words[r], r)
    words = sorted(first_row, key=len)  # similar lengths decode together: the beam stops sooner
    maker = SeqKD(teacher, config.seq_beam, corpus=corpus)
    for start in range(0, len(words), chunk):
        part = words[start:start + chunk]
        letters = pairs.letters[[first_row[w] for w in part]].long()
        maker.generate(part, letters[:, :int((letters > 0).sum(1).max())])
        yield Progress("seq-compare", "seq-kd corpus", 0, total,
                       message=f"teacher beam corpus: {min(start + chunk, len(words)):,} of {len(words):,} words")
    return {"words": len(words), "beam": config.seq_beam, "seconds": time.perf_counter() - started,
            "teacher_tokens": sum(corpus[w][1] for w in words)}


def _row(name: str, runs: list[dict], baseline: list[dict] | None, references) -> dict:
    wer = [r["greedy"].wer for r in runs]
    beam_wer = [r["beam"].wer for r in runs]
    row = {"name": name, "wer": wer, "per": [r["greedy"].per for r in runs],
           "greedy_wer": statistics.fmean(wer), "beam_wer": statistics.fmean(beam_wer),
           "beam_wers": beam_wer, "beam_pers": [r["beam"].per for r in runs],
           "words_per_s": statistics.fmean(r["words_per_s"] for r in runs),
           "teacher_tokens": round(statistics.fmean(r["teacher_tokens"] for r in runs)),
           "train_seconds": [r["seconds"] for r in runs],
           "first_errors_by_position": _mean_by_position(
               [first_errors_by_position(r["greedy"], references) for r in runs])}
    if baseline:  # accuracy difference (method − labels) per seed, paired over the test words
        row["vs_labels"] = [paired(b["greedy"].correct, r["greedy"].correct).as_dict()
                            for b, r in zip(baseline, runs)]
    return row


def disagreements(teacher, test, outputs: dict[str, list], count: int = 12, candidates: int = 3) -> list[dict]:
    """Words where the methods' students (first seed, greedy) do not all agree, words with several
    pronunciations first, each with the teacher's most probable outputs and their probabilities: the
    dark knowledge over whole sequences that word-level and sequence-level KD pass on differently."""
    names = list(outputs)
    differ = [i for i in range(len(test)) if len({outputs[n][i] for n in names}) > 1]
    differ.sort(key=lambda i: -len(test.references[i]))
    chosen = sorted(differ[:count])
    if not chosen:
        return []
    letters = test.letters[chosen].long()
    _, n_best = decode.beam(teacher, letters[:, :int((letters > 0).sum(1).max())], max(candidates, 5),
                            n_best=candidates)
    return [{"word": test.words[i], "references": [" ".join(r) for r in test.references[i]],
             "outputs": {n: " ".join(outputs[n][i]) for n in names},
             "teacher": [{"output": " ".join(seq_data.decode_phonemes(c)), "probability": math.exp(s)}
                         for c, s in best]}
            for i, best in zip(chosen, n_best)]


def _mean_by_position(rows: list[list[float | None]]) -> list[float | None]:
    columns = [[v for v in column if v is not None] for column in zip(*rows)]
    return [statistics.fmean(c) if c else None for c in columns]


def summarize(config, card, teacher, teacher_greedy, teacher_beam, teacher_speeds, runs, test) -> dict:
    labels = runs.get("labels")
    methods = []
    for name in [m for m in METHODS if m in config.methods]:
        row = _row(name, runs[name], None if name == "labels" else labels, test.references)
        row["params"] = parameters(build(STUDENT, 0))
        methods.append(row)
    topk = []
    for k in config.top_k:
        row = _row(f"top{k}", runs[f"top{k}"], labels, test.references)
        topk.append({"k": k, **{key: row[key] for key in ("wer", "per", "greedy_wer", "beam_wer", "teacher_tokens",
                                                           "vs_labels") if key in row}})
    word = next((m for m in methods if m["name"] == "word-kd"), None)
    if topk and word is not None:
        topk.append({"k": "full", **{key: word[key] for key in ("wer", "per", "greedy_wer", "beam_wer", "teacher_tokens",
                                                                 "vs_labels") if key in word}, "same_runs_as": "word-kd"})
    return {"task": seq_data.TASK, "test_words": len(test),
            "teacher": {"params": parameters(teacher), "wer": teacher_greedy.wer, "per": teacher_greedy.per,
                        "beam_wer": teacher_beam.wer, "beam_per": teacher_beam.per,
                        "words_per_s": statistics.median(teacher_speeds) if teacher_speeds else None,
                        "card_metrics": card.get("metrics", {})},
            "methods": methods, "topk": topk, "seeds": list(range(config.seeds)), "settings": config.as_dict(),
            "student": STUDENT.as_dict(), "threads": torch.get_num_threads()}
