"""The ground-truth benchmark: run estimators on tasks of known mutual information and summarise how they did.

For each task of :func:`minelib.groundtruth.suite` and each replicate (its own data set ``task.sample(n, s)``
and its own estimator seed ``s``, the replicate seeds of :func:`minelib.seeding.replicate_seeds`), :func:`run`
runs DV, NWJ and InfoNCE (``minelib.estimate_mi``, the replicates of a task stacked into one model) and KSG
(``minelib.ksg_mi``), each with ``transform="standardize"`` and ``"rank_gauss"``, and the peers that import
(torch-mist's and bmi's MINE at the same network, batch and steps; npeet-plus's KSG) on the raw data. It returns
one tidy row per (task, method, transform, replicate): :data:`COLUMNS`.

:func:`summarise` turns the rows into one line per (method, transform): the mean absolute error against the
true MI, the 95 % interval's coverage on tasks of at most :data:`LOW_MI` nats and above (and where the method is
unbiased on the task or biased), and the failures (an estimate negative, non-finite or off by more than the
truth) that carry no warning. ``benchmarks/groundtruth.py`` is its command line;
``notebooks/benchmark_groundtruth.ipynb`` (:mod:`minelib.experiments.benchmark_groundtruth`) shows it.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd

import minelib

from . import groundtruth, seeding

#: minelib's estimators, each run with every transform of :data:`TRANSFORMS`.
METHODS = ("dv", "nwj", "infonce", "ksg")
TRANSFORMS = ("standardize", "rank_gauss")
#: The transform column of a peer's rows: peers see the raw data.
NO_TRANSFORM = "none"
#: The columns of :func:`run`'s table; ``warnings`` holds the texts (``warned`` is whether there are any).
COLUMNS = ("task", "family", "truth", "method", "transform", "seed", "estimate", "low", "high", "warned", "seconds",
           "warnings")
#: Coverage is counted apart on tasks of at most this many nats and above.
LOW_MI = 2.0
#: The peers: name, the module that must import, and how to install it.
PEER_MODULES = {"torch-mist mine": "torch_mist", "bmi mine": "bmi.estimators", "npeet-plus ksg": "npeet_plus"}
PEER_INSTALL = {"torch-mist mine": "pip install -e \".[bench]\" && pip install --no-deps torch-mist==0.2.17",
                "bmi mine": "pip install benchmark-mi (it needs jax < 0.5 and numpy < 2)",
                "npeet-plus ksg": "pip install npeet-plus (or pip install -e \".[bench]\")"}


@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    """One benchmark run: ``n`` rows per data set, ``steps`` of training at ``batch`` (InfoNCE at
    ``infonce_batch``: it scores every pair of a batch and cannot exceed its log), critics of widths ``hidden``,
    ``seeds`` replicates under base ``seed``, ``tasks`` (indices into :func:`minelib.groundtruth.suite`; None: all),
    minelib's ``methods`` (of :data:`METHODS`), ``peers`` on or off, and the ``device`` of ``estimate_mi``."""

    n: int = 5_000
    steps: int = 600
    batch: int = 256
    infonce_batch: int = 64
    hidden: tuple[int, ...] = (100, 100)
    seeds: int = 3
    tasks: tuple[int, ...] | None = None
    methods: tuple[str, ...] = METHODS
    peers: bool = True
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("n", "steps", "batch", "infonce_batch", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "methods", tuple(self.methods))
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method {unknown[0]!r}; accepted: {', '.join(METHODS)}")
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(self.tasks))
            size = len(groundtruth.suite())
            bad = [i for i in self.tasks if not -size <= i < size]
            if bad:
                raise ValueError(f"task index {bad[0]} is outside the suite's {size} tasks")
        seeding.check_seed(self.seed)


def replicate_seeds(settings: BenchmarkSettings) -> list[int]:
    """The seed of each replicate: its data set's and its estimator's."""
    return seeding.replicate_seeds(settings.seed, settings.seeds)


def select_tasks(settings: BenchmarkSettings) -> list[groundtruth.Task]:
    """The tasks ``settings`` names, in its order (all of the suite when None)."""
    suite = groundtruth.suite()
    return suite if settings.tasks is None else [suite[i] for i in settings.tasks]


def family(task: groundtruth.Task) -> str:
    """The family a task belongs to, for the per-family table: gaussian, student-t, monotone-mapped, staircase."""
    name = task.name
    if "|" in name:
        return "monotone-mapped"
    return "staircase" if name.startswith("staircase") else name.split(" ")[0]


