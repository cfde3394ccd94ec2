"""lab.limits: how much work one setting may ask of a shared server, held in every config class
(so a crafted session that sends a value no widget shows still meets it) and so on the command
line, each time with one sentence (issue 15, item 5)."""
import pytest

from helpers import one_error_line
from lab import limits
from lab.cli import main
from lab.errors import ConfigError
from lab.experiments.blackbox import BlackBoxConfig
from lab.experiments.ensemble import EnsembleConfig
from lab.experiments.frontier import FrontierConfig
from lab.experiments.methods import MethodsConfig
from lab.experiments.omit import OmitConfig
from lab.experiments.seeds import SeedsConfig
from lab.experiments.sweep import SweepConfig
from lab.experiments.transfer_size import TransferSizeConfig, epochs_for
from lab.recipes import STUDENT_CONFIG
from lab.train import TrainConfig

SIX_SEEDS = (0, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("make,needle", [
    (lambda: TrainConfig(epochs=51), "Epochs must be a whole number from 1 to 50 (got 51)"),
    (lambda: TrainConfig(epochs=10**9), "Epochs must be a whole number from 1 to 50"),
    (lambda: TrainConfig(epochs=2.5), "Epochs must be a whole number"),
    (lambda: TrainConfig(batch_size=4097), "The batch size must be a whole number from 1 to 4,096 (got 4097)"),
    (lambda: TrainConfig(seed=-1), "The seed must be a whole number from 0 to 2,147,483,647"),
    (lambda: TrainConfig(seed=2**31), "The seed must be a whole number"),
    (lambda: SeedsConfig(seeds=SIX_SEEDS), "Give at most 5 seeds (got 6)"),
    (lambda: SeedsConfig(epochs=51), "Epochs must be a whole number from 1 to 50"),
    (lambda: TransferSizeConfig(seeds=SIX_SEEDS), "Give at most 5 seeds"),
    (lambda: TransferSizeConfig(epochs=60), "Epochs must be a whole number from 1 to 50"),
    (lambda: TransferSizeConfig(fractions=tuple(i / 10 for i in range(1, 11))), "Give at most 8 fractions (got 10)"),
    (lambda: BlackBoxConfig(seeds=SIX_SEEDS), "Give at most 5 seeds"),
    (lambda: BlackBoxConfig(epochs=51), "Epochs must be"),
    (lambda: BlackBoxConfig(budgets=tuple(range(100, 1000, 100))), "Give at most 8 budgets (got 9)"),
    (lambda: BlackBoxConfig(budgets=(1000, 10**7)), "A budget is at most 200,000 teacher queries"),
    (lambda: BlackBoxConfig(settings=tuple(f"top-{k}" for k in range(1, 10))), "Give at most 8 settings"),
    (lambda: EnsembleConfig(epochs=51), "Epochs must be"),
    (lambda: EnsembleConfig(seed=-3), "The seed must be"),
    (lambda: SweepConfig(seeds=SIX_SEEDS), "Give at most 5 seeds"),
    (lambda: SweepConfig(epochs=51), "Epochs must be a whole number from 1 to 50"),
    (lambda: SweepConfig(temperatures=tuple(float(t) for t in range(1, 12)), alphas=(0.0, 0.1, 0.25, 0.5, 0.75, 1.0)),
     "Give at most 64 T × α cells (got 66)"),
    (lambda: MethodsConfig(epochs=51), "Epochs must be"),
    (lambda: FrontierConfig(seeds=SIX_SEEDS), "Give at most 5 seeds"),
    (lambda: FrontierConfig(epochs=100), "Epochs must be"),
    (lambda: OmitConfig(epochs=51), "Epochs must be"),
    (lambda: OmitConfig(seed=2**40), "The seed must be"),
])
def test_a_config_refuses_more_work_than_the_server_allows(make, needle):
    with pytest.raises(ConfigError) as refused:
        make()
    assert needle in str(refused.value)
    assert "\n" not in str(refused.value)  # one sentence, as the app's box and the CLI's line show it


def test_the_limits_themselves_are_allowed():
    """What the widgets can reach (epochs 1..50, 1..5 seeds) trains: the limits are edges, not off by one."""
    TrainConfig(epochs=limits.MAX_EPOCHS, batch_size=limits.MAX_BATCH_SIZE, seed=limits.MAX_SEED)
    SeedsConfig(seeds=tuple(range(limits.MAX_SEEDS)), epochs=limits.MAX_EPOCHS)
    # The Distill page's "Repeat over 5 seeds" from its largest seed box value (10,000 ... 10,004).
    SeedsConfig(seeds=tuple(range(10_000, 10_005)))
    BlackBoxConfig(budgets=tuple(range(1, limits.MAX_BUDGETS + 1)))
    SweepConfig(temperatures=(1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0),  # the page's 9 × 7 choices
                alphas=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), seeds=tuple(range(limits.MAX_SEEDS)))
    TransferSizeConfig(fractions=tuple((i + 1) / limits.MAX_FRACTIONS for i in range(limits.MAX_FRACTIONS)))


