"""`python -m lab seq …` — the sequence part from a terminal (progress on stderr, results as JSON).

    python -m lab seq teacher --out DIR [--steps N]        train the G2P teacher and write its card
    python -m lab seq compare --out DIR [--seeds N]        the four methods and top-k -> DIR/seq.json

Registered in lab/cli like every other command group: `register(subparsers)` (alias `add_parser`)
adds the `seq` command; `run(args)` executes it.
"""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import torch

from ..errors import ConfigError
from ..cli.common import threads_option


def _progress(events, label: str):
    """Pass events through with a tqdm bar on stderr (steps, loss, words/s, dev WER)."""
    from tqdm import tqdm

    bar = None
    for event in events:
        if bar is None:
            bar = tqdm(total=getattr(event, "total_steps", None), desc=label, unit="step", file=sys.stderr,
                       dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 10.0)
        bar.update(event.step - bar.n)
        if event.kind == "step":
            bar.set_postfix({"loss": f"{event.loss:.3f}", "words/s": f"{event.words_per_s:,.0f}"}, refresh=False)
        elif event.kind == "eval":
            bar.write(f"{label}: step {event.step}, dev WER {event.dev_wer:.1%}", file=sys.stderr)
        yield event
    if bar is not None:
        bar.close()


def cmd_teacher(args) -> int:
    from . import data as seq_data, teacher as seq_teacher
    from .model import TEACHER, build
    from .objectives import Labels
    from .train import SeqTrainConfig, run_to_end, train

    config = SeqTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            report_every=50, eval_every=args.eval_every)
    g2p = seq_data.load()
    model = build(TEACHER, args.seed)
    result = run_to_end(_progress(train(model, g2p.train, Labels(), config, dev=g2p.dev.head(2000)), "teacher"))
    if result.status != "finished":
        print(f"error: {result.message}", file=sys.stderr)
        return 1
    metrics = seq_teacher.measure(model, g2p) | {"train_seconds": result.metrics["seconds"], "steps": config.steps,
                                                 "dev_wer": result.metrics.get("dev_wer")}
    command = (f"python -m lab seq teacher --out {shlex.quote(str(args.out))} --steps {args.steps} "
               f"--batch-size {args.batch_size} --lr {args.lr:g} --seed {args.seed} --threads {args.threads_used}")
    card = seq_teacher.make_card(model, metrics, command, train_config=config.as_dict(),
                                 threads=args.threads_used, history=result.history)
    seq_teacher.save(Path(args.out), model, card)
    print(json.dumps({k: card[k] for k in ("params", "metrics", "command")}, indent=2))
    return 0


def cmd_compare(args) -> int:
    from .compare import CompareConfig, run

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1 (got {args.seeds}).")
    config = CompareConfig(seeds=args.seeds)
    changes = {k: getattr(args, k) for k in ("steps", "warm_steps", "test_words", "speed_words", "train_words")
               if getattr(args, k) is not None}
    config = replace(config, **changes)
    result = None
    for p in run(config, teacher_folder=args.teacher):
        if p.message:
            print(p.message, file=sys.stderr, flush=True)
        if p.done:
            result = p.result
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "seq.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"out": str(out / "seq.json"), "methods": [
        {k: m[k] for k in ("name", "greedy_wer", "beam_wer")} for m in result["methods"]]}, indent=2))
    return 0


def run(args) -> int:
    args.threads_used = torch.get_num_threads()  # lab.cli.main applied --threads (lab.device.cap_threads)
    return args.seq_func(args)


def register(sub) -> None:
    p = sub.add_parser("seq", help="sequence distillation on G2P (CMUdict): teacher, compare")
    seq = p.add_subparsers(dest="seq_command", required=True)

    t = seq.add_parser("teacher", help="train the G2P teacher and write model.safetensors + model.json")
    t.add_argument("--out", required=True, help="folder for the weights and the card")
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=1000, help="steps between dev-set WER reports")
    t.set_defaults(seq_func=cmd_teacher)

    c = seq.add_parser("compare", help="labels, word-level KD, sequence-level KD, on-policy and top-k -> DIR/seq.json")
    c.add_argument("--out", required=True, help="folder for seq.json")
    c.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per method (default 3)")
    c.add_argument("--steps", type=int, help="training steps per student (default: the compare's default)")
    c.add_argument("--warm-steps", type=int, help="labels-only steps every method starts from (default: the compare's)")
    c.add_argument("--test-words", type=int, help="held-out words scored (default: the compare's default)")
    c.add_argument("--speed-words", type=int, help="words decoded to time teacher and students (default 1000)")
    c.add_argument("--train-words", type=int, help="only this many training words (quick looks; default: all)")
    c.add_argument("--teacher", default=None, help="teacher folder (default: the shipped assets/seq-teacher-g2p)")
    c.set_defaults(seq_func=cmd_compare)
    for q in (t, c):
        threads_option(q)
        q.set_defaults(func=run)


add_parser = register

