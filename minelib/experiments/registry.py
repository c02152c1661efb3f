"""Every experiment of the companion by name: the paper's figures and tables (:data:`minelib.experiments.NAMES`)
and those beyond the paper, such as the ground-truth benchmark of the estimators.

The tools that walk all of them (``docs/settings.md``, the report, ``python -m minelib.experiments``, the device
run, the tests) read this list; the paper's experiments import only :mod:`minelib.experiments`, so a results
record of a figure does not depend on which experiments beyond the paper exist.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from . import NAMES as PAPER
from . import load as load_paper

BEYOND_PAPER = ("benchmark_groundtruth",)
NAMES = PAPER + BEYOND_PAPER


def load(name: str) -> ModuleType:
    """The experiment module called ``name`` (one of :data:`NAMES`)."""
    if name in BEYOND_PAPER:
        return importlib.import_module(f"{__package__}.{name}")
    try:
        return load_paper(name)
    except ValueError:
        raise ValueError(f"unknown experiment {name!r}; accepted: {', '.join(NAMES)}") from None
