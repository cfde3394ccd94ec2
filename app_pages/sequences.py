"""Sequences: distilling a sequence model (grapheme-to-phoneme on CMUdict, issue 18). The same small
student taught four ways — labels, word-level KD, sequence-level KD, on-policy — plus the top-k API
case, as ONE background job (lab.serve.tasks:seq_compare -> lab.seq.compare.run); the tables are
lab.seq.report's rows of the result, the KL picture lab.seq.modes + lab.figures.sequences."""
import json

import streamlit as st

from app_pages import _app as app
from lab.errors import ConfigError
from lab.figures import modes_chart
from lab.seq import limits, report, teacher as seq_teacher
from lab.seq.compare import METHODS, CompareConfig
from lab.seq.metrics import parameters
from lab.seq.model import STUDENT, build
from lab.seq.modes import fit_one_mode, two_modes
from lab.serve.tasks import seq_task

NAME = "seq"  # the experiment's name in this browser's jobs and the run history
QUICK, FULL = limits.QUICK, CompareConfig()
DEFAULTS = {"seq_methods": list(METHODS), "seq_steps": QUICK.steps, "seq_seeds": QUICK.seeds,
            "seq_T": QUICK.temperature, "seq_alpha": QUICK.alpha, "seq_lambda": QUICK.student_share,
            "seq_beta": QUICK.beta, "seq_topk": list(QUICK.top_k)}
SETTINGS = {"seq_methods": "methods", "seq_steps": "steps", "seq_seeds": "seeds", "seq_T": "temperature",
            "seq_alpha": "alpha", "seq_lambda": "student_share", "seq_beta": "beta", "seq_topk": "top_k"}

app.page_header("Sequences", "Beyond one label per image: distil a model that writes a sequence. A teacher "
                "transformer spells English words in phonemes; a student ten times smaller learns it four ways, "
                "on the same starting weights and the same batches.")
ss = st.session_state
for name, value in DEFAULTS.items():
    ss.setdefault(name, value)
# A kept value no widget could show (a crafted or outdated session) is put back to its default, with a sentence
unusable = limits.problems({setting: ss[name] for name, setting in SETTINGS.items()})
for setting, sentence in unusable.items():
    name = next(n for n, s in SETTINGS.items() if s == setting)
    app.set_value(name, DEFAULTS[name])
if unusable:
    st.warning(app.md_text("Some settings could not be used and are back to their defaults: "
                           + " ".join(unusable.values())), icon=":material/tune:")


def setting(widget, name: str, *args, **kwargs):
    return app.bound(widget, name, *args, **kwargs)


def shipped_card() -> dict:
    return json.loads((seq_teacher.ASSET / seq_teacher.CARD).read_text())


st.markdown("""
**The task:** grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary — *cat* → `K AE T`. A word is right
only if every phoneme is (word error rate, WER); the phoneme error rate (PER) counts the edits. Test words are never
seen in training.

**Four ways to teach the same student:**
- **labels only** — the dictionary's pronunciation, one token at a time.
- **word-level KD** — at every position, the teacher's softened next-phoneme distribution (the image lab's loss, per
  token): **T** softens it, **α** weighs it against the labels.
- **sequence-level KD** (Kim & Rush 2016) — train on the teacher's own beam-search outputs instead of the dictionary.
- **on-policy** (GKD, Agarwal et al. 2024) — the student writes its own sequences and the teacher scores every prefix:
  **λ** is the share of the batch the student generates, **β** moves the divergence from forward KL (0) through JSD
  to reverse KL (1, MiniLLM's choice).
- **top-k** — the API case: the teacher returns only its k most probable phonemes at each position.
""")

