"""Typed experiment settings: one frozen dataclass per experiment, checked once, up front.

An experiment declares ``Settings``, a subclass of :class:`ExperimentSettings` whose field defaults
*are* the ``paper`` profile, and ``PROFILES``: for ``quick`` and ``smoke``, only the values that
differ from the paper (nanoGPT's config files are deltas from one set of defaults too). Each field
is made with :func:`setting`, which records where its value comes from (see ``docs/settings.md``
for the tags) and the checks its value must pass. Every value is checked in ``__post_init__``, so
a bad override fails in microseconds, naming the key, before any data is loaded or model trained.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

PROFILE_NAMES = ("smoke", "quick", "paper")

# The provenance tags a setting's source may carry; docs/settings.md prints this legend.
TAGS = {
    "PAPER": "stated in the paper (Belghazi et al., ICLR 2018 submission); a section or equation follows",
    "ICML": "the later ICML 2018 version of the paper (arXiv 1801.04062), recalled rather than checked "
            "against its text: treat it as a lead",
    "VIB": "Alemi et al. 2016, Deep Variational Information Bottleneck, and its public MNIST demo",
    "ALI": "Dumoulin et al. 2016 (ALI) and Li et al. 2017 (ALICE), and their public code",
    "SAL": "Salimans et al. 2016, Improved Techniques for Training GANs (the MNIST feature-matching MLPs)",
    "PAC": "the 2-D grid experiments of PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017)",
    "KSG": "Kraskov, Stoegbauer and Grassberger 2004",
    "DEF": "stated nowhere: our default, kept a parameter",
    "DEV": "a deviation from the paper's (stated or recalled) value, taken because a probe showed that value "
           "cannot reach the quality the experiment needs; the probe is in docs/diagnostics.md",
    "BUDGET": "a smaller budget than the paper's, chosen so that the profile fits its time (quick, smoke)",
}


def setting(default: Any, source: str, doc: str, *, low: float | None = None, high: float | None = None,
            open_low: bool = False, choices: tuple | None = None, min_len: int = 1) -> Any:
    """A settings field: ``default`` (the paper profile's value), its ``source`` (a tag of :data:`TAGS`
    with an optional reference, e.g. ``"PAPER §3.1"``), a one-line ``doc``, and its checks: numbers
    in ``[low, high]`` (``(low, high]`` with ``open_low``), strings in ``choices``, sequences of at
    least ``min_len`` entries, each entry checked the same way."""
    tag = source.split()[0].rstrip(",;")
    if tag not in TAGS:
        raise ValueError(f"unknown source tag {tag!r} in {source!r}; known: {', '.join(TAGS)}")
    meta = dict(source=source, doc=doc, low=low, high=high, open_low=open_low, choices=choices, min_len=min_len)
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default=tuple(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _check_scalar(value, kind: type, name: str, meta: dict):
    """``value`` as ``kind`` (int, float, bool or str) after its range or choice check."""
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"setting {name!r} must be True or False; got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"setting {name!r} must be a string; got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"setting {name!r} must be an integer; got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"setting {name!r} must be a number; got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"setting {name!r} must be finite; got {value!r}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ValueError(f"setting {name!r} must be one of {', '.join(map(repr, meta['choices']))}; got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (meta.get("open_low") and value == low)):
        bracket = "(" if meta.get("open_low") else "["
        raise ValueError(f"setting {name!r} must be in {bracket}{low}, {high if high is not None else 'inf'}{']' if high is not None else ')'}; "
                         f"got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"setting {name!r} must be at most {high}; got {value!r}")
    return value


def _check_value(value, hint, name: str, meta: dict):
    """Check ``value`` against the field's type ``hint``: a scalar, ``tuple[T, ...]`` or ``T | None``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _check_value(value, hint, name, meta)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"setting {name!r} must be a list; got {value!r}")
        if len(value) < meta.get("min_len", 1):
            raise ValueError(f"setting {name!r} needs at least {meta.get('min_len', 1)} entries; got {list(value)}")
        return tuple(_check_value(v, args[0], f"{name}[{i}]", meta) for i, v in enumerate(value))
    return _check_scalar(value, hint, name, meta)


@dataclasses.dataclass(frozen=True)
class ExperimentSettings:
    """Base of every experiment's settings: the profile it came from, then the experiment's fields."""

    profile: str = "paper"

    def __post_init__(self) -> None:
        if self.profile not in PROFILE_NAMES:
            raise ValueError(f"unknown profile {self.profile!r}; accepted: {', '.join(PROFILE_NAMES)}")
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            if f.name != "profile":
                object.__setattr__(self, f.name, _check_value(getattr(self, f.name), hints[f.name], f.name,
                                                              dict(f.metadata)))
        self.check()

    def check(self) -> None:
        """Checks that relate several fields; subclasses override it and raise ValueError naming the keys."""

    def asdict(self) -> dict:
        """Plain values (tuples as lists) for JSON records and cache keys."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def keys(cls: type[ExperimentSettings]) -> list[str]:
    """The names a user may override (every field but ``profile``)."""
    return [f.name for f in dataclasses.fields(cls) if f.name != "profile"]


def make(cls: type[ExperimentSettings], profiles: dict[str, dict], profile: str, **overrides) -> ExperimentSettings:
    """The settings of ``profile`` (the paper's defaults with the profile's deltas) with every override
    that is not None applied; unknown profiles and keys raise ValueError naming what is accepted."""
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; accepted: {', '.join(profiles)}")
    unknown = [k for k in overrides if k not in keys(cls)]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; this experiment accepts: {', '.join(keys(cls))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return cls(profile=profile, **{**profiles[profile], **given})


def check_profiles(cls: type[ExperimentSettings], profiles: dict[str, dict]) -> dict[str, dict]:
    """Validate an experiment's ``PROFILES`` at import: every profile named, the paper profile empty
    (it is the defaults), only known keys; returns ``profiles``."""
    if tuple(sorted(profiles)) != tuple(sorted(PROFILE_NAMES)):
        raise ValueError(f"{cls.__qualname__}: PROFILES must define exactly {PROFILE_NAMES}; got {tuple(profiles)}")
    if profiles["paper"]:
        raise ValueError(f"{cls.__qualname__}: the paper profile is the Settings defaults; put no deltas in it")
    for name, delta in profiles.items():
        bad = [k for k in delta if k not in keys(cls)]
        if bad:
            raise ValueError(f"{cls.__qualname__}: profile {name!r} sets unknown key {bad[0]!r}")
    return profiles
