"""Kernel launches per training step of every paper loop, counted on the CPU with torch's profiler.

On a GPU these loops are launch-bound (review of 2026-12-01: 150-1,200 kernels a step, under 0.3 ms of math), so
the count of operations that would each be one kernel is the number to bring down. Per experiment and unit, the
unit is run at its ``--profile`` config (paper by default, small data as in ``device_run.py``'s check) for two
lengths under the profiler, and the difference is divided by the difference in steps, so setup and the final
evaluation cancel. Counted: outermost ``aten::`` calls (what Python or autograd's engine dispatches) that compute;
views, allocations and other metadata ops are passed through to what they call. Also counted: host syncs
(``aten::_local_scalar_dense``, an ``.item()``: a stall on a GPU) and, for the Figs 1-2 critic step, the same step
under ``torch.compile`` (inductor's fused C++ kernels counted one each).

Caveats: a CPU count is a proxy. A CUDA ``randperm`` is about 6 kernels, ``logsumexp`` about 3, fused Adam one
multi-tensor launch per about 100 tensors; on the CPU each is one call. Table 2 is counted at narrow widths (its
paper widths take seconds a step on a CPU; the layers, hence the count, are the same).

    python benchmarks/launches.py [--only fig1_gaussian_mi,...] [--steps 2,4] [--no-compile]
"""
from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_run import _data_overrides, small_settings  # noqa: E402  (benchmarks/device_run.py, beside this)

from minelib.experiments.registry import NAMES  # noqa: E402

#: Ops that launch nothing themselves (views, allocations, metadata); what they call is counted instead.
NO_KERNEL = {
    "aten::" + n for n in (
        "view", "_unsafe_view", "reshape", "_reshape_alias", "as_strided", "transpose", "t", "mT", "permute",
        "slice", "select", "narrow", "unsqueeze", "squeeze", "expand", "expand_as", "view_as", "flatten",
        "unflatten", "split", "chunk", "unbind", "alias", "detach", "lift_fresh", "resolve_conj", "resolve_neg",
        "empty", "empty_like", "empty_strided", "resize_", "contiguous", "to", "_to_copy", "numpy_T", "result_type",
        "is_nonzero", "item", "set_", "diagonal", "indices", "values", "real", "conj", "_nested_tensor_from_mask")}
#: Narrower Table 2 networks for counting (see the module text).
NARROW = {"table2_celeba_bidirectional": dict(ch=8, head=32, z_dim=16, classifier_ch=4)}


def _kernels(event) -> int:
    """Kernels one profiler event stands for: 1 if it computes, else the sum over the ops it calls."""
    if event.name.startswith("aten::") and event.name not in NO_KERNEL:
        return 1
    if "cpp_fused" in event.name:  # an inductor kernel (with cpp.enable_kernel_profile)
        return 1
    return sum(_kernels(c) for c in event.cpu_children)


def count(fn) -> tuple[int, int]:
    """``(kernels, host syncs)`` of one call of ``fn`` under torch's profiler (CPU events)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.events()
    top = [e for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
    return (sum(_kernels(e) for e in top if e.name.startswith("aten::") or "cpp_fused" in e.name),
            sum(1 for e in events if e.name == "aten::_local_scalar_dense"))


def per_step(name: str, data: dict, lengths: tuple[int, int], profile_name: str) -> list[dict]:
    """Kernels and syncs per step of every training unit of ``name``, from two lengths of the unit."""
    lo, hi = lengths
    (exp, short), (_, long) = (small_settings(profile_name, data, name, n, **NARROW.get(name, {})) for n in (lo, hi))
    rows = []
    for unit in exp.units(short):
        if "ksg" in unit.key or unit.key == "classifier":
            continue
        (k_lo, s_lo), (k_hi, s_hi) = (count(lambda c=c: exp.run_unit(c, unit, "cpu", 0, False)) for c in (short, long))
        rows.append({"experiment": name, "unit": unit.key, "kernels_per_step": (k_hi - k_lo) / (hi - lo),
                     "syncs_per_step": (s_hi - s_lo) / (hi - lo)})
        print(f"{name:30s} {unit.key:28s} {rows[-1]['kernels_per_step']:8.1f} {rows[-1]['syncs_per_step']:6.1f}",
              flush=True)
    return rows


def critic_step_compiled(members: int = 65, hidden=(400, 400, 400), batch: int = 256, steps: int = 4) -> dict:
    """Figs 1-2's critic step (:class:`minelib.critic_step.CriticStep`), eager and under ``torch.compile``.

    The whole step does not compile (inductor's functionalization rejects ``torch._fused_adam_`` mutating the
    parameters in place: "mutating a non-functional tensor with a functional tensor"), so the forward, bound
    and backward are compiled and Adam stays eager (2 calls: the step counters' add and the fused update).
    """
    import torch._inductor.config as inductor

    from minelib.critic_step import CriticStep
    from minelib.estimator import MINE

    inductor.cpp.enable_kernel_profile = True  # fused kernels become profiler events
    mine = MINE(20, 20, "dv", 0.01, hidden, "elu", members=members, seed=list(range(members)))
    step = CriticStep(mine)
    x, z = torch.randn(members, 2 * batch, 20), torch.randn(members, 2 * batch, 20)

    def gradients(x, z):
        inputs, pre, outs = step._forward(torch.cat([x, z], dim=-1))
        value, grad = step._bound_and_grad(outs[-1])
        step._backward(grad, inputs, pre, outs)
        return value

    step.step(x, z, 1e-4)  # the first step makes the buffers and starts the moving average
    out = {"eager_step": count(lambda: [step.step(x, z, 1e-4) for _ in range(steps)])[0] / steps}
    with torch.no_grad():
        out["eager_gradients"] = count(lambda: [gradients(x, z) for _ in range(steps)])[0] / steps
        start = time.perf_counter()
        compiled = torch.compile(gradients)
        try:
            compiled(x, z)
        except Exception as err:  # noqa: BLE001 - a missing C++ compiler, say: report it
            return {**out, "compiled_gradients": f"failed: {type(err).__name__}: {str(err)[:200]}"}
        out["compile_s"] = round(time.perf_counter() - start, 1)
        out["compiled_gradients"] = count(lambda: [compiled(x, z) for _ in range(steps)])[0] / steps
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the table (and the compiled critic step's counts)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(NAMES))
    p.add_argument("--profile", default="paper", choices=("smoke", "quick", "paper"))
    p.add_argument("--steps", type=lambda s: tuple(int(v) for v in s.split(",")), default=(2, 4))
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurement (about 40 s)")
    a = p.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="launches-"))
    data = _data_overrides(scratch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {a.profile} networks, small data\n"
          f"{'experiment':30s} {'unit':28s} {'kernels':>8s} {'syncs':>6s}  (per step)", flush=True)
    rows = []
    for name in [n for n in a.only.split(",") if n]:
        rows += per_step(name, data, a.steps, a.profile)
    per = collections.defaultdict(list)
    for row in rows:
        per[row["experiment"]].append(row["kernels_per_step"])
    print("\nper experiment (min-max over units): " + "; ".join(f"{k} {min(v):.0f}-{max(v):.0f}" for k, v in per.items()))
    if not a.no_compile:
        print(f"\nFig 1's critic step (K = 65, 3 x 400, batch 256), kernels per step: {critic_step_compiled()}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