def label(method: str, transform: str) -> str:
    """A method's name in tables: ``"dv rank_gauss"``; a peer's alone."""
    return method if transform == NO_TRANSFORM else f"{method} {transform}"


def _result(estimate: float, low: float = math.nan, high: float = math.nan, notes: Sequence[str] = (),
            seconds: float = math.nan) -> dict:
    return dict(estimate=float(estimate), low=float(low), high=float(high), warnings=tuple(notes), seconds=seconds)


def run_minelib(task: groundtruth.Task, bound: str, transform: str, settings: BenchmarkSettings) -> list[dict]:
    """``minelib.estimate_mi`` on the task's replicates, stacked into one model, one seed each: a result per
    replicate (estimate, interval, its warnings, its share of the time). A run stopped by
    ``TrainingDivergedError`` is a flagged result without an estimate."""
    seeds = replicate_seeds(settings)
    data = [task.sample(settings.n, s) for s in seeds]
    x, z = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    batch = settings.infonce_batch if bound == "infonce" else settings.batch
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", minelib.MIEstimateWarning)
        try:
            est = minelib.estimate_mi(x, z, bound=bound, steps=settings.steps, batch_size=batch,
                                      hidden=list(settings.hidden), transform=transform, seed=seeds, progress=False,
                                      device=settings.device)
        except minelib.TrainingDivergedError as err:
            share = (time.perf_counter() - start) / len(seeds)
            return [_result(math.nan, notes=[f"diverged: {err}"], seconds=share) for _ in seeds]
    share = (time.perf_counter() - start) / len(seeds)
    mi, ci = np.atleast_1d(est.mi), np.asarray(est.ci, dtype=float).reshape(len(seeds), 2)
    return [_result(mi[k], ci[k, 0], ci[k, 1], [w for w in est.warnings if w.startswith(f"task {k}:")], share)
            for k in range(len(seeds))]


def run_ksg(task: groundtruth.Task, transform: str, settings: BenchmarkSettings) -> list[dict]:
    """minelib's KSG (k = 3) on each replicate, with its warnings (KSG has no interval)."""
    out = []
    for s in replicate_seeds(settings):
        x, z = task.sample(settings.n, s)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", minelib.MIEstimateWarning)
            start = time.perf_counter()
            value = minelib.ksg_mi(x, z, k=3, transform=transform, workers=1)
        out.append(_result(value, notes=[str(w.message) for w in caught
                                         if issubclass(w.category, minelib.MIEstimateWarning)],
                           seconds=time.perf_counter() - start))
    return out


def peer_torch_mist(x: np.ndarray, z: np.ndarray, steps: int, batch: int, hidden: Sequence[int], seed: int,
                    lr: float = 1e-3) -> float:
    """torch-mist's MINE (``estimator="mine"``) on an 80/20 split, as ``estimate_mi`` splits."""
    import torch
    import torch_mist

    split = int(0.8 * len(x))
    xt, zt = (torch.tensor(v, dtype=torch.float32) for v in (x, z))
    torch.manual_seed(seed)
    return float(torch_mist.estimate_mi(
        {"x": xt[:split], "y": zt[:split]}, estimator="mine", hidden_dims=list(hidden),
        test_data={"x": xt[split:], "y": zt[split:]}, max_iterations=steps, batch_size=batch,
        optimizer_params={"lr": lr}, early_stopping=False, device="cpu", verbose=False, logger=False))


def peer_bmi_mine(x: np.ndarray, z: np.ndarray, steps: int, batch: int, hidden: Sequence[int], seed: int) -> float:
    """bmi's MINE estimator at the same network, batch and steps."""
    from bmi.estimators import MINEEstimator

    est = MINEEstimator(hidden_layers=tuple(hidden), batch_size=batch, max_n_steps=steps, seed=seed, verbose=False)
    return float(est.estimate(x, z))


def peer_npeet(x: np.ndarray, z: np.ndarray, steps: int, batch: int, hidden: Sequence[int], seed: int) -> float:
    """npeet-plus's KSG (k = 3), in nats."""
    from npeet_plus import mi

    return float(mi(x, z, k=3, base=math.e))


PEERS: dict[str, Callable[..., float]] = {"torch-mist mine": peer_torch_mist, "bmi mine": peer_bmi_mine,
                                          "npeet-plus ksg": peer_npeet}


