"""The options every `python -m lab` command shares: --threads defined once with what it really
does, and one config-from-args rule — an option given wins; an option left out takes the dataset's
measured default (lab/lessons/dataset_defaults.py) where the command borrows the Distill run's
settings, and the experiment's own default otherwise."""
import json
from types import SimpleNamespace

from lab.cli import build_parser, main
from lab.cli.common import DISTILL_RUN, config_from_args
from lab.experiments.methods import MethodsConfig, calibration_config
from lab.experiments.omit import OmitConfig
from lab.experiments.transfer_size import TransferSizeConfig
from lab.lessons.dataset_defaults import defaults_for


def subcommands():
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def test_threads_is_one_option_that_says_what_it_does():
    helps = {name: next((a.help for a in p._actions if a.dest == "threads"), None)
             for name, p in subcommands().items()}
    trains = {"teacher", "distill", "sweep", "omit", "transfer-size", "methods", "calibration", "ensemble",
              "frontier", "blackbox", "lessons"}
    assert {name for name, h in helps.items() if h} == trains
    (text,) = {helps[name] for name in trains}  # one help text, everywhere
    # lab.device.cap_threads: $LAB_THREADS, else the cores other processes leave free — not all cores.
    assert "$LAB_THREADS" in text and "free" in text and "all cores" not in text


def args(**given):
    """argparse's namespace for a command: every option present, None where left out."""
    options = dict.fromkeys(("student", "temperature", "alpha", "seed", "seeds", "epochs", "fractions"))
    return SimpleNamespace(**{**options, "device": "auto", **given})


def test_options_left_out_take_the_datasets_measured_defaults():
    fashion, sample = defaults_for("fashion-mnist"), defaults_for("mnist-sample")
    assert (fashion.temperature, fashion.alpha) == (2.0, 0.25) and (sample.temperature, sample.alpha) == (4.0, 0.9)
    config = config_from_args(TransferSizeConfig(), args(), "fashion-mnist", follow=DISTILL_RUN)
    assert (config.student, config.temperature, config.alpha, config.epochs) == (
        fashion.student, 2.0, 0.25, fashion.epochs)
    assert config.fractions == TransferSizeConfig().fractions and config.seeds == (0, 1)  # the experiment's own
    # On mnist-sample the measured defaults are the lab-wide ones: nothing changes.
    assert config_from_args(TransferSizeConfig(), args(), "mnist-sample", follow=DISTILL_RUN) == TransferSizeConfig()


def test_options_given_win_over_every_default():
    given = args(temperature=8.0, seeds=(3,), fractions=(0.5, 1.0))
    config = config_from_args(TransferSizeConfig(), given, "fashion-mnist", follow=DISTILL_RUN)
    assert (config.temperature, config.alpha, config.seeds, config.fractions) == (8.0, 0.25, (3,), (0.5, 1.0))


def test_an_experiments_own_choices_stay_on_every_dataset():
    omit = config_from_args(OmitConfig(), args(), "fashion-mnist")  # Hinton et al.'s settings
    assert (omit.student, omit.temperature, omit.alpha) == ("student-mlp-2x800", 8.0, 1.0)
    methods = config_from_args(MethodsConfig(), args(), "fashion-mnist", follow=("temperature", "alpha"))
    assert (methods.student, methods.epochs, methods.temperature, methods.alpha) == ("student-cnn-tiny", 6, 2.0, 0.25)


def test_calibration_without_options_takes_the_datasets_defaults(tmp_path, monkeypatch, capsys):
    """A second training command besides `distill`: `calibration` with no T/alpha/student on a
    (tiny, fake) Fashion-MNIST trains and reports Fashion-MNIST's measured defaults."""
    from conftest import write_mnist_folder
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path / "cache"))
    write_mnist_folder(tmp_path / "data" / "fashion-mnist", n_train=256, n_test=50)
    assert main(["teacher", "--dataset", "fashion-mnist", "--model", "student-mlp", "--epochs", "1",
                 "--out", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    assert main(["calibration", "--teacher", str(tmp_path / "t"), "--epochs", "1", "--out", str(tmp_path / "c")]) == 0
    result = json.loads((tmp_path / "c" / "calibration.json").read_text())
    d = defaults_for("fashion-mnist")
    assert (result["student"], result["temperature"], result["alpha"]) == (d.student, d.temperature, d.alpha)
    assert calibration_config().temperature != d.temperature  # the experiment's default was not used
