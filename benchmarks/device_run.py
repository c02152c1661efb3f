"""One prepared run for a session that is lent a GPU: the benchmarks on the device, then Figs 1-2 at a profile.

The GPU machine has PyTorch, pandas, seaborn and scikit-learn but no Jupyter, so this calls what the
notebooks call (``settings``, ``run``, ``plot``, ``finish``) instead of executing the notebooks. It
prints every table and each figure's wall time, and writes under ``--out``: ``results/<name>.json``
(the one results writer; device, versions and the units of work recorded), ``figures/<name>.png`` and
``.pdf``, ``REPORT.md`` / ``.html``, and ``cache/`` (each unit's result: a second call with the same
``--out`` reuses them; ``--force`` recomputes). From the repository root, with nothing installed (minelib
is pure Python); the device tool brings back at most 8 files, hence the ``rm``:

    set -o pipefail; PYTHONPATH=. PYTHONUNBUFFERED=1 python3 benchmarks/device_run.py --device cuda \
        --out "$OUT" 2>&1 | tee "$OUT/log.txt"; rm -rf "$OUT"/figures/*.pdf "$OUT/REPORT.html" "$OUT/cache"

Its length on an H200 is not measured yet (no GPU was lent while it was written); on 2 CPU cores the paper
profile would take hours. ``--profile smoke --device cpu --bench speed --bench-quick`` checks this script
anywhere in under a minute.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

from minelib import plotting  # noqa: E402
from minelib.experiments import load, run, settings  # noqa: E402
from minelib.experiments.common import finish  # noqa: E402
from minelib.report import write_report  # noqa: E402
from minelib.runtime import device_name, resolve_device  # noqa: E402

FIGURES = ("fig1_gaussian_mi", "fig2_convergence")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--profile", default="paper", choices=("smoke", "quick", "paper"))
    p.add_argument("--out", default="device-results")
    p.add_argument("--bench", default="speed,stacked,gan,seeds", help="bench.py sections; '' for none")
    p.add_argument("--bench-quick", action="store_true", help="bench.py --quick")
    p.add_argument("--only", default=",".join(FIGURES), help="figures to run; '' for none")
    p.add_argument("--force", action="store_true", help="recompute units of work even when cached under --out")
    a = p.parse_args()
    dev = resolve_device(a.device)
    print(f"device: {device_name(dev)}; torch {torch.__version__}; profile {a.profile}", flush=True)
    if a.bench:
        bench.main(["--device", str(dev), "--only", a.bench] + (["--quick"] if a.bench_quick else []))
    plotting.setup(notebook=False)
    out = Path(a.out)
    names = [n for n in a.only.split(",") if n]
    for name in names:
        exp = load(name)
        cfg = settings(exp, a.profile)
        start = time.perf_counter()
        result = run(exp, cfg, device=str(dev), progress=False, out_dir=out, force=a.force)
        seconds = time.perf_counter() - start
        figures = plotting.save_figure(exp.plot(result), out, exp.NAME)
        claims = finish(exp, cfg, result, out_dir=out, device=str(dev), figures=figures)
        print(f"\n{exp.TITLE}\n{a.profile} profile on {device_name(dev)}: {seconds:.1f} s")
        print(exp.summary(result).to_string(index=False) if hasattr(exp, "summary") else "")
        print(claims.to_string(index=False), flush=True)
    if names:
        print(f"report: {write_report(out, expected=names)}")


if __name__ == "__main__":
    main()
