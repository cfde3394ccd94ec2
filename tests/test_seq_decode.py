"""Decoding against references: the key/value cache gives the teacher-forced logits, greedy picks the
argmax at each step, beam search with a beam wide enough never to prune finds the exact most probable
output (checked by enumerating every output), and a sample's log-probability is what the model gives it."""
import itertools

import pytest
import torch

from lab.seq import decode
from lab.seq.data import EOS, NUM_CLASSES
from lab.seq.model import SeqModelConfig, build, decoder_inputs

TINY = SeqModelConfig(d_model=16, heads=2, encoder_layers=1, decoder_layers=2, ffn=32, dropout=0.0)


@pytest.fixture(scope="module")
def model():
    m = build(TINY, 0).eval()
    with torch.no_grad():  # sharper than at init, so outputs differ between words
        for p in m.parameters():
            p.mul_(3)
    return m


@pytest.fixture
def letters():
    return torch.tensor([[3, 1, 20, 0], [4, 15, 7, 19], [1, 0, 0, 0]])


def sequence_log_prob(model, letters, outputs):
    """Σ_t log p(y_t | y_<t, x) by one teacher-forced pass (outputs end with EOS, 0-padded)."""
    with torch.no_grad():
        log_p = torch.log_softmax(model(letters, decoder_inputs(outputs)).double(), -1)
    picked = log_p.gather(2, outputs[..., None])[..., 0]
    lengths = (outputs != EOS).sum(1) + 1
    mask = torch.arange(outputs.shape[1])[None] < lengths[:, None]
    return (picked * mask).sum(1)


def test_cached_steps_equal_teacher_forcing(model, letters):
    targets = torch.tensor([[5, 9, 2, 0], [7, 7, 0, 0], [1, 2, 3, 0]])
    inputs = decoder_inputs(targets)
    with torch.no_grad():
        full = model(letters, inputs)
        memory, mask = model.encode(letters)
        cache = model.new_cache(memory, mask, 4)
        steps = torch.stack([model.step(inputs[:, t], cache) for t in range(4)], 1)
    assert torch.allclose(full, steps, atol=1e-5)


def test_greedy_takes_the_argmax_given_its_own_prefix(model, letters):
    out = decode.greedy(model, letters, max_len=6)
    for b in range(3):
        prefix = []
        for t in range(out.classes.shape[1]):
            with torch.no_grad():
                logits = model(letters[b:b + 1], decoder_inputs(torch.tensor([prefix + [0]])))
            choice = int(logits[0, -1].argmax()) if t < 5 else EOS  # max_len 6: the last step ends the word
            assert out.classes[b, t] == choice
            if choice == EOS:
                break
            prefix.append(choice)
        assert out.row_positions[b] == len(prefix) + 1


def test_beam_without_pruning_finds_the_exact_most_probable_output(model, letters):
    """max_len 3: every output is (EOS), (a, EOS) or (a, b, EOS); a beam of 39² never prunes any prefix."""
    max_len = 3
    phones = range(1, NUM_CLASSES)
    candidates = [[0, 0, 0]] + [[a, 0, 0] for a in phones] + [[a, b, 0] for a, b in itertools.product(phones, phones)]
    candidates = torch.tensor(candidates)
    found, n_best = decode.beam(model, letters, width=39 * 39, max_len=max_len, n_best=3)
    for b in range(3):
        scores = sequence_log_prob(model, letters[b:b + 1].expand(len(candidates), -1), candidates)
        best = candidates[scores.argmax()]
        assert found.classes[b, :int((best != 0).sum()) + 1].tolist() == best[:int((best != 0).sum()) + 1].tolist()
        assert found.log_probs[b].item() == pytest.approx(scores.max().item(), abs=1e-4)
        top3 = scores.topk(3).values.tolist()
        assert [s for _, s in n_best[b]] == pytest.approx(top3, abs=1e-4)


def test_a_wider_beam_never_finds_a_worse_output_here(model, letters):
    scores = [decode.beam(model, letters, width=k, max_len=6).log_probs for k in (1, 3, 10)]
    assert (scores[1] >= scores[0] - 1e-5).all() and (scores[2] >= scores[1] - 1e-5).all()
    greedy = decode.greedy(model, letters, max_len=6)
    assert (scores[2] >= sequence_log_prob(model, letters, greedy.classes).float() - 1e-4).all()


def test_samples_are_scored_by_their_own_log_probability(model, letters):
    g = torch.Generator().manual_seed(0)
    s = decode.sample(model, letters, g, max_len=6)
    assert torch.allclose(s.log_probs.double(), sequence_log_prob(model, letters, s.classes), atol=1e-4)
    assert (s.classes[:, -1] == EOS).all()
    draws = {tuple(decode.sample(model, letters[:1], g, max_len=6).classes[0].tolist()) for _ in range(20)}
    assert len(draws) > 1  # sampling, not argmax
