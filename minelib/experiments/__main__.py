"""Compute the units of work of experiments without the notebooks: the shard step of a job array.

    python -m minelib.experiments --profile paper --shard 3/8 --out results/paper [--only NAME,...]

Units are numbered across the experiments in order, and shard I/N computes those whose number is
I - 1 modulo N; each lands in ``<out>/cache/``. Afterwards ``./reproduce.sh --profile paper --out
results/paper`` reuses every cached unit, draws the figures and writes the report. Units already in
the cache are reused (``--force`` recomputes this shard's); without ``--shard`` every unit is computed.
"""
from __future__ import annotations

import argparse
import sys
import time

from . import settings
from .registry import NAMES, load
from .protocol import parse_shard, run
from .settings import PROFILE_NAMES


def _parse(argv: list[str] | None):
    """The command line, checked: a bad shard or experiment name exits 2 with argparse's message."""
    p = argparse.ArgumentParser(prog="python -m minelib.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", choices=PROFILE_NAMES, default="quick")
    p.add_argument("--only", default=",".join(NAMES), help="comma-separated experiment names")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder; units go to <out>/cache/")
    p.add_argument("--shard", default=None, help="I/N: compute every N-th unit, starting at the I-th")
    p.add_argument("--force", action="store_true", help="recompute units even when cached")
    a = p.parse_args(argv)
    try:
        a.shard = parse_shard(a.shard)
        a.exps = [load(name) for name in a.only.split(",") if name]
    except ValueError as err:
        p.error(str(err))
    return a


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, compute the selected units, print one line per experiment; return the exit code."""
    a = _parse(argv)
    configs = [settings(exp, a.profile) for exp in a.exps]   # every setting checked before any work
    offset = 0
    for exp, cfg in zip(a.exps, configs):
        log, start = [], time.perf_counter()
        result = run(exp, cfg, device=a.device, seed=a.seed, out_dir=a.out, force=a.force, shard=a.shard,
                     offset=offset, log=log)
        n = len(exp.units(cfg))
        offset += n
        done = {s: sum(e["status"] == s for e in log) for s in ("computed", "reused")}
        left = n - len(log)
        state = "complete" if result is not None else f"{left} unit(s) left to other shards"
        print(f"{exp.NAME}: {done['computed']} computed, {done['reused']} reused, {state} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
