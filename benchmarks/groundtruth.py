"""The ground-truth benchmark: every minelib estimator, with and without its transform, on minelib.groundtruth.suite().

For each task and seed s (its own data, ``task.sample(n, s)``, and its own estimator seed) it runs DV, NWJ and
InfoNCE (``estimate_mi``, the seeds of a task stacked) and KSG, each with ``transform="standardize"`` and
``"rank_gauss"``, and the peers that import (torch-mist's MINE and npeet-plus's KSG; bmi's MINE, which needs jax
< 0.5 and numpy < 2), at the same network, batch and steps. It prints, per method: the mean absolute error
against the true MI, per family of tasks, the 95 % interval's coverage on tasks of at most 2 nats and above, and
the estimates that are negative or off by more than the true MI without a warning. One run's results go to
``results/benchmarks/groundtruth-<UTC time>.json`` with the commit, date, machine and package versions.

    python benchmarks/groundtruth.py [--quick] [--steps 600] [--n 5000] [--seeds 3] [--threads 1]

Asserts nothing: it measures.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import minelib
from minelib import groundtruth
from minelib.runtime import package_versions

ROOT = Path(__file__).resolve().parents[1]
TRANSFORMS = ("standardize", "rank_gauss")


def family(task) -> str:
    """The family a task belongs to, for the per-family table."""
    name = task.name
    if "|" in name:
        return "monotone-mapped"
    return "staircase" if name.startswith("staircase") else name.split(" ")[0]


def run_minelib(task, bound: str, transform: str, a) -> list[dict]:
    """``estimate_mi`` on the task's ``a.seeds`` data sets, stacked, one seed each."""
    data = [task.sample(a.n, s) for s in range(a.seeds)]
    x, z = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    batch = a.nce_batch if bound == "infonce" else a.batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", minelib.MIEstimateWarning)
        start = time.perf_counter()
        try:
            est = minelib.estimate_mi(x, z, bound=bound, steps=a.steps, batch_size=batch, hidden=a.hidden,
                                      transform=transform, seed=list(range(a.seeds)), progress=False, device="cpu")
        except minelib.TrainingDivergedError as err:  # stopped, not returned: a flagged result, no estimate
            return [dict(estimate=math.nan, low=None, high=None, warnings=[f"diverged: {err}"],
                         seconds=time.perf_counter() - start) for _ in range(a.seeds)]
        seconds = time.perf_counter() - start
    return [dict(estimate=float(est.mi[s]), low=float(est.ci[s, 0]), high=float(est.ci[s, 1]),
                 warnings=[w for w in est.warnings if w.startswith(f"task {s}:")], seconds=seconds / a.seeds)
            for s in range(a.seeds)]


def run_ksg(task, transform: str, a) -> list[dict]:
    """minelib's KSG per seed (no interval)."""
    out = []
    for s in range(a.seeds):
        x, z = task.sample(a.n, s)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", minelib.MIEstimateWarning)
            start = time.perf_counter()
            value = minelib.ksg_mi(x, z, k=3, transform=transform, workers=1)
        out.append(dict(estimate=value, low=None, high=None, warnings=[str(w.message) for w in caught],
                        seconds=time.perf_counter() - start))
    return out


def peer_torch_mist(x: np.ndarray, z: np.ndarray, steps: int, batch: int, hidden: list[int], seed: int,
                    lr: float = 1e-3) -> float:
    """torch-mist's MINE (``estimator="mine"``) on an 80/20 split, as ``estimate_mi`` splits."""
    import torch_mist

    split = int(0.8 * len(x))
    xt, zt = (torch.tensor(v, dtype=torch.float32) for v in (x, z))
    torch.manual_seed(seed)
    return float(torch_mist.estimate_mi(
        {"x": xt[:split], "y": zt[:split]}, estimator="mine", hidden_dims=hidden, test_data={"x": xt[split:],
        "y": zt[split:]}, max_iterations=steps, batch_size=batch, optimizer_params={"lr": lr},
        early_stopping=False, device="cpu", verbose=False, logger=False))


def peer_bmi_mine(x: np.ndarray, z: np.ndarray, steps: int, batch: int, hidden: list[int], seed: int) -> float:
    """bmi's MINE estimator at the same network, batch and steps."""
    from bmi.estimators import MINEEstimator

    est = MINEEstimator(hidden_layers=tuple(hidden), batch_size=batch, max_n_steps=steps, seed=seed, verbose=False)
    return float(est.estimate(x, z))


