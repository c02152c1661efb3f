"""What every experiment shares: profile selection, overrides and the final record."""
from __future__ import annotations

import os

PROFILE_NAMES = ("smoke", "quick", "paper")


def default_profile() -> str:
    """The profile a notebook runs when papermill sets none: ``$MINELIB_PROFILE`` or ``quick``."""
    return os.environ.get("MINELIB_PROFILE", "quick")


def settings(profiles: dict, profile: str, **overrides) -> dict:
    """The settings of ``profile``, with every override that is not None applied.

    Unknown profile names and unknown override keys raise ``ValueError`` naming what is accepted.
    """
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; accepted: {', '.join(profiles)}")
    cfg = dict(profiles[profile])
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in cfg:
            raise ValueError(f"unknown setting {key!r}; this experiment accepts: {', '.join(cfg)}")
        cfg[key] = value
    cfg["profile"] = profile
    return cfg


def check_members(cfg: dict, key: str, accepted) -> dict:
    """Raise ValueError unless every entry of the list ``cfg[key]`` is in ``accepted``; return ``cfg``."""
    bad = [v for v in cfg[key] if v not in accepted]
    if bad:
        raise ValueError(f"unknown {key} {bad}; accepted: {', '.join(accepted)}")
    return cfg


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


def finish(exp, cfg: dict, result: dict, *, out_dir, device, figures: list[str], seed: int = 0):
    """Judge the claims, write the results JSON through the one writer, and return the claims table.

    ``exp`` is the experiment module (it names itself, its paper claim, data source and numbers).
    """
    import pandas as pd

    from ..results import write_results
    from ..runtime import device_name, resolve_device

    claims = exp.claims(result, cfg["profile"])
    path = write_results(
        out_dir, exp.NAME, title=exp.TITLE, paper_claim=exp.PAPER_CLAIM, profile=cfg["profile"],
        seeds=[f"{seed}/{s}" for s in range(cfg.get("seeds", 1))],  # base seed / replicate
        device=device_name(resolve_device(device)), data_source=result.get("data_source", exp.DATA_SOURCE),
        settings={**cfg, "base_seed": seed, "training": result.get("settings", {})},
        metrics=exp.metrics(result), paper=exp.PAPER, claims=claims, figures=figures)
    print(f"results written to {path}")
    return pd.DataFrame(claims)
