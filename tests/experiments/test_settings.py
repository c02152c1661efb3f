"""Settings of every experiment: profiles build, sources are tagged, bad overrides fail at once naming the key."""
import dataclasses
import typing

import pytest

from minelib.experiments import settings
from minelib.experiments.registry import NAMES, load
from minelib.experiments.settings import (PROFILE_NAMES, TAGS, ExperimentSettings, check_profiles, keys, make,
                                          setting)


def _fields(exp, *kinds):
    """The fields of ``exp.Settings`` whose type hint is one of ``kinds``."""
    hints = typing.get_type_hints(exp.Settings)
    return [f for f in dataclasses.fields(exp.Settings) if f.name != "profile" and hints[f.name] in kinds]


def _error(fn):
    """Call ``fn``, which must raise TypeError or ValueError, and return the exception."""
    with pytest.raises((TypeError, ValueError)) as info:
        fn()
    return info.value


@pytest.mark.parametrize("name", NAMES)
def test_every_profile_builds_and_the_paper_profile_is_the_defaults(name):
    exp = load(name)
    assert check_profiles(exp.Settings, exp.PROFILES) is exp.PROFILES
    paper = settings(exp, "paper")
    assert paper == exp.Settings() and paper.profile == "paper"
    for profile in PROFILE_NAMES:
        cfg = settings(exp, profile)
        assert cfg.profile == profile
        for k, v in exp.PROFILES[profile].items():
            assert getattr(cfg, k) == (tuple(v) if isinstance(v, list) else v), f"{name} {profile}: {k}"
        assert set(cfg.asdict()) == {"profile", *keys(exp.Settings)}


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_names_its_source_and_meaning(name):
    for f in dataclasses.fields(load(name).Settings):
        if f.name != "profile":
            assert f.metadata["source"].split()[0].rstrip(",;") in TAGS, f.name
            assert f.metadata["doc"].strip(), f"{name}: {f.name} has no description"


@pytest.mark.parametrize("name", NAMES)
def test_bad_overrides_fail_at_once_naming_the_key(name):
    exp = load(name)
    cases = [("unknown key", lambda: settings(exp, "smoke", no_such_setting=1), "no_such_setting")]
    ints = _fields(exp, int)
    assert ints, f"{name} has no integer setting to test"
    cases.append(("wrong type", lambda: settings(exp, "smoke", **{ints[0].name: "many"}), ints[0].name))
    bounded = [f for f in _fields(exp, int, float, int | None, float | None) if f.metadata.get("low") is not None]
    assert bounded, f"{name} has no bounded setting to test"
    low = bounded[0]
    cases.append(("out of range", lambda: settings(exp, "smoke", **{low.name: low.metadata["low"] - 1}), low.name))
    cases.append(("unknown profile", lambda: settings(exp, "fast"), "fast"))
    for what, fn, key in cases:
        err = _error(fn)
        assert repr(key) in str(err), f"{name}, {what}: {err}"


@dataclasses.dataclass(frozen=True)
class _Demo(ExperimentSettings):
    widths: tuple[int, ...] = setting((4, 4), "DEF", "widths", low=1)
    kinds: tuple[str, ...] = setting(("a",), "DEF", "kinds", choices=("a", "b"))
    rate: float = setting(0.5, "PAPER §3", "a rate", low=0.0, high=1.0, open_low=True)
    cap: int | None = setting(None, "DEF", "a cap", low=2)
    flag: bool = setting(False, "DEF", "a flag")


_PROFILES = {"paper": {}, "quick": {"rate": 0.25}, "smoke": {"widths": [2]}}


def test_the_settings_machinery_checks_every_kind_of_field():
    cfg = make(_Demo, _PROFILES, "smoke", cap=5, rate=None)
    assert cfg.widths == (2,) and cfg.cap == 5 and cfg.rate == 0.5 and isinstance(cfg.rate, float)
    assert cfg.asdict() == {"profile": "smoke", "widths": [2], "kinds": ["a"], "rate": 0.5, "cap": 5, "flag": False}
    assert make(_Demo, _PROFILES, "quick", rate=1).rate == 1.0
    bad = [(dict(widths=[]), "'widths' needs at least 1"), (dict(widths=[3, 0]), r"'widths\[1\]' must be in"),
           (dict(widths="4"), "'widths' must be a list"), (dict(kinds=["c"]), r"'kinds\[0\]' must be one of"),
           (dict(rate=0.0), r"'rate' must be in \(0.0, 1.0\]"), (dict(rate=2), "'rate' must be at most 1.0"),
           (dict(rate=float("nan")), "'rate' must be finite"), (dict(cap=1), "'cap' must be in"),
           (dict(cap=2.5), "'cap' must be an integer"), (dict(flag=1), "'flag' must be True or False"),
           (dict(flag2=1), "unknown setting 'flag2'")]
    for override, match in bad:
        with pytest.raises((TypeError, ValueError), match=match):
            make(_Demo, _PROFILES, "paper", **override)
    with pytest.raises(ValueError, match="unknown source tag 'WIKI'"):
        setting(1, "WIKI", "x")
    with pytest.raises(ValueError, match="the paper profile is the Settings defaults"):
        check_profiles(_Demo, {"paper": {"rate": 0.1}, "quick": {}, "smoke": {}})
    with pytest.raises(ValueError, match="sets unknown key 'speed'"):
        check_profiles(_Demo, {"paper": {}, "quick": {"speed": 1}, "smoke": {}})
