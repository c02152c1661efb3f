"""The one results writer: every notebook records its numbers through :func:`write_results`.

A record holds what is needed to judge and reproduce a run: name, profile, seeds, device, package
versions, data source, settings, metrics, the paper's values, ``claims`` (a list of
``{claim, held, verdict, detail}``: ``verdict`` is one of :data:`minelib.verdicts.VERDICTS`, ``held`` is True only
for "held" and None where the profile is too small to judge) and ``provenance`` (commit, hash of every minelib
source file, machine, wall time), from which a later report tells whether the record is stale.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .runtime import numerics, package_versions


def claim(text: str, held: bool | str | None, detail: str) -> dict:
    """One checked statement of the paper. ``held``: a verdict of :data:`minelib.verdicts.VERDICTS` (from
    :func:`minelib.verdicts.verdict`), or True / False / None (not judged) for a check with no noise to weigh."""
    from .verdicts import HELD, NOT_HELD, NOT_JUDGED, VERDICTS

    if isinstance(held, str):
        if held not in VERDICTS:
            raise ValueError(f"claim verdict must be one of {VERDICTS}; got {held!r}")
        verdict = held
    else:
        verdict = NOT_JUDGED if held is None else (HELD if held else NOT_HELD)
    return {"claim": text, "held": None if verdict == NOT_JUDGED else verdict == HELD, "verdict": verdict,
            "detail": detail}


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` and move the result over ``path`` only once it is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _jsonable(obj):
    """numpy and float edge cases to plain JSON (NaN and inf become null, never invalid JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def write_results(out_dir: str | os.PathLike, name: str, *, profile: str, seeds, device: str,
                  data_source: str, settings: dict, metrics: dict, paper: dict, claims: list[dict],
                  figures: list[str] = (), title: str = "", paper_claim: str = "", units: list[dict] = (),
                  wall_seconds: float | None = None) -> Path:
    """Write ``<out_dir>/results/<name>.json`` and return its path. ``units`` says, per unit of work,
    whether it was computed in this run or reused from the cache, and when it was made."""
    record = {
        "name": name, "title": title, "paper_claim": paper_claim, "profile": profile,
        "seeds": list(seeds), "device": device, "data_source": data_source,
        "versions": package_versions(), "numerics": numerics(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings, "metrics": metrics, "paper": paper, "claims": claims, "figures": list(figures),
        "units": list(units), "provenance": {**provenance(), "wall_seconds": wall_seconds},
    }
    return write_json(Path(out_dir) / "results" / f"{name}.json", record)


def _file_hash(path: Path) -> str:
    """The first 16 hex digits of a file's SHA-256: how a record names the version of a source it imported."""
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _loaded_sources() -> dict[str, str]:
    """SHA-256 (16 hex digits) of each minelib source file this process has imported: what a record's numbers
    can depend on (experiments are imported one by one, so another figure's module is not among them)."""
    import sys

    from .experiments import cache

    out = {}
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve().is_relative_to(cache.PACKAGE) and f.endswith(".py"):
            out[str(Path(f).resolve().relative_to(cache.PACKAGE))] = _file_hash(Path(f))
    return dict(sorted(out.items()))


def provenance() -> dict:
    """Where and from what a record was made: the git commit, the SHA-256 of the minelib sources it imported (a
    later report compares them with the files of its own checkout to say whether the record is stale), the machine
    and its CPU count."""
    import platform

    from .experiments import cache

    files = _loaded_sources()
    return {"commit": cache.git_commit(), "source_hash": cache.source_hash(), "source_files": files,
            "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)"}


def stale_files(record: dict) -> list[str] | None:
    """The minelib source files that changed (or appeared, or went) since ``record`` was written: [] when it is
    fresh, None when the record carries no source hashes (older records)."""
    from .experiments import cache

    then = record.get("provenance", {}).get("source_files")
    if then is None:
        return None
    now = lambda f: _file_hash(cache.PACKAGE / f) if (cache.PACKAGE / f).is_file() else None
    return sorted(f for f, h in then.items() if now(f) != h)


def load_results(out_dir: str | os.PathLike) -> dict[str, dict]:
    """All result records under ``out_dir/results``, by name."""
    folder = Path(out_dir) / "results"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def output_dir(out_dir: str | os.PathLike | None, profile: str) -> Path:
    """Where a notebook writes: ``out_dir`` if given, else ``$MINELIB_OUT``, else ``results/<profile>``
    at the repository root (the folder holding ``notebooks/``), else in the working directory."""
    if out_dir:
        return Path(out_dir)
    if os.environ.get("MINELIB_OUT"):
        return Path(os.environ["MINELIB_OUT"])
    here = Path.cwd()
    root = here.parent if here.name == "notebooks" else here
    return root / "results" / profile
