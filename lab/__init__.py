"""Distillation Lab: data -> models -> losses -> training -> metrics -> figures.

A plain library (no Streamlit): the app's pages, the CLI (`python -m lab`) and the tests
all call the same functions and consume the same training events.
"""
from .data import DATASETS, Dataset, load
from .errors import CheckpointError, ConfigError, DataError, LabError
from .losses import HardLabels, SoftTargets, distillation_loss, soft_targets
from .models import DEFAULT_STUDENT, DEFAULT_TEACHER, MODELS, STUDENTS, TEACHERS, build, describe
from .recipes import distill_pair, summarize, train_teacher
from .train import Event, TrainConfig, TrainResult, train

__all__ = ["DATASETS", "Dataset", "load", "LabError", "DataError", "CheckpointError", "ConfigError",
           "HardLabels", "SoftTargets", "distillation_loss", "soft_targets", "MODELS", "TEACHERS", "STUDENTS",
           "DEFAULT_TEACHER", "DEFAULT_STUDENT", "build", "describe", "train_teacher", "distill_pair",
           "summarize", "Event", "TrainConfig", "TrainResult", "train"]
