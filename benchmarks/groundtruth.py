"""The ground-truth benchmark's command line: every minelib estimator, with and without its transform, on
minelib.groundtruth.suite().

The logic is :mod:`minelib.benchmark` (``notebooks/benchmark_groundtruth.ipynb`` shows the same run): for each task
and replicate (its own data and its own estimator seed) DV, NWJ and InfoNCE (``estimate_mi``, the replicates of a
task stacked) and KSG, each with ``transform="standardize"`` and ``"rank_gauss"``, and the peers that import
(torch-mist's MINE and npeet-plus's KSG; bmi's MINE, which needs jax < 0.5 and numpy < 2), at the same network,
batch and steps. It prints, per method: the mean absolute error against the true MI, per family of tasks, the
95 % interval's coverage on tasks of at most 2 nats and above, and the estimates that are negative or off by more
than the true MI without a warning. One run's results go to ``results/benchmarks/groundtruth-<UTC time>.json``
with the commit, date, machine and package versions.

    python benchmarks/groundtruth.py [--quick] [--steps 600] [--n 5000] [--seeds 3] [--threads 1]

Asserts nothing: it measures.
"""
from __future__ import annotations

import argparse
import datetime
import platform
from pathlib import Path

import pandas as pd
import torch

from minelib import benchmark
from minelib.experiments.cache import git_commit
from minelib.results import write_json
from minelib.runtime import package_versions

ROOT = Path(__file__).resolve().parents[1]
#: ``--quick``: four tasks (the smallest Gaussian, a Student-t, a monotone map, the 10-nat step), 2 seeds, 400 steps.
QUICK = dict(tasks=(0, 4, 7, -1), seeds=2, steps=400)


def provenance(settings: benchmark.BenchmarkSettings) -> dict:
    """Commit, date, machine, versions and settings of this run."""
    commit = git_commit() or ""
    return dict(commit=commit.removesuffix("+dirty"), dirty=commit.endswith("+dirty"),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                machine=f"{platform.machine()} {platform.processor()} ({platform.system()}), "
                        f"{torch.get_num_threads()} torch threads",
                versions=package_versions(("minelib", "torch", "numpy", "scipy", "torch-mist", "npeet-plus",
                                           "benchmark-mi")),
                settings=dict(n=settings.n, steps=settings.steps, batch=settings.batch,
                              infonce_batch=settings.infonce_batch, hidden=list(settings.hidden),
                              seeds=settings.seeds, seed=settings.seed))


def print_summary(rows: pd.DataFrame, peers_missing: dict) -> None:
    """The summary, coverage where unbiased / biased, MAE by family, and the peers not run."""
    s = benchmark.summarise(rows).set_index("label")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print("\n", s[["mae", "coverage_le_2_nats", "coverage_le_2_nats_unwarned", "coverage_above_2_nats",
                       "warned", "rows", "unflagged_failures", "diverged"]], sep="")
        print("\ncoverage where the method is unbiased / biased on the task (seeds' mean within / beyond 2 se)\n",
              s[["coverage_unbiased_tasks", "coverage_biased_tasks", "biased_tasks"]].dropna(how="all"), sep="")
        print("\nMAE by family\n", benchmark.mae_by_family(rows), sep="")
    for name, why in peers_missing.items():
        print(f"peer not run: {name} ({why}; {benchmark.PEER_INSTALL.get(name, '')})")


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
    given = dict(n=a.n, steps=a.steps, seeds=a.seeds, batch=a.batch, infonce_batch=a.nce_batch, peers=not a.no_peers)
    settings = benchmark.BenchmarkSettings(**{**given, **(QUICK if a.quick else {})})
    torch.set_num_threads(a.threads)
    rows = benchmark.run(settings, log=lambda line: print(line, flush=True))
    missing = benchmark.available_peers()[1] if settings.peers else {"all": "--no-peers"}
    print_summary(rows, missing)
    result = dict(provenance=provenance(settings), **benchmark.record(rows, missing))
    path = write_json(Path(a.out) / f"groundtruth-{result['provenance']['date'].replace(':', '')[:17]}.json", result)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
