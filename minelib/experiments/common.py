"""What every experiment shares: profile selection, overrides and the final record."""
from __future__ import annotations

import os
import time

from .settings import PROFILE_NAMES, ExperimentSettings, make


#: When the notebook's prologue ran: the wall time a record reports is counted from it.
_STARTED: dict[str, float] = {}


def default_profile() -> str:
    """The profile a notebook runs when papermill sets none: ``$MINELIB_PROFILE`` or ``quick``."""
    return os.environ.get("MINELIB_PROFILE", "quick")


def settings(exp, profile: str, **overrides) -> ExperimentSettings:
    """``exp``'s settings for ``profile`` with every override that is not None applied, checked up front
    (unknown profiles and keys, wrong types and out-of-range values raise, naming the key)."""
    return make(exp.Settings, exp.PROFILES, profile, **overrides)


def notebook_setup(exp, profile: str | None, device: str, seed: int, out_dir, **overrides):
    """A notebook's prologue: the plotting style, the checked settings and the output folder.

    Returns ``(cfg, out)`` and prints where the run goes. ``profile`` None means :func:`default_profile`.
    """
    from .. import plotting
    from ..results import output_dir
    from ..runtime import device_name, resolve_device
    from ..seeding import check_seed

    plotting.setup()
    cfg = settings(exp, profile or default_profile(), **overrides)
    check_seed(seed)
    out = output_dir(out_dir, cfg.profile)
    _STARTED[exp.NAME] = time.perf_counter()
    print(f"{exp.NAME}: profile {cfg.profile} on {device_name(resolve_device(device))}; results go to {out}")
    return cfg, out


def stamp(exp, cfg: ExperimentSettings) -> str:
    """The line a saved figure carries: experiment, profile, seeds and iterations, beside the paper profile's."""
    paper = make(exp.Settings, exp.PROFILES, "paper")
    parts = [f"{exp.NAME}, profile {cfg.profile}"]
    for key, label in (("seeds", "seeds"), ("steps", "iterations"), ("epochs", "epochs")):
        if hasattr(cfg, key):
            ours, theirs = getattr(cfg, key), getattr(paper, key)
            parts.append(f"{ours:,} {label}" + ("" if ours == theirs else f" (paper profile: {theirs:,})"))
    return "; ".join(parts)


def _wall_seconds(name: str) -> float | None:
    """Seconds since :func:`notebook_setup` ran for ``name`` (None when it did not: a script called finish)."""
    start = _STARTED.get(name)
    return None if start is None else round(time.perf_counter() - start, 1)


def per_model_summary(scores, cols, models, paper_table: dict, paper_cols):
    """Mean and std over seeds of ``cols`` per model (in ``models`` order), with the paper's numbers
    in front: column ``paper_cols[i]`` holds ``paper_table[model][i]``."""
    g = scores.groupby("model", sort=False)
    t = g.agg(**{f"{k}_{f}": (k, f) for k in cols for f in ("mean", "std")}, seeds=("seed", "nunique"))
    t = t.reindex([m for m in models if m in t.index])
    for i, c in enumerate(paper_cols):
        t.insert(i, c, [paper_table[m][i] for m in t.index])
    return t


def per_model_metrics(summary, model_col: str, keys: dict, columns: dict) -> dict:
    """The record's flat metrics from a per-model summary table: ``{f"{name}_{keys[model]}": value}``,
    where ``columns`` maps each metric name to the summary column it is read from."""
    return {f"{name}_{keys[r[model_col]]}": float(r[col])
            for _, r in summary.iterrows() for name, col in columns.items()}


def judged(profile: str, held: bool) -> bool | None:
    """A claim's verdict: ``held`` under ``quick`` and ``paper``; not judged under ``smoke``."""
    return None if profile == "smoke" else bool(held)


def judge(profile: str, *comparisons) -> str | None:
    """The verdict of ``comparisons`` (:func:`minelib.verdicts.verdict`); None (not judged) under ``smoke``."""
    from ..verdicts import verdict

    return None if profile == "smoke" else verdict(*comparisons)


def finish(exp, cfg: ExperimentSettings, result: dict, *, out_dir, device, figures: list[str], seed: int = 0):
    """Judge the claims, write the results JSON through the one writer, and return the claims table.

    ``exp`` is the experiment module (it names itself, its paper claim, data source and numbers).
    """
    import pandas as pd

    from ..results import write_results
    from ..runtime import device_name, resolve_device

    claims = exp.claims(result, cfg.profile)
    path = write_results(
        out_dir, exp.NAME, title=exp.TITLE, paper_claim=exp.PAPER_CLAIM, profile=cfg.profile,
        seeds=[f"{seed}/{s}" for s in range(getattr(cfg, "seeds", 1))],  # base seed / replicate
        device=device_name(resolve_device(device)), data_source=result.get("data_source", exp.DATA_SOURCE),
        settings={**cfg.asdict(), "base_seed": seed, "training": result.get("settings", {})},
        metrics=exp.metrics(result), paper=exp.PAPER, claims=claims, figures=figures,
        units=result.get("units", []), wall_seconds=_wall_seconds(exp.NAME))
    print(f"results written to {path}")
    return pd.DataFrame(claims)
