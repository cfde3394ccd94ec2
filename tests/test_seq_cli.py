"""`python -m lab seq compare` writes DIR/seq.json with the issue's contract (a check relies on the names),
here with a tiny teacher and a few steps; and the teacher's checkpoint loads strictly."""
import json

import pytest
import torch

from lab.cli import main
from lab.errors import CheckpointError
from lab.seq import teacher as seq_teacher
from lab.seq.model import SeqModelConfig, build

TINY_TEACHER = SeqModelConfig(d_model=32, heads=2, encoder_layers=1, decoder_layers=1, ffn=64, dropout=0.0)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq-teacher")
    model = build(TINY_TEACHER, 0)
    seq_teacher.save(folder, model, seq_teacher.make_card(model, {"wer": 1.0}, "a test"))
    return folder


def test_teacher_checkpoint_round_trips_and_refuses_damage(teacher_dir, tmp_path):
    model, card = seq_teacher.load(teacher_dir)
    original = build(TINY_TEACHER, 0)
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in model.state_dict().items())
    assert card["task"] == "g2p-cmudict" and card["params"] == sum(p.numel() for p in original.parameters())
    (tmp_path / "model.json").write_text((teacher_dir / "model.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="does not fit"):
        seq_teacher.load(tmp_path)
    with pytest.raises(CheckpointError, match="holds no G2P teacher"):
        seq_teacher.load(tmp_path / "missing")


def test_compare_writes_the_contract(teacher_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["seq", "compare", "--out", str(out), "--seeds", "2", "--steps", "2", "--warm-steps", "2", "--test-words", "30",
                 "--speed-words", "30", "--train-words", "200", "--teacher", str(teacher_dir), "--threads", "1"]) == 0
    result = json.loads((out / "seq.json").read_text())
    assert result["task"] == "g2p-cmudict" and result["test_words"] == 30
    assert {"params", "wer", "per", "words_per_s"} <= set(result["teacher"])
    assert [m["name"] for m in result["methods"]] == ["labels", "word-kd", "seq-kd", "on-policy"]
    for m in result["methods"]:
        assert {"name", "params", "wer", "per", "greedy_wer", "beam_wer", "words_per_s", "teacher_tokens"} <= set(m)
        assert len(m["wer"]) == len(m["per"]) == 2
        assert all(0 <= x <= 1 for x in m["wer"] + [m["greedy_wer"], m["beam_wer"]])
        assert all(x >= 0 for x in m["per"])  # edits per reference phoneme: insertions can take it past 1
        assert m["greedy_wer"] == pytest.approx(sum(m["wer"]) / 2)
        assert m["beam_wer"] == pytest.approx(sum(m["beam_wers"]) / 2)
        assert m["words_per_s"] > 0 and isinstance(m["teacher_tokens"], int)
    tokens = {m["name"]: m["teacher_tokens"] for m in result["methods"]}
    assert tokens["labels"] == 0 and min(tokens["word-kd"], tokens["seq-kd"], tokens["on-policy"]) > 0
    assert [t["k"] for t in result["topk"]] == [1, 5, "full"]
    assert all(len(t["wer"]) == 2 for t in result["topk"])
    word_kd = next(m for m in result["methods"] if m["name"] == "word-kd")
    assert result["topk"][-1]["wer"] == word_kd["wer"]   # full top-k is word-level KD itself
    assert {"low", "high", "only_a", "only_b"} <= set(word_kd["vs_labels"][0])
    assert result["warm_start"]["steps"] == 2 and len(result["warm_start"]["seconds"]) == 2
