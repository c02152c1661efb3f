"""What the three models with a MINE term share: MINEGAN (eq. 20-21), the bidirectional models (eq. 23) and
the information bottleneck (eq. 24) each build their networks, then per step make a discriminator step, a
statistics-network step and a generator (or encoder) step, and record. This module holds the rest:

- :func:`configure`: a frozen settings dataclass, with keyword overrides, validated once at the boundary;
- :class:`Members`: the K members of a run trained at once (a list of seeds, :func:`minelib.seeding.member_seeds`),
  each drawing from random streams of its own, stacked into one model (:mod:`minelib.ensemble`) or not;
- :class:`Recorder`: per-step values kept on the device and read back every few steps with one host
  synchronisation, where a non-finite or implausible value stops the run (the idea of bmi's
  ``TrainingLog``), and the progress bar;
- :func:`descend` and :func:`statistics_step`: an optimiser step, and the statistics network T's step.

Every seed a run uses is derived in :mod:`minelib.seeding` (its docstring lists the streams).

The MI term's gradient with adaptive clipping (eq. 36) is :func:`minelib.clipping.mi_regularised_grads`.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import ensemble, seeding
from .estimator import MINE, TrainingDivergedError
from .networks import seeded_noise


# --------------------------------------------------------------------------- settings

def set_checked(config, **values) -> None:
    """Store validated (and normalised) ``values`` on a frozen dataclass, from its ``__post_init__``."""
    for name, value in values.items():
        object.__setattr__(config, name, value)


def configure(cls: type, config, overrides: Mapping[str, object]):
    """``config`` (an instance of the dataclass ``cls``; None: the defaults) with keyword ``overrides`` applied
    by :func:`dataclasses.replace`, so that they are validated like any other setting."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(unknown)}; {cls.__name__} has: {', '.join(names)}")
    if config is None:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in overrides
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise TypeError(f"{cls.__name__} needs {', '.join(missing)}; give them as keywords or pass a config")
        return cls(**overrides)
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}; got {type(config).__name__}")
    return dataclasses.replace(config, **overrides)