card = app.memo.get(("seq-teacher-card", str(seq_teacher.ASSET)), shipped_card)
student_params = app.memo.get(("seq-student-params",), lambda: parameters(build(STUDENT, 0)))
m = card.get("metrics", {})
c = st.columns(4)
c[0].metric("Teacher WER (greedy)", f"{m.get('wer', float('nan')):.1%}")
c[1].metric(f"Teacher WER (beam {m.get('beam', 5)})", f"{m.get('beam_wer', float('nan')):.1%}")
c[2].metric("Teacher PER", f"{m.get('per', float('nan')):.2%}")
c[3].metric("Parameters: teacher / student", f"{card.get('params', 0):,} / {student_params:,}")
st.caption(f"The shipped teacher (assets/seq-teacher-g2p) on all {m.get('test_words', 0):,} held-out words; "
           "published small-model results on CMUdict are 20–30 % WER (see its card). "
           f"The student: {STUDENT.d_model}-wide, {STUDENT.encoder_layers} + {STUDENT.decoder_layers} layers.")

st.subheader("Run the comparison")
c = st.columns([3, 1, 1])
with c[0]:
    methods = setting(st.multiselect, "seq_methods", "Methods", list(METHODS), format_func=report.NAMES.get,
                      help="Labels only is the baseline every other method is compared with, on the same test words.")
with c[1]:
    steps = setting(st.number_input, "seq_steps", "Steps per student", 1, limits.MAX_STEPS, step=50,
                    help=f"Optimizer steps of 64 words each after the shared warm start, the same for every method (at most {limits.MAX_STEPS:,}: "
                         "the command-line comparison's default).")
with c[2]:
    seeds = setting(st.number_input, "seq_seeds", "Seeds", 1, limits.MAX_SEEDS,
                    help="Each seed: new initial weights and batch order, shared by every method.")
c = st.columns(5)
with c[0]:
    T = setting(st.number_input, "seq_T", "T (word-level KD)", *limits.TEMPERATURE_RANGE, step=0.5)
with c[1]:
    alpha = setting(st.slider, "seq_alpha", "α — weight of the soft targets", 0.0, 1.0, step=0.05)
with c[2]:
    lam = setting(st.slider, "seq_lambda", "λ — share the student generates", 0.0, 1.0, step=0.05)
with c[3]:
    beta = setting(st.slider, "seq_beta", "β — forward (0) … reverse KL (1)", 0.0, 1.0, step=0.05)
with c[4]:
    top_k = setting(st.multiselect, "seq_topk", "Top-k teachers", list(limits.TOP_K_CHOICES),
                    help="Extra students taught by word-level KD from only the teacher's top k phonemes (each adds runs).")

try:
    config = limits.page_config(methods, steps=steps, seeds=seeds, temperature=T, alpha=alpha, student_share=lam,
                                beta=beta, top_k=top_k)
except ConfigError as e:
    app.show_error(app.md_text(f"These settings cannot run: {e} Change them above."), e)  # quotes the input
    config = None

st.caption(f":material/timer: A **short run** by default: one seed; every student starts from the same labels-only warm "
           f"start of {QUICK.warm_steps:,} steps, then trains {QUICK.steps} steps its own way; scored on the first "
           f"{QUICK.test_words} test words — about two minutes on this server, enough to watch the methods but "
           "mostly within noise of each other. "
           f"The full comparison ({FULL.steps:,} steps, {FULL.seeds} seeds, {FULL.test_words:,} words) is "
           "`python -m lab seq compare --out DIR`.")

key = json.dumps({"experiment": NAME, "dataset": "g2p-cmudict", "teacher": seq_teacher.ASSET.name,
                  "settings": None if config is None else config.as_dict()}, sort_keys=True, default=str)
result = None if config is None else app.experiment_result(key)
jobs = app.experiment_jobs(NAME)
job = jobs[-1] if jobs else None
busy = app.running_job()
b = st.columns([1, 3])
go = b[0].button("Run" if result is None else "Run again (recompute)", key="seq-run", type="primary",
                 disabled=busy is not None or config is None, width="stretch")
b[1].caption(f"{len(config.methods) + len(config.top_k) if config else 0} student(s) × {seeds} seed(s)."
             + ("  \nA run is in progress: wait for it or stop it." if busy is not None else ""))