def available_peers() -> tuple[list[str], dict[str, str]]:
    """The peers that import here, and why each other one does not."""
    found, missing = [], {}
    for name, module in PEER_MODULES.items():
        try:
            __import__(module)
            found.append(name)
        except Exception as err:  # a peer's import may fail in any way (version clashes): report and skip
            missing[name] = f"{type(err).__name__}: {err}"[:200]
    return found, missing


def peer_status() -> pd.DataFrame:
    """One row per peer: whether it imports here, and if not why and how to install it."""
    found, missing = available_peers()
    return pd.DataFrame([dict(peer=name, installed=name in found, why_not=missing.get(name, ""),
                              install=PEER_INSTALL[name]) for name in PEERS])


def run_peer(name: str, task: groundtruth.Task, settings: BenchmarkSettings,
             log: Callable[[str], None] | None = None) -> list[dict]:
    """Peer ``name`` (of :data:`PEERS`) on each replicate; a peer that raises gives NaN (unflagged: it gave no
    warning), and says why through ``log``."""
    out = []
    for s in replicate_seeds(settings):
        x, z = task.sample(settings.n, s)
        start = time.perf_counter()
        try:
            value = PEERS[name](x, z, settings.steps, settings.batch, settings.hidden, s)
        except Exception as err:  # a peer failing on a task is a result, not a crash of the benchmark
            value = math.nan
            if log:
                log(f"  {task.name}: {name} failed: {type(err).__name__}: {str(err)[:120]}")
        out.append(_result(value, seconds=time.perf_counter() - start))
    return out


def _runners(settings: BenchmarkSettings, peers: Sequence[str], log) -> dict[tuple[str, str], Callable]:
    """``(method, transform) -> fn(task)``: minelib's methods with each transform, then the peers."""
    out = {}
    for m in settings.methods:
        for t in TRANSFORMS:
            out[m, t] = ((lambda task, t=t: run_ksg(task, t, settings)) if m == "ksg" else
                         (lambda task, m=m, t=t: run_minelib(task, m, t, settings)))
    out.update({(p, NO_TRANSFORM): (lambda task, p=p: run_peer(p, task, settings, log)) for p in peers})
    return out


def run_task(task: groundtruth.Task, settings: BenchmarkSettings, peers: Sequence[str] = (),
             log: Callable[[str], None] | None = None) -> list[dict]:
    """Every method of ``settings`` and every peer named in ``peers`` on one task: rows of :data:`COLUMNS`.
    ``log``, when given, gets a line per method as it finishes."""
    truth, rows = task.mutual_information(), []
    for (method, transform), fn in _runners(settings, peers, log).items():
        done = [dict(r, task=task.name, family=family(task), truth=truth, method=method, transform=transform,
                     seed=k, warned=bool(r["warnings"])) for k, r in enumerate(fn(task))]
        rows += [{c: r[c] for c in COLUMNS} for r in done]
        if log:
            log(f"{task.name:48s} {label(method, transform):22s} truth {truth:6.3f}  estimates "
                + " ".join(f"{r['estimate']:7.3f}" for r in done) + f"  ({sum(r['warned'] for r in done)} warned)")
    return rows


