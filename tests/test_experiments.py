"""The experiments of issue 5 (lab/experiments), driven through `python -m lab …` on tiny
settings (1-2 epochs, small grids): the JSON each command writes, and the invariants that make
each experiment mean what it says — shared initial weights, a transfer set without the omitted
class, a bias slider that never retrains, hostile input refused with one `error:` line."""
import json
import subprocess
import sys
import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from helpers import one_error_line
from lab.cli import main
from lab.experiments import common, ensemble, omit, sweep, transfer_size
from lab.experiments.conventions import translate
from lab.stacking import StackedModels


@pytest.fixture(scope="session", autouse=True)
def _threads_for_a_shared_machine():
    """Use the cores other processes leave free, as the CLI does (before the session's teacher
    trains): on a busy 2-core machine two threads wait on each other and run several times slower."""
    from lab.device import cap_threads
    cap_threads()


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))


@pytest.fixture
def engine(monkeypatch):
    """Every run an experiment hands to the training engine: its students' initial weights,
    the labels of its training set, its objective and config."""
    calls = []
    real = common.train

    def spy(model, dataset, objective, config, stop=None, **kwargs):
        members = model.unstack() if isinstance(model, StackedModels) else [model]
        initial = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in members]
        calls.append(SimpleNamespace(initial=initial, labels=dataset.train_labels.cpu().clone(),
                                     objective=objective, config=config))
        return real(model, dataset, objective, config, stop, **kwargs)
    monkeypatch.setattr(common, "train", spy)
    return calls


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run_cli(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def written(out, name, printed):
    data = json.loads((out / name).read_text())
    # stdout and the file agree (a large result, such as omit's stored logits, prints only its path)
    assert data == printed or printed == {"written": str(out / name)}
    return data


# ---------------------------------------------------------------- sweep

def separately_trained_accuracy(dataset, seed, epochs, T=None, alpha=0.0, teacher=None, arch="student-mlp"):
    """Test accuracy of one student trained on its own (not stacked), with an experiment's student
    schedule: labels only at α = 0, else KD from the teacher's cached training logits."""
    from lab.losses import HardLabels, SoftTargets
    from lab.metrics import accuracy
    from lab.recipes import teacher_train_logits
    from lab.train import run_to_end, train
    student = common.fresh_student(arch, dataset, seed)
    objective = HardLabels() if alpha == 0 else SoftTargets(
        T, alpha, teacher_logits=teacher_train_logits(teacher, dataset, "cpu"))
    run_to_end(train(student, dataset, objective, common.student_config(epochs, seed, "cpu")))
    return accuracy(common.test_logits(student, dataset), dataset.test_labels.cpu())


def test_sweep_json_and_shared_initial_weights(trained_teacher, sample, tmp_path, capsys, engine):
    out = tmp_path / "out"
    printed = run_cli(capsys, "sweep", "--teacher", str(trained_teacher[1]), "--temperatures", "2,8",
                      "--alphas", "0,0.5,1", "--seeds", "0,1", "--epochs", "1", "--out", str(out))
    result = written(out, "sweep.json", printed)
    assert result["temperatures"] == [2, 8] and result["alphas"] == [0, 0.5, 1] and result["seeds"] == [0, 1]
    hard = result["hard_label_accuracies"]
    assert len(hard) == 2 and all(0.5 < a <= 1 for a in hard)  # one epoch of an MLP: well above chance
    assert [(c["temperature"], c["alpha"]) for c in result["cells"]] == [(t, a) for t in (2, 8) for a in (0, 0.5, 1)]
    for cell in result["cells"]:
        assert len(cell["accuracies"]) == 2 and all(0 <= a <= 1 for a in cell["accuracies"])
        assert cell["gain"] == pytest.approx(cell["mean"] - result["hard_label_mean"])  # paired, same images
        assert cell["gain_low"] <= cell["gain"] <= cell["gain_high"]
    best = result["best"]  # chosen on one half of the test images, reported on the other
    assert (best["selection_size"], best["report_size"]) == (500, 500) and result["gain_method"] == "bootstrap"
    assert best["labels_only"] or (best["temperature"], best["alpha"]) in [(2, 0.5), (2, 1), (8, 0.5), (8, 1)]
    # stacked = separate (issue 9 item 5): the stack's labels-only member and a KD cell are the
    # students trained on their own with the same seed and settings, to the test image
    calls = len(engine)
    assert hard == [separately_trained_accuracy(sample, seed, 1) for seed in (0, 1)]
    kd = next(c for c in result["cells"] if (c["temperature"], c["alpha"]) == (8, 0.5))
    assert kd["accuracies"][1] == separately_trained_accuracy(sample, 1, 1, 8.0, 0.5, trained_teacher[0])
    del engine[calls:]  # (the reference runs went through the engine too)
    # student-mlp stacks: one engine run per seed, baseline + 2 T × 2 α>0 members, all from one init
    assert [c.config.seed for c in engine] == [0, 1] and [len(c.initial) for c in engine] == [5, 5]
    for call in engine:
        assert all(same_weights(call.initial[0], m) for m in call.initial[1:])
    assert not same_weights(engine[0].initial[0], engine[1].initial[0])  # seeds differ


def test_the_sweeps_best_cell_is_chosen_on_one_half_of_the_test_images_and_reported_on_the_other():
    """No winner's curse: 1,000 test images, labels-only right on 900 of them. T=2 gains 10 images,
    all in the selection half; T=8 gains 6, all in the report half. Chosen on the selection half:
    T=2, whose report-half accuracy equals the labels' (its gain there is 0, within noise). The old
    code named the best full-test mean (T=2, +1.0 point) and History recorded it as measured."""
    import numpy as np
    labels = torch.arange(1000) % 10
    selection, report = ensemble.selection_split(labels, 0.5, 0)
    base = np.zeros(1000, bool)
    base[:900] = True
    wrong_sel = [i for i in selection.tolist() if not base[i]][:10]
    wrong_rep = [i for i in report.tolist() if not base[i]][:6]
    t2, t8 = base.copy(), base.copy()
    t2[wrong_sel] = True
    t8[wrong_rep] = True
    config = sweep.SweepConfig(temperatures=(2.0, 8.0), alphas=(0.0, 0.9), seeds=(0,))
    right = {"labels": [base], (2.0, 0.0): [base], (8.0, 0.0): [base], (2.0, 0.9): [t2], (8.0, 0.9): [t8]}
    accuracies = {key: [float(v[0].mean())] for key, v in right.items() if key != "labels"}
    result = sweep.summarize(config, [0.9], accuracies, right, labels)
    best = result["best"]
    assert (best["temperature"], best["alpha"], best["labels_only"]) == (2.0, 0.9, False)
    assert (best["selection_size"], best["report_size"]) == (500, 500)
    assert best["selection_accuracy"] == pytest.approx(base[selection].mean() + 10 / 500)
    assert best["report_accuracy"] == best["labels_report_accuracy"] == pytest.approx(base[report].mean())
    assert best["gain"] == 0 and best["gain_within_noise"]
    # every cell keeps its own full-test number and paired interval: T=2 +1.0 point (0 vs 10 discordant
    # images: McNemar p = 0.002, beyond noise), T=8 +0.6 (0 vs 6: p = 0.031, beyond noise)
    cells = {(c["temperature"], c["alpha"]): c for c in result["cells"]}
    assert cells[(2.0, 0.9)]["gain"] == pytest.approx(0.010) and not cells[(2.0, 0.9)]["gain_within_noise"]
    assert cells[(8.0, 0.9)]["gain"] == pytest.approx(0.006) and not cells[(8.0, 0.9)]["gain_within_noise"]
    assert cells[(2.0, 0.0)]["gain"] == 0 and cells[(2.0, 0.0)]["gain_within_noise"]
    # History records the chosen cell as measured on the half it was not chosen on
    assert common.result_summary("sweep", result)["test_accuracy"] == best["report_accuracy"]
    # a tie on the selection half keeps the labels-only baseline: nothing distilled is named
    right[(2.0, 0.9)] = [base]
    best = sweep.summarize(config, [0.9], accuracies, right, labels)["best"]
    assert best["labels_only"] and best["temperature"] is None


def test_a_diverged_grid_member_is_marked_and_the_others_are_their_separate_runs(sample, monkeypatch):
    small = sample.subset(torch.arange(0, len(sample.train_labels), 10))

    class SecondBroken(StackedModels):  # member 1's logits are inf - inf = nan from the first step
        def __init__(self, models):
            with torch.no_grad():
                models[1].head.weight.fill_(float("inf"))
            super().__init__(models)
    monkeypatch.setattr(common, "StackedModels", SecondBroken)
    logits = 6 * torch.nn.functional.one_hot(small.train_labels, 10).float()
    grid = common.train_grid(common.Runs("sweep", 1), "seed=0", "student-mlp", small, 0,
                             [(1.0, 0.0), (4.0, 0.9), (2.0, 0.5)], logits, common.student_config(1, 0, "cpu"))
    try:
        while True:
            next(grid)
    except StopIteration as done:
        students = done.value
    assert [getattr(s, "diverged", False) for s in students] == [False, True, False]
    alone = common.fresh_student("student-mlp", small, 0)
    from lab.losses import HardLabels
    from lab.train import run_to_end, train
    run_to_end(train(alone, small, HardLabels(), common.student_config(1, 0, "cpu")))
    assert all(torch.equal(a, b) for a, b in zip(alone.state_dict().values(), students[0].state_dict().values()))


def test_a_cnn_sweep_trains_cell_by_cell_from_the_same_weights(trained_teacher, sample, engine):
    """BatchNorm students cannot be stacked: separate runs, the same initial weights all the same."""
    config = sweep.SweepConfig(student="student-cnn-tiny", temperatures=(4.0,), alphas=(0.0, 0.9), seeds=(0,),
                               epochs=1, device="cpu")
    small = sample.subset(torch.arange(0, len(sample.train_labels), 8))
    result = common.finish(sweep.run(small, trained_teacher[0], config)).result
    assert len(engine) == 2 and all(len(c.initial) == 1 for c in engine)
    assert same_weights(engine[0].initial[0], engine[1].initial[0])
    assert [type(c.objective).__name__ for c in engine] == ["HardLabels", "SoftTargets"]
    calls = len(engine)
    assert result["hard_label_accuracies"] == [separately_trained_accuracy(small, 0, 1, arch="student-cnn-tiny")]
    del engine[calls:]


def test_a_sweep_is_cached_by_config_and_a_stopped_one_is_not(trained_teacher, sample, engine):
    config = sweep.SweepConfig(temperatures=(4.0,), alphas=(0.5,), seeds=(0,), epochs=1, device="cpu")
    first = common.finish(sweep.experiment(sample, trained_teacher[0], config))
    assert first.status == "finished" and len(engine) == 1
    again = common.finish(sweep.experiment(sample, trained_teacher[0], config))
    assert again.message == "from cache" and again.result == json.loads(json.dumps(common.jsonable(first.result)))
    assert len(engine) == 1  # nothing retrained
    stop = threading.Event()
    last = None
    for last in sweep.experiment(sample, trained_teacher[0], replace(config, seeds=(1,)), stop=stop):
        if last.event is not None and last.event.kind == "step":
            stop.set()  # what the app's Stop button does
    stopped = last
    assert stopped.status == "stopped" and stopped.result is None
    assert len(list(common.cache_dir().glob("*.json"))) == 1  # the stopped run left no entry


def test_sessions_finishing_the_same_experiment_at_once_all_write_its_cache(sample, tmp_path, monkeypatch):
    """Four sessions run the same experiment and finish together: each stores the result through
    its own temporary file (a fixed "<key>.tmp" made all but one fail with FileNotFoundError)."""
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path))
    teacher, writers = torch.nn.Linear(2, 2), 4
    barrier, errors = threading.Barrier(writers), []

    def run():  # every session is past its cache check before any of them writes
        barrier.wait()
        yield common.Progress("race", "", 0, 0, None, "finished", {"accuracy": 0.5})

    def session():
        try:
            assert common.finish(common.cached("race", {"seed": 0}, sample, [teacher], run)).result == {"accuracy": 0.5}
        except Exception as e:  # noqa: BLE001 - collected, then asserted empty
            errors.append(repr(e))

    for _ in range(10):
        for entry in tmp_path.iterdir():
            entry.unlink()
        threads = [threading.Thread(target=session) for _ in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [p.suffix for p in tmp_path.iterdir()] == [".json"]  # one entry, no temp file left
    assert errors == []
    assert common.finish(common.cached("race", {"seed": 0}, sample, [teacher], run)).message == "from cache"


# ---------------------------------------------------------------- the omitted class

def test_omit_json_and_the_class_never_reaches_training(trained_teacher, sample, tmp_path, capsys, engine,
                                                        monkeypatch):
    chosen = []  # every automatic bias the experiment picks: (held-out images, class, prior) -> bias
    real_bias_for_prior = omit.bias_for_prior

    def bias_spy(logits, cls, prior):
        chosen.append((len(logits), cls, prior, real_bias_for_prior(logits, cls, prior)))
        return chosen[-1][-1]
    monkeypatch.setattr(omit, "bias_for_prior", bias_spy)
    out = tmp_path / "out"
    printed = run_cli(capsys, "omit", "--teacher", str(trained_teacher[1]), "--class", "3", "--epochs", "2",
                      "--out", str(out))
    result = written(out, "omit.json", printed)
    assert result["class"] == 3
    # like for like: both students get the same correction, each its own bias chosen by the same rule on
    # the same held-out images (the old code corrected only the distilled one)
    prior = (sample.train_labels == 3).double().mean().item()
    assert [c[:3] for c in chosen] == [(400, 3, prior), (400, 3, prior)]
    assert (result["bias"], result["hard_label_bias"]) == (chosen[0][3], chosen[1][3])
    k_after, k_before = result["hard_label_class_accuracy_after"], result["hard_label_class_accuracy"]
    assert (k_after - k_before) * result["hard_label_bias"] >= 0  # raising class 3's logit only adds 3s
    assert result["hard_label_per_class_accuracy_after"][3] == k_after
    measured = omit.outcomes(result)
    assert measured["omitted_class_labels_only_after_bias"] == 100 * k_after
    assert measured["omitted_class_labels_only"] == 100 * k_before  # the keys lab.lessons.check reads stay
    before, after = result["per_class_accuracy_before"], result["per_class_accuracy_after"]
    assert len(before) == len(after) == 10 and all(0 <= a <= 1 for a in before + after)
    # the automatic bias meets its held-out prior: counted here on the held-out images' stored logits
    held_out = torch.tensor(result["held_out_logits"])
    held_out_labels = torch.tensor(result["held_out_labels"])
    assert len(held_out) == result["held_out_size"] == 400 and (held_out_labels == 3).sum() == 40
    prior = (sample.train_labels == 3).double().mean().item()  # 400 of 4,000
    held_out[:, 3] += result["bias"]
    assert abs((held_out.argmax(1) == 3).sum().item() - prior * 400) <= 1  # ±1 image: ties at the boundary
    _, held_out_index = omit.split_transfer_set(sample, 3, 0.1, seed=0)  # the images it was chosen on
    assert held_out_labels.tolist() == sample.train_labels[held_out_index].tolist()
    assert (after[3] - before[3]) * result["bias"] >= 0  # raising class 3's logit only adds 3s
    assert result["hard_label_class_accuracy"] <= 0.05  # labels without a 3 cannot teach a 3
    assert result["transfer_set_size"] == 9 * (400 - 40) and result["held_out_size"] == 10 * 40
    assert engine and all(not (call.labels == 3).any() for call in engine)
    assert all(len(call.labels) == result["transfer_set_size"] for call in engine)
    # the stored logits re-score to the same figures: the slider needs nothing else
    rescored = omit.apply_bias(torch.tensor(result["test_logits"]), torch.tensor(result["test_labels"]), 3,
                               result["bias"])
    assert rescored["per_class_accuracy"] == pytest.approx(after, abs=0.011)


def test_the_transfer_set_split(sample):
    transfer, held_out = omit.split_transfer_set(sample, 7, 0.1, seed=0)
    labels = sample.train_labels
    assert not (labels[transfer] == 7).any() and (labels[held_out] == 7).sum() == 40
    assert not set(transfer.tolist()) & set(held_out.tolist())
    assert torch.bincount(labels[held_out], minlength=10).tolist() == [40] * 10


def test_a_bias_change_does_not_retrain(sample, monkeypatch):
    """The slider re-scores stored logits: no forward pass, no training step, no weight change."""
    student = common.fresh_student("student-mlp", sample, 0)
    forward_calls = []
    student.register_forward_hook(lambda *args: forward_calls.append(1))
    logits = common.test_logits(student, sample)
    assert len(forward_calls) == 1
    weights = {k: v.clone() for k, v in student.state_dict().items()}
    stored = logits.clone()

    def no_training(*args, **kwargs):
        raise AssertionError("a bias change must not train")
    monkeypatch.setattr(common, "train", no_training)
    labels = sample.test_labels
    predicted = []
    for bias in (-2.0, 0.0, 1.5, 3.5, 1000.0):
        view = omit.apply_bias(logits, labels, 3, bias)
        predicted.append(sum(row[3] for row in view["confusion_matrix"]))
        assert view["bias"] == bias and len(view["per_class_accuracy"]) == 10
    assert predicted == sorted(predicted) and predicted[-1] == len(labels)  # more bias, more 3s; at +1000 all
    assert omit.apply_bias(logits, labels, 3, 1.5) == omit.apply_bias(logits, labels, 3, 1.5)
    assert len(forward_calls) == 1 and torch.equal(logits, stored)
    assert all(torch.equal(v, weights[k]) for k, v in student.state_dict().items())


def test_the_automatic_bias_matches_the_prior():
    torch.manual_seed(0)
    logits = torch.randn(200, 10)
    logits[:, 3] -= 3  # a class the model almost never predicts
    for prior in (0.05, 0.1, 0.3):
        bias = omit.bias_for_prior(logits, 3, prior)
        shifted = logits.clone()
        shifted[:, 3] += bias
        assert (shifted.argmax(1) == 3).sum().item() == round(prior * 200)
    assert omit.bias_for_prior(logits, 3, 0.0) == 0.0
    over = torch.randn(200, 10)
    over[:, 3] += 3  # a class predicted far more often than its prior: the bias must go below 0
    bias = omit.bias_for_prior(over, 3, 0.1)
    over[:, 3] += bias
    assert bias < 0 and (over.argmax(1) == 3).sum().item() == 20


# ---------------------------------------------------------------- data efficiency

def test_transfer_size_json_stratified_and_equal_steps(trained_teacher, tmp_path, capsys, engine):
    out = tmp_path / "out"
    printed = run_cli(capsys, "transfer-size", "--teacher", str(trained_teacher[1]), "--fractions", "0.1,1",
                      "--seeds", "0", "--epochs", "1", "--out", str(out))
    result = written(out, "transfer_size.json", printed)
    assert result["fractions"] == [0.1, 1] and result["train_sizes"] == [400, 4000]
    for key in ("hard_accuracy", "distilled_accuracy"):
        assert len(result[key]) == 2 and all(0 <= a <= 1 for a in result[key])
    assert len(engine) == 2 and all(len(c.initial) == 2 for c in engine)  # one stacked pair per fraction
    assert all(same_weights(*c.initial) for c in engine)  # hard and distilled start alike
    assert torch.bincount(engine[0].labels, minlength=10).tolist() == [40] * 10  # stratified
    steps = [len(c.labels) // c.config.batch_size * c.config.epochs for c in engine]
    assert steps[1] <= steps[0] < steps[1] + 400 // 128  # the small set is not a shorter run
    assert [c.objective.alphas.tolist() for c in engine] == [pytest.approx([0.0, 0.9])] * 2


def test_epochs_for_gives_the_same_number_of_steps():
    assert transfer_size.epochs_for(4000, 4000, 30, 128) == 30
    assert transfer_size.epochs_for(80, 4000, 30, 128) == 31 * 30  # 80 < one batch: one step per epoch
    assert transfer_size.epochs_for(1000, 4000, 6, 128) * (1000 // 128) >= 6 * (4000 // 128)


# ---------------------------------------------------------------- methods, calibration, ensemble

def test_methods_json_each_objective_by_name_through_the_engine(trained_teacher, tmp_path, capsys, engine):
    out = tmp_path / "out"
    names = ["labels", "kd", "pseudo-labels", "hint", "kd-no-t2"]
    printed = run_cli(capsys, "methods", "--teacher", str(trained_teacher[1]), "--student", "student-mlp",
                      "--methods", ",".join(names), "--epochs", "1", "--out", str(out))
    result = written(out, "methods.json", printed)
    assert [row["method"] for row in result["methods"]] == names
    assert result["seeds"] == [0, 1, 2] and result["gain_method"] == "bootstrap"  # three seeds by default
    labels = result["methods"][0]
    for row in result["methods"]:
        assert 0 <= row["test_accuracy"] <= 1 and 0 <= row["ece"] <= 1 and 0 <= row["agreement"] <= 1
        assert sum(row["reliability"]["count"]) == 3 * 1000 and row["explanation"]  # every seed's images
        assert len(row["accuracies"]) == 3 and row["test_accuracy"] == pytest.approx(sum(row["accuracies"]) / 3)
        if row["method"] != "labels":  # paired with the labels-only student of each seed, with its interval
            assert row["gain"] == pytest.approx(row["test_accuracy"] - labels["test_accuracy"])
            assert row["gain_low"] <= row["gain"] <= row["gain_high"]
            assert row["gain_within_noise"] == (row["gain_low"] <= 0 <= row["gain_high"])
            assert row["gain_words"].endswith("within noise" if row["gain_within_noise"] else "beyond noise")
    assert "gain" not in labels
    objectives = [c.objective for c in engine]
    assert [getattr(o, "name", None) for o in objectives] == names * 3  # chosen by name, one engine, per seed
    assert [c.config.seed for c in engine] == [0] * 5 + [1] * 5 + [2] * 5
    for seed in range(3):  # every method of a seed from that seed's weights
        calls = engine[5 * seed: 5 * seed + 5]
        assert all(same_weights(calls[0].initial[0], c.initial[0]) for c in calls)
    assert not same_weights(engine[0].initial[0], engine[5].initial[0])
    from lab.experiments import methods
    assert methods.method_list(methods.MethodsConfig(methods=("kd", "hint"))) == ("labels", "kd", "hint")


def test_calibration_json(trained_teacher, tmp_path, capsys):
    out = tmp_path / "out"
    printed = run_cli(capsys, "calibration", "--teacher", str(trained_teacher[1]), "--epochs", "1",
                      "--out", str(out))
    result = written(out, "calibration.json", printed)
    assert result["student"] == "student-mlp"
    for who in ("teacher", "hard", "distilled"):
        row = result[who]
        assert 0 <= row["ece"] <= 1 and 0 < row["mean_confidence"] <= 1
        assert sum(row["reliability"]["count"]) == 1000
    assert "agreement" not in result["teacher"] and 0 <= result["distilled"]["agreement"] <= 1


def test_ensemble_json(trained_teacher, tmp_path, capsys, engine):
    second = tmp_path / "second"
    assert main(["teacher", "--model", "student-mlp", "--epochs", "1", "--seed", "1", "--out", str(second)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    printed = run_cli(capsys, "ensemble", "--teachers", f"{trained_teacher[1]},{second}", "--epochs", "1",
                      "--out", str(out))
    result = written(out, "ensemble.json", printed)
    accuracies, picked_on = result["teacher_accuracies"], result["selection_accuracies"]
    assert len(accuracies) == 2 and result["best_teacher"] == picked_on.index(max(picked_on))
    assert (result["selection_size"], result["report_size"]) == (500, 500)  # half picks, the other half reports
    for key in ("ensemble_accuracy", "student_from_labels", "student_from_best_teacher", "student_from_ensemble"):
        assert 0 <= result[key] <= 1
    assert len(engine) == 3 and all(same_weights(engine[0].initial[0], c.initial[0]) for c in engine)


def test_ensemble_soft_targets_are_the_mean_of_the_members():
    torch.manual_seed(0)
    members = [torch.randn(7, 10) * 3 for _ in range(3)]
    for T in (1.0, 4.0):
        mixed = ensemble.ensemble_logits(members, T)
        expected = torch.stack([torch.softmax(z / T, -1) for z in members]).mean(0)
        assert torch.allclose(torch.softmax(mixed / T, -1), expected, atol=1e-6)


# ---------------------------------------------------------------- convert, gradients

def test_convert_between_conventions(capsys):
    keras = run_cli(capsys, "convert", "--from", "hinton", "--to", "keras", "--temperature", "4", "--alpha", "0.9")
    assert keras["alpha"] == pytest.approx(0.1) and keras["temperature"] == 4 and keras["scale"] == 1
    back = translate({"temperature": 4, "alpha": keras["alpha"]}, "keras", "hinton")
    assert back["alpha"] == pytest.approx(0.9)
    tutorial = translate({"temperature": 2, "soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75},
                         "pytorch-tutorial", "hinton")
    assert tutorial["alpha"] == pytest.approx(0.25) and tutorial["scale"] == pytest.approx(1)
    heavy = translate({"temperature": 2, "soft_target_loss_weight": 2, "ce_loss_weight": 1}, "pytorch-tutorial", "hinton")
    assert heavy["alpha"] == pytest.approx(2 / 3) and heavy["scale"] == pytest.approx(3) and "note" in heavy
    torchdistill = translate({"temperature": 4, "alpha": 0.9}, "hinton", "torchdistill")
    assert torchdistill["alpha"] == pytest.approx(0.1) and torchdistill["beta"] == pytest.approx(0.9)


def test_gradients_json(trained_teacher, sample, tmp_path, capsys):
    """What the untrained student (seed 0) feels from the teacher's test logits: per image, the
    analytic gradients T·(p_s − p_t) (Hinton et al. 2015), (p_s − p_t)/T without T², and
    T·(p_s − p_t)/K with reduction="mean"; their norms averaged over the images."""
    from lab.recipes import init_model
    out = tmp_path / "out"
    printed = run_cli(capsys, "gradients", "--teacher", str(trained_teacher[1]), "--temperatures", "1,4,16",
                      "--out", str(out))
    result = written(out, "gradients.json", printed)
    assert result["temperatures"] == [1, 4, 16]
    z_s = common.test_logits(init_model("student-mlp", sample, 0), sample).double()
    z_t = common.test_logits(trained_teacher[0], sample).double()
    for i, T in enumerate(result["temperatures"]):
        gap = (torch.softmax(z_s / T, 1) - torch.softmax(z_t / T, 1)).norm(dim=1)
        assert result["hinton"][i] == pytest.approx((T * gap).mean().item(), rel=1e-3)
        assert result["no-t2"][i] == pytest.approx((gap / T).mean().item(), rel=1e-3)
        assert result["kl-mean"][i] == pytest.approx((T * gap / 10).mean().item(), rel=1e-3)


# ---------------------------------------------------------------- hostile input

@pytest.mark.parametrize("argv,needle", [
    (["sweep", "--temperatures", "0"], "temperature T must be a number above 0"),
    (["sweep", "--temperatures", "2,-1"], "temperature T must be a number above 0"),
    (["sweep", "--alphas", "0.5,1.5"], "alpha must lie between 0 and 1"),
    (["sweep", "--alphas", "-0.1"], "alpha must lie between 0 and 1"),
    (["sweep", "--seeds", ""], "at least one"),
    (["sweep", "--temperatures", "4,4"], "must differ"),
    (["sweep", "--epochs", "0", "--temperatures", "4", "--alphas", "0.5"], "Epochs must be"),
    (["omit", "--class", "10"], "between 0 and 9"),
    (["omit", "--class", "-1"], "between 0 and 9"),
    (["omit", "--temperature", "0"], "temperature T must be a number above 0"),
    (["omit", "--alpha", "2"], "alpha must lie between 0 and 1"),
    (["transfer-size", "--fractions", "0,0.5"], "must lie in (0, 1]"),
    (["transfer-size", "--fractions", "1.5"], "must lie in (0, 1]"),
    (["transfer-size", "--alpha", "-1"], "alpha must lie between 0 and 1"),
    (["methods", "--methods", "kd,bogus"], "Unknown method"),
    (["methods", "--methods", "attention", "--student", "student-mlp"], "no spatial feature map"),
    (["calibration", "--temperature", "-4"], "temperature T must be a number above 0"),
    (["gradients", "--temperatures", "0,4"], "temperature T must be a number above 0"),
])
def test_hostile_settings(trained_teacher, tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    command, rest = argv[0], argv[1:]
    assert main([command, "--teacher", str(trained_teacher[1]), *rest, "--out", str(out)]) == 2
    one_error_line(capsys, needle, quiet_stdout=True)
    assert not out.exists()


@pytest.mark.parametrize("command", ["sweep", "omit", "transfer-size", "methods", "calibration", "gradients"])
def test_a_missing_teacher_folder(tmp_path, capsys, command):
    assert main([command, "--teacher", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys, "is not a folder", quiet_stdout=True)


@pytest.mark.parametrize("argv,needle", [
    (["ensemble", "--teachers", "{T}"], "at least two teacher folders"),
    (["ensemble", "--teachers", "{T},{missing}"], "is not a folder"),
    (["convert", "--from", "hinton", "--to", "keras", "--temperature", "0", "--alpha", "0.5"], "above 0"),
    (["convert", "--from", "hinton", "--to", "keras", "--temperature", "4", "--alpha", "1.5"], "between 0 and 1"),
    (["convert", "--from", "keras", "--to", "hinton", "--temperature", "4"], "needs alpha"),
])
def test_hostile_ensemble_and_convert(trained_teacher, tmp_path, capsys, argv, needle):
    argv = [a.format(T=trained_teacher[1], missing=tmp_path / "missing") for a in argv]
    if argv[0] == "ensemble":
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    one_error_line(capsys, needle, quiet_stdout=True)


def test_the_real_command_exits_2_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lab", "omit", "--teacher", str(tmp_path / "missing"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: ")