def settings_of(config) -> dict:
    """The settings dataclass as a plain dict for the results (tuples as lists, as JSON writes them)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


# --------------------------------------------------------------------------- members

def data_sets(data) -> list | None:
    """``data`` as a list of per-member data sets, or None when it is one data set (shared by all members).

    A data set is an array of rows (numpy, torch or nested lists; 2-d, or more for images) or a sampler
    function, so a list or tuple of such is one per member; a plain nested-list data set has 1-d items (its
    rows) and is one data set.
    """
    ndim = lambda d: d.ndim if hasattr(d, "ndim") else np.ndim(d)
    if isinstance(data, (list, tuple)) and data and all(callable(d) or ndim(d) >= 2 for d in data):
        return list(data)
    return None


def per_member_data(data, k: int, noun: str = "seeds") -> list:
    """``data`` as one data set per member: a list of ``k`` data sets, or the same one ``k`` times
    (see :func:`data_sets`)."""
    sets = data_sets(data)
    if sets is None:
        return [data] * k
    if len(sets) != k:
        raise ValueError(f"data lists {len(sets)} data sets for {k} {noun}; give one per "
                         f"{noun.rstrip('s')} or a single one")
    return sets


class Members:
    """The K members of one run, trained at once: one per seed, each with random streams of its own.

    Args:
        seeds: one seed per member (from :func:`minelib.seeding.member_seeds`, called by the trainer).
        device: where the members train.
        stacked: whether tensors carry a leading member dimension K (a model stacked by
            :func:`minelib.ensemble.stack`); a plain run of one model is not stacked.
        generator_device: where the members' generators live (default: ``device``).

    :meth:`gens` are the members' generators of one purpose of :mod:`minelib.seeding` (``data``, ``noise``,
    ``shuffle``, ``noise_layers``, ``eval``...), made once per run: each member draws from its own, in the
    order a run of that member alone draws, so a member of a stacked run gets the random numbers it gets alone.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device, *, stacked: bool,
                 generator_device: torch.device | str | None = None):
        self.seeds, self.device, self.stacked = list(seeds), device, bool(stacked)
        self.generator_device = device if generator_device is None else generator_device
        self._streams: dict[str, list[torch.Generator]] = {}

    def __len__(self) -> int:
        return len(self.seeds)

    def gens(self, purpose: str) -> list[torch.Generator]:
        """The members' generators of stream ``purpose`` on the generator device; the same objects for the
        whole run, so that each stream continues where it stopped."""
        if purpose not in self._streams:
            self._streams[purpose] = self.generators(purpose, self.generator_device)
        return self._streams[purpose]

    def generators(self, purpose: str, device: torch.device | str = "cpu") -> list[torch.Generator]:
        """Fresh generators of stream ``purpose``, one per member, on ``device``."""
        return seeding.member_generators(self.seeds, purpose, device)

    def draw(self, purpose: str, fn: Callable[[int, torch.Generator], torch.Tensor], *, dim: int = 0,
             generators: Sequence[torch.Generator] | None = None) -> torch.Tensor:
        """``fn(k, generator)`` per member from its stream ``purpose`` (or from ``generators``), stacked on a
        new dimension ``dim`` when stacked."""
        return ensemble.per_member(self.gens(purpose) if generators is None else generators, fn, self.stacked, dim)

    def shuffle(self, z: torch.Tensor) -> torch.Tensor:
        """Rows of ``z`` shuffled within each member (a derangement, stream ``shuffle``): MINE's marginal pairs."""
        return ensemble.shuffle_rows(z, self.gens("shuffle"), self.stacked)

    def full(self, value: float) -> torch.Tensor:
        """A constant per member, shaped like a per-member loss: (K,) when stacked, () otherwise."""
        return torch.full((len(self),) if self.stacked else (), value, device=self.device)

    def noise(self, module: nn.Module, purpose: str = "noise_layers"):
        """Context manager: the noise layers of ``module`` draw from the members' stream ``purpose``."""
        return seeded_noise(module, self.gens(purpose))

    def stack(self, modules: Sequence[nn.Module]) -> nn.Module:
        """The members' modules as one on the device: stacked, or the one module of a plain run."""
        if not self.stacked:
            return modules[0].to(self.device)
        try:
            return ensemble.stack(modules).to(self.device)
        except TypeError as e:
            raise TypeError(f"these models cannot be trained stacked ({e}); train them one at a time") from e

    def copy_back(self, net: nn.Module, modules: Sequence[nn.Module]) -> None:
        """Write the trained members of ``net`` into ``modules`` (moved to the device), for a stacked run."""
        if self.stacked:
            for k, m in enumerate(modules):
                ensemble.copy_member(net, m.to(self.device), k)

    def unstack(self, net: nn.Module, templates: Sequence[nn.Module]) -> list[nn.Module]:
        """Each member of the stacked ``net`` as a fresh copy of its unstacked template, on the device."""
        return [ensemble.unstack(net, t, k).to(self.device) for k, t in enumerate(templates)]


# --------------------------------------------------------------------------- steps

#: Step-size schedules of the adversarial loops: ``"cosine"`` decays every step size to 0 over the run (one cosine
#: half period), so that the last iterate settles instead of oscillating around the equilibrium.
LR_SCHEDULES = ("constant", "cosine")


def lr_schedules(optimisers: Sequence[torch.optim.Optimizer | None], schedule: str, steps: int) -> list:
    """One scheduler per optimiser that is not None, to be stepped once per iteration (none for ``"constant"``)."""
    if schedule == "constant":
        return []
    return [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps) for o in optimisers if o is not None]