def run(settings: BenchmarkSettings, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Every method (and, with ``settings.peers``, every peer that imports) on every task of ``settings``: the
    tidy table of :data:`COLUMNS`, one row per (task, method, transform, replicate)."""
    peers = available_peers()[0] if settings.peers else []
    rows = [r for task in select_tasks(settings) for r in run_task(task, settings, peers, log)]
    return rows_frame(rows)


def rows_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows as :func:`run`'s table (columns :data:`COLUMNS`, in order)."""
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def failed(rows: pd.DataFrame) -> pd.Series:
    """Which rows failed: an estimate that is not finite, negative, or off by more than the truth."""
    est = rows["estimate"]
    return ~np.isfinite(est) | (est < 0) | ((est - rows["truth"]).abs() > rows["truth"])


def unflagged_failures(rows: pd.DataFrame) -> pd.DataFrame:
    """The failed rows (:func:`failed`) that carry no warning."""
    return rows[failed(rows) & ~rows["warned"].astype(bool)]


def diverged(rows: pd.DataFrame) -> pd.Series:
    """Which rows are runs stopped by ``TrainingDivergedError`` (no estimate, a ``diverged:`` warning)."""
    return rows["warnings"].map(lambda ws: any(str(w).startswith("diverged") for w in ws))


def biased_tasks(rows: pd.DataFrame) -> list[str]:
    """The tasks on which one method's rows (those with an interval) are biased: the replicates' mean misses the
    truth by more than twice the standard error of that mean (the se from the intervals' widths). There the
    interval, which holds noise and not bias, is not expected to cover."""
    out = []
    for task, g in rows[_has_interval(rows)].groupby("task", sort=False):
        se = math.sqrt(float(np.mean(((g["high"] - g["low"]) / 3.92) ** 2)) / len(g))
        if abs(g["estimate"].mean() - g["truth"].iloc[0]) > 2 * se:
            out.append(task)
    return out


def _has_interval(rows: pd.DataFrame) -> pd.Series:
    return np.isfinite(rows["low"]) & np.isfinite(rows["high"])


def _coverage(rows: pd.DataFrame) -> float:
    """Share of ``rows`` whose interval holds the truth (NaN for none)."""
    return float(((rows["low"] <= rows["truth"]) & (rows["truth"] <= rows["high"])).mean()) if len(rows) else math.nan


def mean_abs_error(rows: pd.DataFrame) -> float:
    """Mean |estimate - truth| over ``rows``; NaN estimates (diverged runs) are left out."""
    err = (rows["estimate"] - rows["truth"]).abs()
    return float(err.mean()) if err.notna().any() else math.nan


def summarise_method(rows: pd.DataFrame) -> dict:
    """One method's (and transform's) rows summarised: MAE (diverged runs left out), per family; coverage of the
    95 % interval on tasks <= :data:`LOW_MI` nats (also among unwarned rows) and above, and on the tasks where the
    method is unbiased and biased (:func:`biased_tasks`); failures without a warning; counts of warned and
    diverged rows."""
    ci = rows[_has_interval(rows)]
    low, high = ci[ci["truth"] <= LOW_MI], ci[ci["truth"] > LOW_MI]
    biased = biased_tasks(rows)
    bad = unflagged_failures(rows)
    return dict(mae=mean_abs_error(rows), mae_by_family={f: mean_abs_error(g) for f, g in rows.groupby("family")},
                coverage_le_2_nats=_coverage(low), coverage_above_2_nats=_coverage(high),
                coverage_le_2_nats_unwarned=_coverage(low[~low["warned"].astype(bool)]),
                coverage_unbiased_tasks=_coverage(ci[~ci["task"].isin(biased)]),
                coverage_biased_tasks=_coverage(ci[ci["task"].isin(biased)]), biased_tasks=biased,
                pairs_le_2_nats=len(low), pairs_above_2_nats=len(high),
                unflagged_failures=[f"{r.task} seed {r.seed}: {r.estimate:.3g}" for r in bad.itertuples()],
                all_finite=bool(np.isfinite(rows["estimate"]).all()), diverged=int(diverged(rows).sum()),
                warned=int(rows["warned"].astype(bool).sum()), rows=len(rows))


def _by_method(rows: pd.DataFrame):
    return rows.groupby(["method", "transform"], sort=False)


def summary_record(rows: pd.DataFrame) -> dict[str, dict]:
    """:func:`summarise_method` of every (method, transform), keyed by :func:`label`: the JSON summary."""
    return {label(m, t): summarise_method(g) for (m, t), g in _by_method(rows)}


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """The summary table: a line per (method, transform), in the rows' order, with :func:`summarise_method`'s
    numbers (``biased_tasks`` and ``unflagged_failures`` as counts; per-family MAE in :func:`mae_by_family`)."""
    out = []
    for (m, t), g in _by_method(rows):
        s = summarise_method(g)
        s.pop("mae_by_family")
        s["biased_tasks"], s["unflagged_failures"] = len(s["biased_tasks"]), len(s["unflagged_failures"])
        out.append(dict(method=m, transform=t, label=label(m, t), **s))
    return pd.DataFrame(out)


def mae_by_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error per method (rows, by :func:`label`) and family of tasks (columns)."""
    table = {label(m, t): {f: mean_abs_error(h) for f, h in g.groupby("family")} for (m, t), g in _by_method(rows)}
    return pd.DataFrame(table).T


def per_seed_mae(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error over the tasks per (method, transform, replicate): the spread a comparison of two
    methods weighs its difference against."""
    err = rows.assign(error=(rows["estimate"] - rows["truth"]).abs())
    return err.groupby(["method", "transform", "seed"], sort=False)["error"].mean().rename("mae").reset_index()


def record(rows: pd.DataFrame, peers_missing: dict[str, str]) -> dict:
    """A run as JSON values: the peers not run and why, :func:`summary_record` and the rows."""
    return dict(peers_missing=dict(peers_missing), summary=summary_record(rows),
                rows=[{**r, "warnings": list(r["warnings"])} for r in rows.to_dict("records")])
