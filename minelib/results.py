"""The one results writer: every notebook records its numbers through :func:`write_results`.

A record holds what is needed to judge and reproduce a run: name, profile, seeds, device, package
versions, data source, settings, metrics, the paper's values, and ``claims`` (a list of
``{claim, held, detail}``; ``held`` is None where the profile is too small to judge).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .runtime import package_versions


def claim(text: str, held: bool | None, detail: str) -> dict:
    """One checked statement of the paper: ``held`` is True, False, or None (not judged)."""
    return {"claim": text, "held": None if held is None else bool(held), "detail": detail}


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
                  figures: list[str] = (), title: str = "", paper_claim: str = "", units: list[dict] = ()) -> Path:
    """Write ``<out_dir>/results/<name>.json`` and return its path. ``units`` says, per unit of work,
    whether it was computed in this run or reused from the cache, and when it was made."""
    record = {
        "name": name, "title": title, "paper_claim": paper_claim, "profile": profile,
        "seeds": list(seeds), "device": device, "data_source": data_source,
        "versions": package_versions(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings, "metrics": metrics, "paper": paper, "claims": claims, "figures": list(figures),
        "units": list(units),
    }
    return write_json(Path(out_dir) / "results" / f"{name}.json", record)


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