def test_a_small_transfer_set_takes_the_steps_of_at_most_50_full_passes():
    """A run on a part of the training set gets more, shorter epochs for the same optimizer steps
    (transfer-size, blackbox); its limit is the steps of 50 full passes, counted here by hand."""
    # mnist-sample: 4,000 images, batch 128 -> 31 steps an epoch; 80 images -> 1 step an epoch.
    assert limits.subset_epoch_limit(80, 4000, 128) == 31 * 50
    assert epochs_for(80, 4000, 50, 128) == 31 * 50  # the longest run the experiment asks for fits exactly
    TrainConfig(epochs=31 * 50, epoch_limit=limits.subset_epoch_limit(80, 4000, 128))
    with pytest.raises(ConfigError, match="the steps of 50 full passes; got 1551"):
        TrainConfig(epochs=31 * 50 + 1, epoch_limit=limits.subset_epoch_limit(80, 4000, 128))
    # A subset at least one full batch per step of the whole set never gets less than the plain limit.
    assert limits.subset_epoch_limit(8000, 4000, 128) == limits.MAX_EPOCHS
    # Every default fraction of a 60,000-image set fits its limit at the lab's 30 epochs.
    for fraction in TransferSizeConfig.fractions:
        n = int(60_000 * fraction)
        epochs = epochs_for(n, 60_000, STUDENT_CONFIG.epochs, 128)
        TrainConfig(epochs=epochs, epoch_limit=limits.subset_epoch_limit(n, 60_000, 128))


def test_recorded_configs_and_cache_keys_keep_their_fields():
    """The new field shows only where a run lifted it: a teacher cache key or a card's config of an
    ordinary run is what it was before the limit existed."""
    assert "epoch_limit" not in TrainConfig().as_dict()
    assert TrainConfig(epochs=100, epoch_limit=200).as_dict()["epoch_limit"] == 200


@pytest.mark.parametrize("argv,needle", [
    (["transfer-size", "--seeds", "0,1,2,3,4,5"], "Give at most 5 seeds (got 6)"),
    (["transfer-size", "--epochs", "51"], "Epochs must be a whole number from 1 to 50"),
    (["sweep", "--seeds", "0,1,2,3,4,5", "--temperatures", "4", "--alphas", "0.5"], "Give at most 5 seeds (got 6)"),
    (["blackbox", "--budgets", "100,200,300,400,500,600,700,800,900"], "Give at most 8 budgets (got 9)"),
])
def test_the_cli_refuses_with_the_configs_sentence(trained_teacher, tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    assert main(argv[:1] + ["--teacher", str(trained_teacher[1]), *argv[1:], "--out", str(out)]) == 2
    one_error_line(capsys, needle)
    assert not (out / f"{argv[0]}.json").exists()