def descend(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step of ``optimiser`` down ``loss`` (summed over stacked members, whose gradients stay apart)."""
    optimiser.zero_grad(set_to_none=True)
    loss.sum().backward()
    optimiser.step()


def statistics_step(mine: MINE, optimiser: torch.optim.Optimizer, x: torch.Tensor, z: torch.Tensor,
                z_marginal: torch.Tensor) -> torch.Tensor:
    """One step of the statistics network T up its bound on joint pairs ``(x, z)`` against ``(x, z_marginal)``
    (the bias-corrected DV gradient for DV); returns the bound's detached minibatch value."""
    t_loss, value = mine.loss(x, z, z_marginal)
    descend(optimiser, t_loss)
    return value


# --------------------------------------------------------------------------- recording

#: Plausibility bounds on recorded magnitudes: beyond them a run has diverged even while its numbers are
#: still finite (a run of train_gan at lr = 1e3 reaches losses of 1e13 long before an overflow).
#: - LOSS_BOUND, on losses and MI values: a cross-entropy of 1e6 needs logits of 1e6, and a DV value is at
#:   most twice T's largest output (Jensen), whereas healthy logits and critic outputs stay within tens;
#:   the largest healthy losses are squared reconstruction errors, at most 4 * 12288 ~ 5e4 for a CelebA
#:   image in [-1, 1].
#: - NORM_BOUND, on gradient norms (per unit of beta for the MI gradient, which scales with it): healthy
#:   runs of the test suite's networks stay below 20, and 7 * beta for the MI gradient (360 at beta 50
#:   unclipped); 1e8 is a million times that, and far below float32's overflow.
LOSS_BOUND = 1e6
NORM_BOUND = 1e8


class Recorder:
    """Per-step values of the K members, kept on the device and read back every ``every`` steps.

    Args:
        columns: names of the values :meth:`add` takes, in history order.
        members: the run's :class:`Members`.
        steps: the run's length (the last flush comes at ``steps``).
        every: steps between flushes: one host synchronisation each, so the loop never waits on the device.
        limits: ``{column: bound}``: columns that must stay finite and within ``|value| <= bound``
            (``math.inf``: finite only). Columns left out are not checked (NaN by design).
        label: the model's name, for the progress bar and errors. hint: what to try when a run diverges.
        show: ``{label: column}`` shown on the progress bar (mean over members of the last step).
        progress: show the progress bar.

    Use as a context manager, which closes the bar.
    """

    def __init__(self, columns: Sequence[str], members: Members, steps: int, every: int,
                 limits: Mapping[str, float], *, label: str, hint: str, show: Mapping[str, str] | None = None,
                 progress: bool = True):
        self.columns, self.members, self.steps, self.every = list(columns), members, steps, every
        self.limits, self.label, self.hint, self.show = dict(limits), label, hint, dict(show or {})
        self.blocks: list[torch.Tensor] = []
        self._rows: list[torch.Tensor] = []
        seeds = f" ({len(members)} seeds)" if members.stacked else ""
        self.bar = tqdm(total=steps, disable=not progress, desc=label + seeds, unit="it", leave=False)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def add(self, step: int, **values: torch.Tensor) -> torch.Tensor | None:
        """Record step ``step`` (1-based): one value per column, each () or (K,). At a flush, returns the
        steps since the last one as a CPU tensor (n, columns, K), checked; otherwise None."""
        self._rows.append(torch.stack([values[c].detach() for c in self.columns]).reshape(len(self.columns), -1))
        if step % self.every and step != self.steps:
            return None
        block = torch.stack(self._rows).cpu()
        self._rows = []
        self._check(block, step - len(block) + 1)
        self.blocks.append(block)
        self.bar.update(len(block))
        last = block[-1].double().nanmean(-1)
        self.bar.set_postfix({name: f"{float(last[self.columns.index(c)]):.3f}" for name, c in self.show.items()})
        return block

    def _check(self, block: torch.Tensor, first_step: int) -> None:
        cols = [i for i, c in enumerate(self.columns) if c in self.limits]
        values = block[:, cols].double()
        bound = torch.tensor([self.limits[self.columns[i]] for i in cols], dtype=values.dtype).view(1, -1, 1)
        bad = ~torch.isfinite(values) | (values.abs() > bound)
        if not bad.any():
            return
        row, col, k = (int(i) for i in bad.nonzero()[0])
        name, value, limit = self.columns[cols[col]], float(values[row, col, k]), float(bound[0, col, 0])
        what = "became non-finite" if not math.isfinite(value) else f"reached {value:.3g} (|value| > {limit:g})"
        raise TrainingDivergedError(f"{self.label} training diverged: {name} {what} at step {first_step + row} "
                                    f"(seed {self.members.seeds[k]}); {self.hint}")

    def histories(self) -> list[pd.DataFrame]:
        """One tidy history per member: a ``step`` column (1..steps), then the recorded columns (float64)."""
        values = torch.cat(self.blocks).double().numpy()
        out = []
        for k in range(values.shape[2]):
            history = pd.DataFrame(values[:, :, k], columns=self.columns)
            history.insert(0, "step", np.arange(1, len(values) + 1))
            out.append(history)
        return out
