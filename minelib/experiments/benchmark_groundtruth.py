"""Beyond the paper: every estimator of minelib, with and without its transform, on tasks of known MI.

The logic is :mod:`minelib.benchmark` (also behind ``benchmarks/groundtruth.py``); this module gives it the
experiment protocol (:mod:`minelib.experiments.protocol`): settings and profiles, one unit of work per task of
:func:`minelib.groundtruth.suite` (all methods and replicates of that task, the peers that imported when the unit
was made), the tables the notebook shows, its checks and its figure.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .. import benchmark, groundtruth
from ..verdicts import beats, explain
from . import common
from .protocol import Unit
from .settings import ExperimentSettings, check_profiles, setting

NAME = "benchmark_groundtruth"
TITLE = "Beyond the paper: DV, NWJ, InfoNCE and KSG against the true MI of a suite of tasks"
PAPER_CLAIM = ("None: the paper measures MINE on correlated Gaussians only (section 4.1). This notebook asks how "
               "close each estimator comes to the truth on harder tasks, whether its 95 % interval covers the "
               "truth, and whether it warns when it fails.")
DATA_SOURCE = ("synthetic: minelib.groundtruth.suite() (sparse and dense Gaussians, Student-t, monotone maps of "
               "both, a 2-10 nat staircase at d = 20; MI in closed form), drawn from the seeded data stream")
PAPER: dict = {}
SUITE = len(groundtruth.suite())
#: How the figure and the tables name minelib's methods.
METHOD_NAMES = {"dv": "DV (MINE)", "nwj": "NWJ (MINE-f)", "infonce": "InfoNCE", "ksg": "KSG"}


@dataclasses.dataclass(frozen=True)
class Settings(ExperimentSettings):
    """The benchmark's settings; the defaults (the paper profile) are ``estimate_mi``'s own defaults."""

    seeds: int = setting(3, "DEF", "replicates of each task: each its own data set and estimator seed", low=1)
    n: int = setting(5_000, "DEF", "rows per data set (estimate_mi holds out 20 % for its estimate)", low=10)
    steps: int = setting(3_000, "DEF estimate_mi's default", "training steps of every critic (and the peers')", low=1)
    batch: int = setting(512, "DEF estimate_mi's default", "minibatch of DV and NWJ (and the peers' MINE)", low=2)
    infonce_batch: int = setting(512, "DEF estimate_mi's default",
                                 "minibatch of InfoNCE, which cannot exceed log(batch) nats", low=2)
    hidden: tuple[int, ...] = setting((100, 100), "DEF estimate_mi's default", "hidden widths of every critic", low=1)
    tasks: tuple[int, ...] = setting(tuple(range(SUITE)), "DEF",
                                     "tasks to run: indices into minelib.groundtruth.suite()", low=0, high=SUITE - 1)
    methods: tuple[str, ...] = setting(benchmark.METHODS, "DEF", "minelib's estimators, each with both transforms",
                                       choices=benchmark.METHODS)
    peers: bool = setting(True, "DEF", "also run the peers that import (torch-mist, bmi, npeet-plus)")


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Well under a minute on one CPU core: proves the notebook runs end to end; too short to judge anything.
    # Three tasks: the smallest Gaussian, the 1e200 / 1e-200 scales and a 6-nat staircase step (coverage above 2).
    "smoke": dict(seeds=2, n=600, steps=200, batch=64, infonce_batch=32, hidden=(16, 16), tasks=(0, 9, 11)),
    # benchmarks/groundtruth.py's defaults. Its committed run (evidence/benchmarks/) took 14 min of estimator time
    # on one thread of the 2-core machine under load (InfoNCE 10 of them), 17 with torch-mist and npeet-plus.
    "quick": dict(steps=600, batch=256, infonce_batch=64),
})


def benchmark_settings(cfg: Settings, seed: int = 0, device: str = "auto") -> benchmark.BenchmarkSettings:
    """``cfg`` as :class:`minelib.benchmark.BenchmarkSettings`, under base ``seed`` on ``device``."""
    shared = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(benchmark.BenchmarkSettings)
              if hasattr(cfg, f.name)}
    return benchmark.BenchmarkSettings(**shared, seed=seed, device=device)


def units(cfg: Settings) -> list[Unit]:
    """One unit per task: every method and replicate on it, and the peers that import now (named in the unit, so
    that installing one makes new units rather than reusing ones without it)."""
    peers = benchmark.available_peers()[0] if cfg.peers else []
    suite = groundtruth.suite()
    return [Unit(f"task{i:02d}", {"task": i, "name": suite[i].name, "peers": peers}) for i in cfg.tasks]


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """The rows (:data:`minelib.benchmark.COLUMNS`) of one task."""
    task = groundtruth.suite()[unit.params["task"]]
    rows = benchmark.run_task(task, benchmark_settings(cfg, seed, device), unit.params["peers"],
                              log=(lambda line: print(line, flush=True)) if progress else None)
    return {"rows": rows, "peers": list(unit.params["peers"])}


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """``{"rows": DataFrame, "peers_missing": {peer: why}}``: every unit's rows in task order, and the peers that
    no unit ran, with why they do not import here (or that ``peers`` is off)."""
    ordered = [parts[u.key] for u in units(cfg)]
    ran = {p for part in ordered for p in part["peers"]}
    missing = benchmark.available_peers()[1] if cfg.peers else {p: "peers=False" for p in benchmark.PEERS}
    return {"rows": benchmark.rows_frame([r for part in ordered for r in part["rows"]]),
            "peers_missing": {p: why for p, why in missing.items() if p not in ran}}


def tasks_table(cfg: Settings) -> pd.DataFrame:
    """The tasks ``cfg`` runs: index in the suite, name, family, dimensions of x and z, and the true MI."""
    suite = groundtruth.suite()
    rows = []
    for i in cfg.tasks:
        x, z = suite[i].sample(2, 0)
        rows.append(dict(index=i, task=suite[i].name, family=benchmark.family(suite[i]), dim_x=x.shape[1],
                         dim_z=z.shape[1], truth=suite[i].mutual_information()))
    return pd.DataFrame(rows)


def peers_note(cfg: Settings) -> str:
    """Which peers this run compares with, in words: those that import, and for each other one why not and how
    to install it (or that ``peers`` is off)."""
    if not cfg.peers:
        return "Peers are off (peers=False): only minelib's estimators run."
    status = benchmark.peer_status()
    lines = [f"{r.peer}: installed, runs beside minelib's estimators" if r.installed else
             f"{r.peer}: NOT installed here, so not run ({r.why_not}); to compare, install it with: {r.install}"
             for r in status.itertuples()]
    return "\n".join(lines)


def summary(result: dict) -> pd.DataFrame:
    """:func:`minelib.benchmark.summarise` of the rows: one line per method and transform."""
    return benchmark.summarise(result["rows"])


def coverage_table(result: dict) -> pd.DataFrame:
    """Coverage of the 95 % interval per method that has one: on tasks of at most 2 nats (all rows, unwarned
    rows) and above, and on the tasks where the method is unbiased or biased, with the counts behind them."""
    s = summary(result).set_index("label")
    cols = ["coverage_le_2_nats", "coverage_le_2_nats_unwarned", "pairs_le_2_nats", "coverage_above_2_nats",
            "pairs_above_2_nats", "coverage_unbiased_tasks", "coverage_biased_tasks", "biased_tasks"]
    return s.loc[s["pairs_le_2_nats"] + s["pairs_above_2_nats"] > 0, cols]


def failures_table(result: dict) -> pd.DataFrame:
    """Per method: the rows that failed (negative, non-finite or off by more than the truth), how many of them a
    warning flagged and how many went unflagged, and the warned rows and diverged runs in all."""
    rows = result["rows"]
    bad, warned = benchmark.failed(rows), rows["warned"].astype(bool)
    labels = [benchmark.label(m, tr) for m, tr in zip(rows["method"], rows["transform"])]
    flags = rows.assign(failed=bad, flagged=bad & warned, unflagged=bad & ~warned, warned=warned,
                        diverged=benchmark.diverged(rows), label=labels)
    by = flags.groupby("label", sort=False)
    return by[["failed", "flagged", "unflagged", "warned", "diverged"]].sum().assign(rows=by.size())


def metrics(result: dict) -> dict:
    """Per method and transform (``dv_rank_gauss_...``): MAE, coverage on tasks <= 2 nats and above, and on the
    tasks where it is unbiased, and the count of unflagged failures."""
    out = {}
    for r in summary(result).itertuples():
        key = r.label.replace(" ", "_").replace("-", "_")
        for name in ("mae", "coverage_le_2_nats", "coverage_above_2_nats", "coverage_unbiased_tasks",
                     "unflagged_failures"):
            out[f"{key}_{name}"] = float(getattr(r, name))
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    rows = result["rows"]
    cells = rows.groupby(["task", "method", "transform", "seed"]).size()
    assert (cells == 1).all(), "one row per (task, method, transform, replicate)"
    per_method = rows.groupby(["method", "transform"]).size()
    assert (per_method == per_method.iloc[0]).all(), "every method ran every task and replicate"
    assert np.isfinite(rows["truth"]).all() and (rows["truth"] >= 0).all(), "every truth finite and >= 0"
    ours = rows[rows["method"].isin(benchmark.METHODS)]
    assert (np.isfinite(ours["estimate"]) | ours["warned"]).all(), "minelib's estimates finite unless warned"
    ci = ours[np.isfinite(ours["low"])]
    assert (ci["low"] <= ci["high"]).all(), "every interval has low <= high"
    return ["one row per (task, method, transform, replicate), every method on every task",
            "every true MI finite and >= 0",
            "every estimate of minelib's estimators finite, or its row warned (a diverged run has no estimate)",
            "every interval has low <= high"]


def _counts(rows: pd.DataFrame) -> str:
    """"dv standardize 2, torch-mist mine 8" for the rows given, per method; "none" for no rows."""
    return ", ".join(f"{benchmark.label(m, t)} {n}" for (m, t), n in rows.groupby(["method", "transform"],
                                                                                 sort=False).size().items()) or "none"


def _flag_claim(rows: pd.DataFrame, profile: str) -> dict:
    """No failure of minelib's estimators goes without a warning (the peers' counted beside, for contrast)."""
    from ..results import claim

    bad = benchmark.unflagged_failures(rows)
    ours = bad["method"].isin(benchmark.METHODS)
    n_ours = int(rows["method"].isin(benchmark.METHODS).sum())
    return claim("minelib's estimators warn on every failure (an estimate negative, non-finite or off by more than "
                 "the truth)", common.judged(profile, not ours.any()),
                 f"unflagged: {int(ours.sum())} of {n_ours} rows of minelib's estimators ({_counts(bad[ours])}); "
                 f"peers: {_counts(bad[~ours])}")


def _transform_claim(mae: pd.DataFrame, method: str, profile: str) -> dict:
    """For ``method``: rank_gauss's per-replicate MAE is lower than standardize's beyond their spread."""
    from ..results import claim

    side = {t: mae.loc[(mae["method"] == method) & (mae["transform"] == t), "mae"].dropna().to_numpy()
            for t in benchmark.TRANSFORMS}
    text = f"{METHOD_NAMES[method]}: the rank-Gaussian transform has a lower mean absolute error than standardising"
    if not all(len(v) for v in side.values()):
        return claim(text, common.judged(profile, False), "no finite error on one side")
    c = beats(side["rank_gauss"], side["standardize"], higher_is_better=False,
              label="per-replicate MAE, rank_gauss vs standardize (nats)")
    return claim(text, common.judge(profile, c), f"{len(side['rank_gauss'])} replicate(s); {explain(c)}")


def claims(result: dict, profile: str) -> list[dict]:
    """minelib's own claims (not the paper's), judged under ``quick`` and ``paper``: no failure of its estimators
    goes without a warning; the rank-Gaussian transform (the default) is more accurate than standardising, for
    each estimator, beyond the spread of the per-replicate MAE (:func:`minelib.verdicts.beats`)."""
    rows = result["rows"]
    ours = rows[rows["method"].isin(benchmark.METHODS)]
    mae = benchmark.per_seed_mae(ours)
    return [_flag_claim(rows, profile), *(_transform_claim(mae, m, profile) for m in ours["method"].unique())]


#: Marker, fill and sideways nudge (a share of the axis) of each transform, so that neither hides the other.
_STYLE = {"standardize": ("o", True, -0.008), "rank_gauss": ("s", False, 0.008),
          benchmark.NO_TRANSFORM: ("o", True, 0.0)}


def _panel(ax, g: pd.DataFrame, colors: dict, width: float) -> None:
    """One method's seed means against the truth (bars: one std over replicates), a colour per transform."""
    for transform, h in g.groupby("transform", sort=False):
        s = h.groupby("task", sort=False).agg(truth=("truth", "first"), mean=("estimate", "mean"),
                                              std=("estimate", "std"))
        marker, filled, dx = _STYLE[transform]
        name = "raw data" if transform == benchmark.NO_TRANSFORM else transform
        ax.errorbar(s["truth"] + dx * width, s["mean"], yerr=s["std"].fillna(0.0), ls="none", marker=marker, ms=5,
                    capsize=2, color=colors[transform], mfc=colors[transform] if filled else "white",
                    label=f"{name} (MAE {benchmark.mean_abs_error(h):.2f})")


