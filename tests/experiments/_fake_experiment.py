"""A stand-in experiment for the protocol's tests: ``n_units`` units, each sleeps ``sleep`` seconds and
returns seeded random numbers, so that a kill can land between two units deterministically.

Run as a script (``python _fake_experiment.py OUT N SLEEP``) it runs itself through the protocol with
its cache under OUT and pickles the result to ``OUT/result.pkl``.
"""
from __future__ import annotations

import dataclasses
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from minelib.experiments.protocol import Unit, run
from minelib.experiments.settings import ExperimentSettings, check_profiles, setting

NAME = "fake_experiment"
TITLE = "A stand-in experiment"
PAPER_CLAIM = "Nothing."
DATA_SOURCE = "numpy's generator"
PAPER: dict = {}
#: Keys of the units that :func:`run_unit` computed in this process, in order.
CALLS: list[str] = []


@dataclasses.dataclass(frozen=True)
class Settings(ExperimentSettings):
    """The stand-in's settings."""

    n_units: int = setting(5, "DEF", "units of work", low=1)
    size: int = setting(3, "DEF", "random numbers per unit", low=1)
    sleep: float = setting(0.0, "DEF", "seconds each unit sleeps", low=0.0)


PROFILES = check_profiles(Settings, {"paper": {}, "quick": {}, "smoke": {"n_units": 3}})


def units(cfg: Settings) -> list[Unit]:
    return [Unit(f"u{i}", {"i": i}) for i in range(cfg.n_units)]


def run_unit(cfg: Settings, unit: Unit, device: str, seed: int, progress: bool) -> dict:
    CALLS.append(unit.key)
    time.sleep(cfg.sleep)
    return {"values": np.random.default_rng([seed, unit.params["i"]]).normal(size=cfg.size)}


def combine(cfg: Settings, parts: dict, seed: int) -> dict:
    return {"values": np.concatenate([parts[u.key]["values"] for u in units(cfg)])}


def summary(result: dict):
    return result["values"]


def metrics(result: dict) -> dict:
    return {"sum": float(result["values"].sum())}


def invariants(result: dict) -> list[str]:
    return []


def claims(result: dict, profile: str) -> list[dict]:
    return []


def plot(result: dict):
    return None


if __name__ == "__main__":
    out, n, sleep = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    this = sys.modules[__name__]
    result = run(this, Settings(n_units=n, sleep=sleep), device="cpu", out_dir=out, progress=False)
    Path(out, "result.pkl").write_bytes(pickle.dumps(result))
