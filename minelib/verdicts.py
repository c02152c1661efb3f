"""Verdicts that separate skill from noise: a paper's comparison "holds" only if it beats the spread over seeds
*and* a reference with no skill (uniform noise, shuffled pairs, chance accuracy).

Every comparison of the experiments goes through :func:`beats` (one side against another, or against a fixed
number) and :func:`verdict` (several such comparisons, all needed for the claim). The margin of a comparison is a
two-sided 95 % Student-t interval of the difference of the two means (Welch's standard error, the smaller side's
degrees of freedom, which is conservative): a difference inside it is "within noise". With a single value on
both sides the spread is unknown, and nothing can be "held".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

#: The three verdicts of a judged claim (and the one of a claim that is not judged).
HELD, NOT_HELD, WITHIN_NOISE, NOT_JUDGED = "held", "not held", "within noise", "not judged"
VERDICTS = (HELD, NOT_HELD, WITHIN_NOISE, NOT_JUDGED)


@dataclass(frozen=True)
class Comparison:
    """One side against another: ``diff`` (mean of ``a`` minus mean of ``b``, signed so that positive means ``a``
    is better), ``margin`` (the 95 % half-width of that difference; NaN when the spread is unknown) and
    ``outcome``: ``"better"``, ``"worse"`` or ``"within noise"``. ``label`` names the comparison."""

    label: str
    diff: float
    margin: float
    outcome: str

    def __str__(self) -> str:
        margin = "spread unknown" if math.isnan(self.margin) else f"95% margin {self.margin:.3g}"
        return f"{self.label}: {self.outcome} (difference {self.diff:+.3g}, {margin})"


def _values(x, name: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"{name} must be one or more finite numbers; got {x!r}")
    return a


def beats(a: Sequence[float] | float, b: Sequence[float] | float, *, higher_is_better: bool = True,
          label: str = "") -> Comparison:
    """Whether ``a`` (values over seeds, or one number) is better than ``b`` beyond the noise of both.

    A single number on one side counts as exact (a threshold, or a reference computed without spread). The margin
    is ``t_{0.975, df} * sqrt(var_a / n_a + var_b / n_b)``, with ``df`` one less than the smaller sample that has a
    spread; with no spread on either side the outcome is ``"within noise"`` unless the two are equal-or-worse.
    """
    a, b = _values(a, "a"), _values(b, "b")
    sign = 1.0 if higher_is_better else -1.0
    diff = sign * (a.mean() - b.mean())
    sides = [x for x in (a, b) if x.size > 1]
    if not sides:
        margin = math.nan
    else:
        from scipy import stats

        se = math.sqrt(sum(x.var(ddof=1) / x.size for x in sides))
        margin = float(stats.t.ppf(0.975, min(x.size for x in sides) - 1) * se)
    if math.isnan(margin):
        outcome = "worse" if diff < 0 else "within noise"
    else:
        outcome = "better" if diff > margin else ("worse" if diff < -margin else "within noise")
    return Comparison(label, float(diff), margin, outcome)


def verdict(*comparisons: Comparison) -> str:
    """The claim's verdict from the comparisons it needs: ``held`` if every one is better, ``not held`` if any is
    worse beyond its margin (or, with no spread, at all), else ``within noise``."""
    if not comparisons:
        raise ValueError("verdict needs at least one comparison")
    outcomes = {c.outcome for c in comparisons}
    if "worse" in outcomes:
        return NOT_HELD
    return HELD if outcomes == {"better"} else WITHIN_NOISE


def explain(*comparisons: Comparison) -> str:
    """The comparisons as one sentence for a claim's detail."""
    return "; ".join(str(c) for c in comparisons)


def uniform_reference(n: int, half_width: float, draws: int, seed: int, score: Callable[[np.ndarray], dict]):
    """The no-skill reference of the 2-D toys: ``draws`` draws of ``n`` points uniform on the plotted square (stream
    ``eval`` of :mod:`minelib.seeding`, draw ``r`` its ``r``-th child), each scored by ``score`` like a model's
    samples. Returns the scores (a DataFrame, one row per draw, column ``draw`` first) and the first draw."""
    import pandas as pd

    from . import seeding

    xs = [uniform_square(n, half_width, seeding.rng(seed, "eval", r)) for r in range(draws)]
    return pd.DataFrame([{"draw": r, **score(x)} for r, x in enumerate(xs)]), xs[0]


def uniform_square(n: int, half_width: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on the square ``[-half_width, half_width]^2``: the no-skill generator of the 2-D toys
    (it spreads evenly over the plotted square and knows nothing of the data)."""
    return rng.uniform(-half_width, half_width, size=(n, 2))
