"""The one experiment protocol: settings, units of work, run a unit, combine, then judge and plot.

Every module in :mod:`minelib.experiments` provides the same names (bmi's ``interface.py`` is the
model; this file imports only :mod:`minelib.seeding`, a ground-floor module, so every other module may import it):

- ``NAME``, ``TITLE``, ``PAPER_CLAIM``, ``DATA_SOURCE``, ``PAPER`` (the paper's numbers, or words);
- ``Settings``, a frozen :class:`~minelib.experiments.settings.ExperimentSettings` whose defaults are
  the ``paper`` profile, and ``PROFILES`` = ``{"paper": {}, "quick": {...}, "smoke": {...}}``, deltas;
- ``units(cfg) -> list[Unit]``: independent pieces of work (for example one model's stacked seeds);
- ``run_unit(cfg, unit, device, seed, progress)``: one unit's result, plain data (numpy arrays,
  DataFrames, dicts) that pickles; it depends only on its arguments, never on other units;
- ``combine(cfg, parts, seed)``: the experiment's result dict from ``{unit.key: part}``;
- ``summary(result)``, ``metrics(result)``, ``invariants(result)``, ``claims(result, profile)``,
  ``plot(result)``.

:func:`run` drives it: each unit's result is cached under ``<out_dir>/cache/`` (see
:mod:`minelib.experiments.cache`), so a killed run resumes where it stopped, and ``shard=(i, n)``
computes only every n-th unit, for a job array over machines.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Mapping, Protocol

from .. import seeding
from ..seeding import replicate_seeds  # noqa: F401 -- experiments take their replicate seeds from here


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of work of an experiment: ``key`` names it (unique in the experiment, file-name safe);
    ``params`` (JSON values) say what it computes and enter its cache key."""

    key: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Experiment(Protocol):
    """What :func:`run`, the notebooks, ``reproduce.sh`` and the report rely on (see the module text)."""

    NAME: str
    TITLE: str
    PAPER_CLAIM: str
    DATA_SOURCE: str
    PAPER: dict
    Settings: type
    PROFILES: dict

    def units(self, cfg) -> list[Unit]: ...

    def run_unit(self, cfg, unit: Unit, device: str, seed: int, progress: bool) -> Any: ...

    def combine(self, cfg, parts: dict[str, Any], seed: int) -> dict: ...

    def summary(self, result: dict): ...

    def metrics(self, result: dict) -> dict: ...

    def invariants(self, result: dict) -> list[str]: ...

    def claims(self, result: dict, profile: str) -> list[dict]: ...

    def plot(self, result: dict): ...


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` (1 <= I <= N) as ``(I, N)``; None stays None; anything else raises ValueError."""
    if text is None:
        return None
    try:
        i, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise ValueError(f"shard must look like I/N, e.g. 2/8; got {text!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"shard I/N needs 1 <= I <= N; got {text!r}")
    return i, n


def run(exp: Experiment, cfg, *, device: str = "auto", seed: int = 0, progress: bool = True,
        out_dir=None, force: bool = False, shard: tuple[int, int] | None = None, offset: int = 0,
        log: list | None = None) -> dict | None:
    """Run ``exp`` under ``cfg``: every unit (from the cache under ``out_dir`` when present and up to date,
    unless ``force``), then ``combine``. The result carries ``"units"``: per unit whether it was computed
    or reused, when it was made, how long it took and from which commit.

    With ``shard=(i, n)`` only units whose index (plus ``offset``, so that several experiments can share
    one numbering) is ``i - 1`` modulo ``n`` are computed; returns None if others are still missing.
    ``log``, when given, receives each unit's entry as it is done (a shard that returns None still says
    what it did). Without ``out_dir`` nothing is cached.
    """
    from . import cache  # cache reads minelib's version and sources; protocol itself imports nothing

    seed = seeding.check_seed(seed)
    todo = exp.units(cfg)
    keys = [u.key for u in todo]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{exp.NAME}: unit keys must be unique; got {keys}")
    parts, entries, missing = {}, [], []
    for index, unit in enumerate(todo):
        path = None if out_dir is None else cache.unit_path(out_dir, exp, cfg, unit, seed, device)
        cached = None if path is None or force else cache.load_if_present(path)
        if cached is not None:
            part, meta = cached
            entry = {"unit": unit.key, "status": "reused", **meta}
        elif shard is not None and (index + offset) % shard[1] != shard[0] - 1:
            missing.append(unit.key)
            continue
        else:
            start = time.perf_counter()
            part = exp.run_unit(cfg, unit, device, seed, progress)
            meta = cache.meta(time.perf_counter() - start)
            if path is not None:
                cache.store(path, part, meta)
            entry = {"unit": unit.key, "status": "computed", **meta}
        parts[unit.key] = part
        entries.append(entry)
        if log is not None:
            log.append(entry)
    if missing:
        return None
    result = exp.combine(cfg, parts, seed)
    result["units"] = entries
    return result