def peer_npeet(x: np.ndarray, z: np.ndarray, steps: int, batch: int, hidden: list[int], seed: int) -> float:
    """npeet-plus's KSG (k = 3), in nats."""
    from npeet_plus import mi

    return float(mi(x, z, k=3, base=math.e))


PEERS = {"torch-mist mine": peer_torch_mist, "bmi mine": peer_bmi_mine, "npeet-plus ksg": peer_npeet}


def available_peers() -> dict:
    """The peers that import here, and why the others do not."""
    found, missing = {}, {}
    for name, module in (("torch-mist mine", "torch_mist"), ("bmi mine", "bmi.estimators"),
                         ("npeet-plus ksg", "npeet_plus")):
        try:
            __import__(module)
            found[name] = PEERS[name]
        except Exception as err:  # a peer's import may fail in any way (version clashes): report and skip
            missing[name] = f"{type(err).__name__}: {err}"[:200]
    return found, missing


def run_peer(fn, task, a) -> list[dict]:
    out = []
    for s in range(a.seeds):
        x, z = task.sample(a.n, s)
        start = time.perf_counter()
        try:
            value = fn(x, z, a.steps, a.batch, a.hidden, s)
        except Exception as err:  # a peer failing on a task is a result, not a crash of the benchmark
            value = math.nan
            print(f"  {task.name}: peer failed: {type(err).__name__}: {str(err)[:120]}")
        out.append(dict(estimate=value, low=None, high=None, warnings=[], seconds=time.perf_counter() - start))
    return out


def summarise(rows: list[dict]) -> dict:
    """MAE, per-family MAE, coverage (<= 2 nats and above) and unflagged failures of one method's rows."""
    err = lambda rs: float(np.nanmean([abs(r["estimate"] - r["truth"]) for r in rs])) if rs else math.nan
    with_ci = [r for r in rows if r["low"] is not None]  # diverged runs have no interval: left out
    cover = lambda rs: (float(np.mean([r["low"] <= r["truth"] <= r["high"] for r in rs])) if rs else math.nan)
    low, high = [r for r in with_ci if r["truth"] <= 2.0], [r for r in with_ci if r["truth"] > 2.0]
    # A task is one where the estimator is biased when the seeds' mean misses the truth by more than twice the
    # standard error of that mean (se from the interval's width): there the interval is not expected to cover.
    se = lambda rs: math.sqrt(np.mean([((r["high"] - r["low"]) / 3.92) ** 2 for r in rs]) / len(rs))
    tasks = {t: [r for r in with_ci if r["task"] == t] for t in {r["task"] for r in with_ci}}
    biased = {t for t, rs in tasks.items() if abs(np.mean([r["estimate"] for r in rs]) - rs[0]["truth"]) > 2 * se(rs)}
    unflagged = [r for r in rows if not r["warnings"] and (r["estimate"] < 0 or abs(r["estimate"] - r["truth"])
                                                           > r["truth"] or not math.isfinite(r["estimate"]))]
    return dict(mae=err(rows), mae_by_family={f: err([r for r in rows if r["family"] == f])
                                              for f in sorted({r["family"] for r in rows})},
                coverage_le_2_nats=cover(low), coverage_above_2_nats=cover(high),
                coverage_le_2_nats_unwarned=cover([r for r in low if not r["warnings"]]),
                coverage_unbiased_tasks=cover([r for r in with_ci if r["task"] not in biased]),
                coverage_biased_tasks=cover([r for r in with_ci if r["task"] in biased]),
                biased_tasks=sorted(biased),
                pairs_le_2_nats=len(low), pairs_above_2_nats=len(high),
                unflagged_failures=[f"{r['task']} seed {r['seed']}: {r['estimate']:.3g}" for r in unflagged],
                all_finite=bool(all(math.isfinite(r["estimate"]) for r in rows)),
                diverged=int(sum(any(w.startswith("diverged") for w in r["warnings"]) for r in rows)),
                warned=int(sum(bool(r["warnings"]) for r in rows)), rows=len(rows))


