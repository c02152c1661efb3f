"""Benchmarks: minelib against a bare loop and against peers, measured side by side in one run.

Prints tables and ratios; asserts nothing about time (machines are shared and noisy, so every
number here is a ratio of two things measured in the same run).

    python benchmarks/bench.py [--quick] [--device cpu|cuda|auto] [--threads 2] [--only speed,peers,stacked,gan,seeds,ksg]

Peers (`pip install -e ".[bench]"`; torch-mist with --no-deps plus pyro-ppl, never upgrading torch):
torch-mist's ``estimate_mi`` and npeet-plus's KSG ``mi``. A missing peer is reported and skipped.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

import minelib
from minelib.benchmark import peer_torch_mist
from minelib.data import correlated_gaussian
from minelib.experiments.fig1_gaussian_mi import RHOS
from minelib.runtime import device_name, resolve_device


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(h)), *(len(_f(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(_f(v).ljust(w) for v, w in zip(r, widths)))


def _rows_as_they_come(title: str, header: list[str], width: int = 12):
    """Print a table row by row (for sections whose rows take minutes each); returns the row printer."""
    print(f"\n{title}\n" + "  ".join(str(h).ljust(width) for h in header), flush=True)
    return lambda row: print("  ".join(_f(v).ljust(width) for v in row), flush=True)


def _f(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def bare_loop(x: torch.Tensor, z: torch.Tensor, steps: int, batch: int, hidden: int) -> float:
    """Steps/s of the plainest MINE loop: joint and shuffled pairs in one forward, DV loss, fused Adam."""
    n, d = x.shape[0], x.shape[1] + z.shape[1]
    net = nn.Sequential(nn.Linear(d, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, 1)).to(x.device)
    opt = torch.optim.Adam(net.parameters(), 1e-3, fused=True)

    def run(k):
        for _ in range(k):
            i = torch.randint(n, (batch,), device=x.device)
            xb, zb = x[i], z[i]
            zs = zb[torch.randperm(batch, device=x.device)]
            t = net(torch.cat([torch.cat([xb, zb], 1), torch.cat([xb, zs], 1)]))
            loss = -(t[:batch].mean() - torch.logsumexp(t[batch:], 0) + math.log(batch))
            opt.zero_grad()
            loss.backward()
            opt.step()
    run(50)
    _sync(x.device)
    _, sec = _timed(lambda: run(steps))
    _sync(x.device)
    return steps / sec


def bench_speed(a, dev) -> None:
    """estimate_mi's training loop (hand-derived gradients, minelib.critic_step) against the bare autograd loop
    (2 x 100 MLP, batch 256)."""
    xa, xb = correlated_gaussian(20_000, 0.5, 2, seed=0)
    x = torch.tensor(xa, dtype=torch.float32, device=dev)
    z = torch.tensor(xb, dtype=torch.float32, device=dev)
    bare = bare_loop(x, z, a.steps, 256, 100)
    est, wall = _timed(lambda: minelib.estimate_mi(xa, xb, steps=a.steps, batch_size=256, hidden=(100, 100),
                                                   device=str(dev), progress=False, eval_every=a.steps))
    _table(f"estimate_mi training speed ({a.steps} steps, 2 x 100 MLP, batch 256)", ["loop", "steps/s"],
           [["bare PyTorch loop (autograd, fused Adam)", bare], ["minelib.estimate_mi", est.steps_per_second],
            ["ratio minelib / bare", est.steps_per_second / bare],
            ["estimate_mi, whole call (checks, transform, evaluation, interval)", a.steps / wall]])


def bench_peers(a, dev) -> None:
    """minelib.estimate_mi against torch-mist's estimate_mi at the same network (2 x 128, ReLU: torch-mist's
    default activation), batch (256), lr (1e-3) and steps, over 3 seeds, measured side by side (one run of
    either is noisy: torch-mist's error at rho 0.9, d 5 ranged from 0.14 to 0.79 nats over seeds)."""
    try:
        import torch_mist
    except ImportError as err:
        print(f"\ntorch-mist not installed ({err}); skipping (pip install -e '.[bench]')")
        return
    rows, seeds, hidden = [], range(3), (128, 128)
    for rho, dim in [(0.5, 2), (0.9, 5)]:
        truth = minelib.gaussian_mi(rho, dim)
        data = [correlated_gaussian(20_000, rho, dim, seed=1 + s) for s in seeds]
        ours, t_ours = _timed(lambda: [minelib.estimate_mi(x, z, steps=a.steps, batch_size=256, hidden=hidden,
                                                           activation="relu", lr=1e-3, device=str(dev),
                                                           progress=False, seed=s).mi
                                       for s, (x, z) in zip(seeds, data)])
        theirs = lambda: [peer_torch_mist(x, z, a.steps, 256, list(hidden), s) for s, (x, z) in zip(seeds, data)]
        mist, t_mist = _timed(theirs)
        err = lambda v: float(np.mean(np.abs(np.array(v) - truth)))
        rows.append([f"rho={rho}, d={dim}", truth, err(ours), err(mist), len(seeds) * a.steps / t_ours,
                     len(seeds) * a.steps / t_mist, t_mist / t_ours])
    _table(f"estimate_mi vs torch-mist {torch_mist.__version__} ('mine', 2 x 128 ReLU, batch 256, {a.steps} steps, "
           "3 seeds, wall time including evaluation)", ["task", "truth", "minelib mean |err|", "torch-mist mean |err|",
                                                        "minelib steps/s", "torch-mist steps/s", "speed ratio"], rows)


def bench_stacked(a, dev) -> None:
    """The Fig 1 grid: K = 13 stacked members against 13 one-by-one calls, same seeds."""
    data = [correlated_gaussian(20_000, rho, 2, seed=i) for i, rho in enumerate(RHOS)]
    x, z = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    truth = np.array([minelib.gaussian_mi(r, 2) for r in RHOS])
    kw = dict(steps=a.steps, batch_size=256, hidden=(100, 100), device=str(dev), progress=False, eval_every=a.steps)
    stacked, t_stacked = _timed(lambda: minelib.estimate_mi(x, z, seed=list(range(13)), **kw))
    single, t_single = _timed(lambda: np.array([minelib.estimate_mi(x[k], z[k], seed=k, **kw).mi for k in range(13)]))
    _table(f"K = 13 stacked vs 13 one-by-one ({a.steps} steps each, 2 x 100, batch 256)",
           ["mode", "wall s", "mean |err| nats", "max |stacked - single|"],
           [["13 one-by-one", t_single, float(np.abs(single - truth).mean()), ""],
            ["stacked K=13", t_stacked, float(np.abs(stacked.mi - truth).mean()), float(np.abs(stacked.mi - single).max())],
            ["speed-up", t_single / t_stacked, "", ""]])


def bench_gan(a, dev) -> None:
    """Fig 4's MINEGAN at the quick profile's networks: 3 seeds as one stacked model against 3 one-by-one runs."""
    from minelib.experiments import fig4_25gaussians_gan as fig4, settings
    from minelib.gan import train_gan
    from minelib.metrics import grid_mode_metrics
    from minelib.toy2d import grid_gaussians

    cfg = settings(fig4, "quick")
    steps = 300 if a.quick else 1000
    data = [grid_gaussians(cfg.n_data, seed=s)[0] for s in range(3)]
    kw = dict(beta=1.0, steps=steps, batch_size=cfg.batch_size, lr=cfg.lr, g_hidden=list(cfg.g_hidden),
              d_hidden=list(cfg.d_hidden), t_hidden=list(cfg.t_hidden), record_at=[steps], n_record=cfg.n_samples,
              device=str(dev), progress=False)
    stacked, t_stacked = _timed(lambda: train_gan(data, seed=[0, 1, 2], **kw))
    single, t_single = _timed(lambda: [train_gan(d, seed=s, **kw) for s, d in enumerate(data)])
    modes = lambda runs: " / ".join(str(grid_mode_metrics(r.samples[steps])["modes"]) for r in runs)
    _table(f"MINEGAN, 3 seeds stacked vs one-by-one ({steps} iterations, G 2 x {cfg.g_hidden[0]}, D and T 3 x "
           f"{cfg.d_hidden[0]}, batch {cfg.batch_size})", ["mode", "wall s", "modes covered per seed"],
           [["3 one-by-one", t_single, modes(single)], ["stacked K=3", t_stacked, modes(stacked)],
            ["speed-up", t_single / t_stacked, ""]])


def bench_seeds(a, dev) -> None:
    """3 seeds as one stacked model against 3 one-by-one runs, at the quick profiles' networks: Fig 5's ALI+MINE
    on the 25-Gaussian grid, and Table 1's ALI+MINE and Table 3's MINE (Additive) on MNIST-shaped pixels
    (random: only the time is read there)."""
    from minelib.bidirectional import mnist_networks, reconstruct, toy_networks, train_bidirectional
    from minelib.bottleneck import make_model, train_bottleneck
    from minelib.experiments import (fig5_ali_reconstructions as fig5, table1_mnist_bidirectional as table1,
                                     settings, table3_mnist_bottleneck as table3)
    from minelib.toy2d import grid_gaussians

    f5, t1, t3 = settings(fig5, "quick"), settings(table1, "quick"), settings(table3, "quick")
    rng = np.random.default_rng(0)
    grid = [grid_gaussians(f5.n_data, seed=s)[0] for s in range(3)]
    n_ib = 600 if a.quick else 6_000
    pixels = rng.integers(0, 256, (n_ib, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, n_ib)
    run = dict(device=str(dev), progress=False)
    toy = lambda s: toy_networks("ali_mine", hidden=list(f5.hidden), t_hidden=list(f5.t_hidden), seed=s)
    mnist = lambda s: mnist_networks("ali_mine", z_dim=t1.z_dim, g_hidden=list(t1.g_hidden), f_hidden=list(t1.f_hidden),
                                     d_hidden=list(t1.d_hidden), t_hidden=list(t1.t_hidden), seed=s)
    ib = lambda s: make_model("MINE (Additive)", hidden=list(t3.hidden), z_dim=t3.z_dim,
                              critic_hidden=list(t3.critic_hidden), seed=s)
    steps_grid, steps_mnist = (300, 50) if a.quick else (1500, 200)
    # Each task trains the models of a list of seeds: three at once, or one (a plain run).
    tasks = {
        f"Fig 5 ALI+MINE, grid, {steps_grid} it": lambda seeds: train_bidirectional(
            [grid[s] for s in seeds], [toy(s) for s in seeds], "ali_mine", steps_grid, batch_size=f5.batch_size,
            seed=seeds, **run),
        f"Table 1 ALI+MINE, MNIST nets, {steps_mnist} it": lambda seeds: train_bidirectional(
            pixels, [mnist(s) for s in seeds], "ali_mine", steps_mnist, batch_size=t1.batch_size, seed=seeds, **run),
        f"Table 3 MINE (Additive), {n_ib} images, 1 epoch": lambda seeds: train_bottleneck(
            [ib(s) for s in seeds], pixels / 255.0, labels, pixels[:500] / 255.0, labels[:500], epochs=1, seed=seeds,
            **run),
    }
    rows = []
    for name, train in tasks.items():
        stacked, t_stacked = _timed(lambda: train([0, 1, 2]))
        single, t_single = _timed(lambda: [train([s])[0] for s in range(3)])
        mse = (lambda runs: " / ".join(f"{((reconstruct(r.model, d[:2000]) - d[:2000]) ** 2).sum(1).mean():.2f}"
                                       for r, d in zip(runs, grid))) if name.startswith("Fig") else (lambda runs: "-")
        rows.append([name, t_single, t_stacked, t_single / t_stacked, mse(single), mse(stacked)])
    _table("Multi-seed runs, 3 seeds stacked vs one-by-one (quick networks)",
           ["task", "one-by-one s", "stacked s", "speed-up", "recon MSE alone", "recon MSE stacked"], rows)


def bench_ksg(a, dev) -> None:
    """ksg_mi against npeet-plus's KSG at n = 5,000 and 100,000, d = 2 and 10 (per variable)."""
    try:
        from npeet_plus import mi as npeet_mi
    except ImportError as err:
        npeet_mi = None
        print(f"\nnpeet-plus not installed ({err}); timing minelib alone")
    print_row = _rows_as_they_come("ksg_mi vs npeet-plus (k = 3, rho = 0.5; d per variable; n = 100,000 at d = 10 takes "
                                   "minutes each)", ["n", "d", "truth", "minelib", "npeet", "minelib s", "npeet s",
                                                     "speed ratio"])
    for n in ([5_000, 20_000] if a.quick else [5_000, 100_000]):
        for dim in (2, 10):
            x, z = correlated_gaussian(n, 0.5, dim, seed=2)
            ours, t_ours = _timed(lambda: minelib.ksg_mi(x, z, k=3))
            if npeet_mi is not None:
                theirs, t_theirs = _timed(lambda: float(npeet_mi(x, z, k=3, base=math.e)))
            else:
                theirs, t_theirs = float("nan"), float("nan")
            print_row([n, dim, minelib.gaussian_mi(0.5, dim), ours, theirs, t_ours, t_theirs, t_theirs / t_ours])


SECTIONS = {"speed": bench_speed, "peers": bench_peers, "stacked": bench_stacked, "gan": bench_gan, "seeds": bench_seeds,
            "ksg": bench_ksg}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and smaller n (about a minute or two)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default=",".join(SECTIONS))
    a = p.parse_args(argv)
    a.steps = 500 if a.quick else 2000
    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    print(f"device: {device_name(dev)}; torch {torch.__version__}; minelib {minelib.__version__}")
    for name in a.only.split(","):
        SECTIONS[name](a, dev)


if __name__ == "__main__":
    main()