def plot(result: dict):
    """Estimate against the true MI, one panel per method (minelib's, then the peers that ran), one point per
    task (mean over replicates, bars one std), a colour per transform; the diagonal is a perfect estimator."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = result["rows"]
    methods = list(rows["method"].unique())
    cols = min(len(methods), 4)
    fig, axes = plt.subplots(-(-len(methods) // cols), cols, figsize=(4.6 * cols, 4.2 * -(-len(methods) // cols)),
                             squeeze=False)
    colors = dict(zip((*benchmark.TRANSFORMS, benchmark.NO_TRANSFORM), sns.color_palette("colorblind", 3)))
    top = float(np.nanmax([rows["truth"].max(), rows["estimate"].max()])) * 1.05
    for ax, method in zip(axes.flat, methods):
        ax.plot([0, top], [0, top], color="black", lw=1, label="truth")
        _panel(ax, rows[rows["method"] == method], colors, top)
        ax.set(title=METHOD_NAMES.get(method, method), xlabel="true MI (nats)", ylabel="estimate (nats)",
               xlim=(0, top), ylim=(min(0.0, float(np.nanmin(rows["estimate"]))) - 0.1, top))
        ax.legend(fontsize=8, loc="upper left")
    for ax in list(axes.flat)[len(methods):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