if go and busy is None and config is not None:
    label = f"G2P · {', '.join(config.methods)} · {config.steps} steps · {config.seeds} seed(s)"
    app.start_experiment(NAME, key, label, seq_task(NAME, config))
    st.rerun()
if job is not None and (not job.done or job.result_key == key):
    app.experiment_panel(job)


def show(result: dict) -> None:
    t = result["teacher"]
    st.markdown(f"**On these {result['test_words']:,} test words** the teacher's WER is {t['wer']:.1%} greedy, "
                f"{t['beam_wer']:.1%} beam; it decodes {t['words_per_s']:,.0f} words/s. The whole run took "
                f"{app.fmt_seconds(result.get('seconds'))} (minutes:seconds) on {result.get('threads', '?')} thread(s).")
    st.dataframe(report.method_rows(result), hide_index=True, width="stretch",
                 column_config={"greedy WER %": st.column_config.NumberColumn(format="%.1f"),
                                "beam WER %": st.column_config.NumberColumn(format="%.1f"),
                                "PER % (greedy)": st.column_config.NumberColumn(format="%.2f"),
                                "words/s": st.column_config.NumberColumn(format="%.0f")})
    st.caption("Accuracy vs labels: the share of test words this student gets right minus the labels-only student's, "
               "on the same words, with an exact 95 % interval from the words only one of the two gets right "
               "(McNemar's exact test); *beyond noise* when the interval excludes 0. Teacher tokens: decoder "
               "positions the teacher evaluated to teach that student.")
    warm = result.get("warm_start")
    if warm:
        st.caption(f"Every student of a seed started from the same labels-only warm start of {warm['steps']:,} steps "
                   f"({sum(warm['seconds']):.0f} s), then trained {result['settings']['steps']:,} steps its own way.")
    if result.get("topk"):
        st.markdown("**Top-k: a teacher behind an API that returns only its k most probable phonemes**")
        st.dataframe(report.topk_rows(result), hide_index=True, width="stretch",
                     column_config={"greedy WER %": st.column_config.NumberColumn(format="%.1f"),
                                    "beam WER %": st.column_config.NumberColumn(format="%.1f")})
    examples = report.example_rows(result)
    if examples:
        st.markdown("**Words where the students disagree** (first seed, greedy), with the teacher's most probable "
                    "outputs: the dark knowledge over whole sequences.")
        st.dataframe(examples, hide_index=True, width="stretch")
    corpus = result.get("seq_kd_corpus")
    if corpus:
        st.caption(f"Sequence-level KD's corpus: the teacher's beam-{corpus['beam']} outputs for {corpus['words']:,} "
                   f"training words, {corpus['teacher_tokens']:,} teacher tokens, {corpus['seconds']:.0f} s.")


if result is not None:
    try:
        show(result)
    except Exception as e:  # an old or damaged result: a message, never a traceback
        app.show_error(f"This result cannot be shown ({app.md_text(type(e).__name__)}: {app.md_text(e)}). "
                       "Press Run again to recompute it.", e)
elif busy is None and config is not None and (job is None or job.result_key != key):
    st.info("Press **Run** to start. Progress shows here; you can leave the page and come back.",
            icon=":material/play_circle:")

st.subheader("Forward vs reverse KL: the picture behind β")
betas = sorted({0.0, float(beta), 1.0})
fits = [app.memo.get(("seq-modes", b), lambda b=b: fit_one_mode(two_modes(), b)) for b in betas]
st.plotly_chart(app.memo.get(("seq-modes-chart", tuple(betas)), lambda: modes_chart(fits)), width="stretch",
                key=f"seq-modes-{beta}")
st.caption("The teacher has two modes; the student only one bump. Forward KL (β = 0) pays wherever the teacher has "
           "mass the student lacks, so the bump spreads over both (mode-covering); reverse KL (β = 1) pays wherever the "
           "student puts mass the teacher lacks, so it settles on one mode (mode-seeking). Move β above to see "
           "the fit in between (lab/seq/modes.py).")
