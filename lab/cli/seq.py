"""`python -m lab seq …`: the sequence-distillation commands live with their package (lab/seq/cli.py)."""
from ..seq.cli import register

__all__ = ["register"]
