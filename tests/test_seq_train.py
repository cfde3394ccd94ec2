"""The objectives and the training loop, on tiny models and a slice of CMUdict: each objective computes
the loss its paper describes on the data it says (references, the teacher's beam outputs, the student's
own samples), counts the teacher's tokens, and the loop is a generator that can be stopped."""
import itertools

import pytest
import torch

from lab.seq import data, decode
from lab.seq.losses import gkd_divergence, token_nll, word_kd
from lab.seq.model import SeqModelConfig, build, decoder_inputs
from lab.seq.objectives import Batch, Labels, OnPolicy, SeqKD, WordKD
from lab.seq.train import SeqTrainConfig, train

TINY_TEACHER = SeqModelConfig(d_model=32, heads=2, encoder_layers=1, decoder_layers=1, ffn=64, dropout=0.0)
TINY_STUDENT = SeqModelConfig(d_model=16, heads=2, encoder_layers=1, decoder_layers=1, ffn=32, dropout=0.0)


@pytest.fixture(scope="module")
def g2p():
    return data.load(train_words=300)


@pytest.fixture(scope="module")
def teacher(g2p):
    return build(TINY_TEACHER, 1).eval()


def batch_of(pairs, rows):
    rows = torch.as_tensor(rows)
    return Batch(*pairs.batch(rows), rows, [pairs.words[r] for r in rows.tolist()])


def test_word_kd_at_alpha_zero_is_the_labels_loss(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    batch = batch_of(g2p.train, range(8))
    assert WordKD(teacher, 2.0, 0.0)(student, batch, None).item() == pytest.approx(
        Labels()(student, batch, None).item(), rel=1e-6)


def test_word_kd_scores_the_references_and_counts_each_row_once(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    objective = WordKD(teacher, 2.0, 0.7)
    batch = batch_of(g2p.train, range(8))
    with torch.no_grad():
        teacher_logits = teacher(batch.letters, decoder_inputs(batch.targets))
    expected = word_kd(student(batch.letters, decoder_inputs(batch.targets)), teacher_logits, batch.targets,
                       batch.lengths, 2.0, 0.7)
    assert objective(student, batch, None).item() == pytest.approx(expected.item(), rel=1e-6)
    assert objective.teacher_tokens == int(batch.lengths.sum())
    objective(student, batch_of(g2p.train, range(4, 12)), None)
    assert objective.teacher_tokens == int(g2p.train.lengths[:12].sum())


def test_seq_kd_learns_the_teachers_beam_output(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    corpus = {}
    objective = SeqKD(teacher, beam=3, corpus=corpus)
    batch = batch_of(g2p.train, range(6))
    loss = objective(student, batch, None)
    found = decode.beam(teacher, batch.letters, 3)
    for i, w in enumerate(batch.words):
        n = int((found.classes[i] != 0).sum()) + 1
        assert corpus[w][0].tolist() == found.classes[i, :n].tolist()
    lengths = (found.classes != 0).sum(1) + 1
    expected = token_nll(student(batch.letters, decoder_inputs(found.classes)), found.classes, lengths)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # The corpus is generated once per word; another run sharing it pays for the words it uses, again once.
    assert objective.teacher_tokens == found.positions
    objective(student, batch, None)
    assert objective.teacher_tokens == found.positions
    other = SeqKD(teacher, beam=3, corpus=corpus)
    other(student, batch, None)
    assert other.teacher_tokens == found.positions


def test_seq_kd_can_mix_in_references(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    batch = batch_of(g2p.train, range(4))
    all_references = SeqKD(teacher, beam=3, reference_share=1.0)(student, batch, None)
    assert all_references.item() == pytest.approx(Labels()(student, batch, None).item(), rel=1e-6)


def test_on_policy_without_student_samples_is_supervised_gkd(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    batch = batch_of(g2p.train, range(8))
    loss = OnPolicy(teacher, student_share=0.0, beta=1.0)(student, batch, torch.Generator().manual_seed(0))
    inputs = decoder_inputs(batch.targets)
    with torch.no_grad():
        p = torch.log_softmax(teacher(batch.letters, inputs), -1)
    q = torch.log_softmax(student(batch.letters, inputs), -1)
    mask = torch.arange(batch.targets.shape[1])[None] < batch.lengths[:, None]
    assert loss.item() == pytest.approx(gkd_divergence(p[mask], q[mask], 1.0).mean().item(), rel=1e-5)


def test_on_policy_trains_on_the_students_own_samples(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    batch = batch_of(g2p.train, range(8))
    objective = OnPolicy(teacher, student_share=1.0, beta=0.5)
    objective(student, batch, torch.Generator().manual_seed(3))
    assert student.training  # sampling switched to eval mode and back
    samples = decode.sample(student, batch.letters, torch.Generator().manual_seed(3))
    assert objective.teacher_tokens == samples.positions  # the teacher scored every prefix of every sample
    objective(student, batch, torch.Generator().manual_seed(4))
    assert objective.teacher_tokens > samples.positions  # new samples each step: paid for again


def test_the_loop_is_a_generator_that_learns_and_stops(g2p, teacher):
    student = build(TINY_STUDENT, 0)
    config = SeqTrainConfig(steps=40, batch_size=32, lr=1e-2, report_every=10)
    events = list(train(student, g2p.train, Labels(), config, dev=g2p.dev.head(20)))
    assert [e.kind for e in events] == ["start", "step", "step", "step", "step", "eval", "finished"]
    losses = [e.loss for e in events if e.kind == "step"]
    assert losses[-1] < losses[0]
    assert events[-1].result.metrics["dev_wer"] == events[-2].dev_wer
    stopped = itertools.islice(train(build(TINY_STUDENT, 0), g2p.train, Labels(), config, stop=lambda: True), 5)
    assert [e.kind for e in stopped] == ["start", "stopped"]


def test_same_seed_same_init_and_batches(g2p, teacher):
    config = SeqTrainConfig(steps=5, batch_size=16, report_every=5)
    runs = []
    for _ in range(2):
        student = build(TINY_STUDENT, 7)
        for _ in train(student, g2p.train, WordKD(teacher, 2.0, 0.5), config):
            pass
        runs.append(student.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
