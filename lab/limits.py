"""How much work one setting may ask for: the limits of a shared classroom server, in one place.

The app's widgets, the link parser (lab.lessons.presets), the config classes (lab.train.TrainConfig,
each experiment's config) and so the CLI all read these numbers: a crafted session that sends a value
no widget could show still meets the config's check, with the same sentence.

    check_epochs(epochs)                 # ConfigError unless 1 <= epochs <= MAX_EPOCHS
    check_seeds(seeds)                   # at least one, each different, whole numbers, at most MAX_SEEDS
    check_count("temperatures", n, MAX_GRID_CELLS)
"""
from __future__ import annotations

import math

from .errors import ConfigError

MAX_EPOCHS = 50             # passes over the whole training set of one run (a shared server: runs stay short)
MAX_SEED = 2**31 - 1        # a seed's largest value (what every generator accepts; the Distill page's box stops at 10,000)
MAX_SEEDS = 5               # seeds an experiment repeats over
MAX_BATCH_SIZE = 4096       # examples per optimizer step
MAX_GRID_CELLS = 64         # a sweep's T × α cells (the Experiments page offers 9 × 7)
MAX_BUDGETS = 8             # teacher-query budgets of the black-box experiment
MAX_BUDGET = 200_000        # teacher queries of one budget (twice the largest training set, augmented)
MAX_FRACTIONS = 8           # training-set fractions of the transfer-size experiment
MAX_MEMBERS = 8             # teachers in an ensemble (the Experiments page trains up to 6 new ones)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_epochs(epochs, what: str = "Epochs") -> int:
    """`epochs` if it is a whole number from 1 to MAX_EPOCHS, else ConfigError (one sentence)."""
    if not (_whole(epochs) and 1 <= epochs <= MAX_EPOCHS):
        raise ConfigError(f"{what} must be a whole number from 1 to {MAX_EPOCHS} (got {epochs}): a shared server "
                          "keeps each run short.")
    return epochs


def check_seed(seed) -> int:
    if not (_whole(seed) and 0 <= seed <= MAX_SEED):
        raise ConfigError(f"The seed must be a whole number from 0 to {MAX_SEED:,} (got {seed}).")
    return seed


def check_seeds(seeds) -> tuple:
    """At least one seed, each different, each a valid seed, at most MAX_SEEDS of them."""
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"Give at least one seed, each different (got {list(seeds)}).")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"Give at most {MAX_SEEDS} seeds (got {len(seeds)}): a shared server keeps each "
                          "experiment short.")
    for seed in seeds:
        check_seed(seed)
    return seeds


def check_batch_size(batch_size) -> int:
    if not (_whole(batch_size) and 1 <= batch_size <= MAX_BATCH_SIZE):
        raise ConfigError(f"The batch size must be a whole number from 1 to {MAX_BATCH_SIZE:,} (got {batch_size}).")
    return batch_size


def check_count(what: str, count: int, most: int) -> int:
    """At most `most` of `what` (a sweep's cells, budgets, fractions)."""
    if count > most:
        raise ConfigError(f"Give at most {most} {what} (got {count}): a shared server keeps each experiment short.")
    return count


def subset_epoch_limit(subset_size: int, full_size: int, batch_size: int) -> int:
    """Epochs a run on `subset_size` of `full_size` training images may take: the optimizer steps of
    MAX_EPOCHS passes over the whole set (a smaller transfer set gets more, shorter epochs for the same
    steps: lab.experiments.transfer_size.epochs_for), so no run is longer than the longest full one."""
    steps_per_epoch = max(subset_size // batch_size, 1)
    return max(MAX_EPOCHS, math.ceil(max(full_size // batch_size, 1) * MAX_EPOCHS / steps_per_epoch))