def provenance(a) -> dict:
    """Commit, date, machine and versions of this run."""
    git = lambda *cmd: subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return dict(commit=git("rev-parse", "HEAD"), dirty=bool(git("status", "--porcelain", "--", "minelib")),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                machine=f"{platform.machine()} {platform.processor()} ({platform.system()}), "
                        f"{torch.get_num_threads()} torch threads",
                versions=package_versions(("minelib", "torch", "numpy", "scipy", "torch-mist", "npeet-plus",
                                           "benchmark-mi")),
                settings=dict(n=a.n, steps=a.steps, batch=a.batch, infonce_batch=a.nce_batch, hidden=a.hidden,
                              seeds=a.seeds))


def run_all(a) -> dict:
    """Every method on every task; rows of (task, method, transform, seed)."""
    peers, missing = available_peers() if not a.no_peers else ({}, {"all": "--no-peers"})
    methods = {f"{b} {t}": (lambda task, b=b, t=t: run_minelib(task, b, t, a)) for b in ("dv", "nwj", "infonce")
               for t in TRANSFORMS}
    methods.update({f"ksg {t}": (lambda task, t=t: run_ksg(task, t, a)) for t in TRANSFORMS})
    methods.update({name: (lambda task, fn=fn: run_peer(fn, task, a)) for name, fn in peers.items()})
    rows = []
    for task in a.tasks:
        truth = task.mutual_information()
        for method, fn in methods.items():
            for s, r in enumerate(fn(task)):
                rows.append(dict(r, task=task.name, family=family(task), truth=truth, method=method, seed=s))
            done = [r for r in rows if r["task"] == task.name and r["method"] == method]
            print(f"{task.name:48s} {method:22s} truth {truth:6.3f}  estimates "
                  + " ".join(f"{r['estimate']:7.3f}" for r in done) + f"  ({sum(bool(r['warnings']) for r in done)}"
                  " warned)", flush=True)
    summary = {m: summarise([r for r in rows if r["method"] == m]) for m in methods}
    return dict(provenance=provenance(a), peers_missing=missing, summary=summary, rows=rows)


def print_summary(result: dict) -> None:
    print("\nmethod                  MAE    cover<=2  (unwarned)  cover>2  warned  unflagged  diverged (left out of MAE)")
    for m, s in result["summary"].items():
        fmt = lambda v: "  -   " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.2f}"
        print(f"{m:22s} {s['mae']:6.3f}  {fmt(s['coverage_le_2_nats'])}    {fmt(s['coverage_le_2_nats_unwarned'])}"
              f"    {fmt(s['coverage_above_2_nats'])}  {s['warned']:3d}/{s['rows']:<3d} {len(s['unflagged_failures']):5d}"
              f"      {s['diverged']}")
    print("\ncoverage where the method is unbiased / biased on the task (seeds' mean within / beyond 2 se of truth)")
    for m, s in result["summary"].items():
        if s["biased_tasks"] or not math.isnan(s["coverage_unbiased_tasks"]):
            print(f"{m:22s} {s['coverage_unbiased_tasks']:5.2f} / {s['coverage_biased_tasks']:5.2f}  "
                  f"({len(s['biased_tasks'])} biased tasks)")
    families = sorted({f for s in result["summary"].values() for f in s["mae_by_family"]})
    print("\nMAE by family: method, " + ", ".join(families))
    for m, s in result["summary"].items():
        print(f"{m:22s} " + "  ".join(f"{s['mae_by_family'].get(f, math.nan):6.3f}" for f in families))
    for name, why in result["peers_missing"].items():
        print(f"peer not run: {name} ({why})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4 tasks, 2 seeds, 400 steps (about a minute)")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--infonce-batch", dest="nce_batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--out", default=str(ROOT / "results" / "benchmarks"))
    a = p.parse_args(argv)
    a.hidden = [100, 100]
    a.tasks = groundtruth.suite()
    if a.quick:
        a.tasks, a.seeds, a.steps = [a.tasks[i] for i in (0, 4, 7, -1)], 2, 400
    torch.set_num_threads(a.threads)
    result = run_all(a)
    print_summary(result)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"groundtruth-{result['provenance']['date'].replace(':', '')[:17]}.json"
    path.write_text(json.dumps(result, indent=1, default=float))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
