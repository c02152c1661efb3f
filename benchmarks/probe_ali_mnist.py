"""Probe: what makes ALI (and ALI+MINE) learn inference on MNIST within a laptop's budget (Table 1's quick).

    python benchmarks/probe_ali_mnist.py [--variant ali] [--at 2000,4000] [--enc-noise 1.0] [--z-dim 100]
        [--lr 2e-4] [--f 256,128] [--d 256,128] [--g 256,256] [--t 128,128] [--seed 0]

Trains one model with :func:`minelib.bidirectional.train_bidirectional` (the loop Table 1 runs) on all 60,000
training images and prints, at each iteration count of ``--at``, one JSON line: the reconstruction accuracy of
``G(F(x) + eps)`` and of ``G(F(x))`` on 2,000 test images as labelled by a 3-epoch MLP classifier (about 97 %;
cached under ``build/``), chance (another image's reconstruction), the reconstruction error, the spread of the
codes ``F(x)`` (the prior's is 1), the critic's estimate and the gradient norms (ALI+MINE), the classes of 1,000
samples and the mean gap between the same z decoded in train and eval mode (BatchNorm statistics). The training
continues between checkpoints in separate calls, so Adam's moments restart at each: a probe, not Table 1 itself.
docs/diagnostics.md gives the numbers of one run per setting.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np
import torch

from minelib.bidirectional import decode, encode, mnist_networks, reconstruct, sample, train_bidirectional
from minelib.image_metrics import predict, reconstruction_accuracy, reconstruction_error, train_classifier
from minelib.mnist import load_mnist

CLASSIFIER = pathlib.Path(__file__).resolve().parents[1] / "build" / "probe_ali_classifier.pt"


def widths(text: str) -> list[int]:
    """"256,128" -> [256, 128]."""
    return [int(v) for v in text.split(",")]


def classifier(data):
    """The probe's MLP classifier, trained once and cached."""
    if CLASSIFIER.exists():
        return torch.load(CLASSIFIER, weights_only=False)
    clf, acc = train_classifier(data.x_train * 2 - 1, data.y_train, data.x_test * 2 - 1, data.y_test, arch="mlp",
                                epochs=3, device="cpu", seed=0)
    print(json.dumps({"classifier_test_acc": round(acc, 2)}), flush=True)
    CLASSIFIER.parent.mkdir(exist_ok=True)
    torch.save(clf, CLASSIFIER)
    return clf


def checkpoint(model, clf, x_test, y_test, enc_noise: float, history) -> dict:
    """The probe's scores of ``model`` now (see the module docstring)."""
    rec, mean_rec = reconstruct(model, x_test, noise=enc_noise), reconstruct(model, x_test, noise=0.0)
    perm = np.random.default_rng(0).permutation(len(rec))
    z = torch.randn(500, model.z_dim, generator=torch.Generator().manual_seed(3))
    model.decoder.train()
    with torch.no_grad():
        train_mode = model.decoder(z).numpy()
    gap = float(np.abs(train_mode - decode(model, z.numpy())).mean())  # decode() is in eval mode
    tail, codes = history.tail(200), encode(model, x_test, noise=0.0)
    acc = lambda images: reconstruction_accuracy(clf, images, y_test)
    error = lambda images: round(reconstruction_error(x_test, images), 2)
    return dict(acc=acc(rec), acc_mean_code=acc(mean_rec), chance=acc(rec[perm]), error=error(rec),
                chance_error=error(rec[perm]),
                code_std=round(float(codes.std(0).mean()), 3), mi=round(float(tail.mi.mean()), 3),
                norm_u=round(float(tail.norm_u.median()), 3), norm_m=round(float(tail.norm_m.median()), 3),
                sample_classes=np.bincount(predict(clf, sample(model, 1000, seed=1)), minlength=10).tolist(),
                train_eval_gap=round(gap, 4))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="ali")
    p.add_argument("--at", default="2000,4000", help="iteration counts to score at")
    p.add_argument("--enc-noise", type=float, default=1.0)
    p.add_argument("--z-dim", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-4)
    for name, default in (("f", "256,128"), ("d", "256,128"), ("g", "256,256"), ("t", "128,128")):
        p.add_argument(f"--{name}", default=default, help=f"hidden widths of {name.upper()}")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    data = load_mnist("auto", None, None, 2_000, seed=0)
    clf, x_train, x_test = classifier(data), data.x_train * 2 - 1, data.x_test * 2 - 1
    model = mnist_networks(a.variant, z_dim=a.z_dim, g_hidden=widths(a.g), f_hidden=widths(a.f),
                           d_hidden=widths(a.d), t_hidden=widths(a.t), seed=a.seed)
    done, start = 0, time.perf_counter()
    for at in widths(a.at):
        run = train_bidirectional(x_train, model, a.variant, at - done, batch_size=100, lr=a.lr,
                                  enc_noise=a.enc_noise, seed=a.seed * 1_000 + at, progress=False)
        done = at
        row = dict(vars(a), step=at, seconds=round(time.perf_counter() - start))
        print(json.dumps({**row, **checkpoint(model, clf, x_test, data.y_test, a.enc_noise, run.history)}), flush=True)


if __name__ == "__main__":
    main()
