"""Image metrics of the bidirectional tables (Tables 1 and 2, paper §4.3; the paper defines none of them,
these are ours).

- :func:`reconstruction_error`: mean over images of the L2 norm ``|x - x_rec|_2`` in [-1, 1] pixel space.
- :func:`reconstruction_accuracy`: % of reconstructions that a classifier trained by the project
  (:func:`train_classifier`) gives the original's label.
- :func:`ms_ssim`: MS-SSIM of each image against its reconstruction (on the GPU when there is one), from ``torchmetrics``
  (``multiscale_structural_similarity_index_measure``, data range 2, Gaussian window sigma 1.5,
  ``normalize="relu"``). 28x28 MNIST is too small for the standard 5 scales with an 11x11 window, so
  :data:`MNIST_MS_SSIM` uses 3 scales (the first three standard weights 0.0448, 0.2856, 0.3001) and a 7x7 window.
- :func:`intra_class_ms_ssim`: the other reading of the paper's sentence: mean MS-SSIM between random
  pairs of samples that the classifier puts in the same class (high = little diversity within a class).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import seeding
from .runtime import resolve_device
from .validation import check_choice, check_positive_int

#: torchmetrics settings for 28x28 images: 3 scales, 7x7 window (documented in the table header).
MNIST_MS_SSIM = dict(kernel_size=7, betas=(0.0448, 0.2856, 0.3001))
CLASSIFIERS = ("cnn", "mlp")


def _images(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name} must hold at least one image (shape (n, ...)); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.reshape(len(x), -1)


def reconstruction_error(x, x_rec) -> float:
    """Mean over images of ``|x - x_rec|_2`` (each image flattened; pixels in [-1, 1])."""
    a, b = _images(x, "x"), _images(x_rec, "x_rec")
    if a.shape != b.shape:
        raise ValueError(f"x and x_rec must have the same shape; got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b, axis=1).mean())


class MnistClassifier(nn.Module):
    """A small classifier of 28x28 images in [-1, 1]: ``cnn`` (two 5x5 conv + max-pool blocks of 32 and 64
    channels, a 256-unit layer with dropout 0.25) or ``mlp`` (784-512-512 ReLU)."""

    def __init__(self, arch: str = "cnn", n_classes: int = 10):
        super().__init__()
        self.arch = check_choice(arch, "arch", CLASSIFIERS)
        if self.arch == "cnn":
            self.net = nn.Sequential(
                nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.25), nn.Linear(256, n_classes))
        else:
            self.net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                     nn.Linear(512, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def train_classifier(x_train, y_train, x_test, y_test, arch: str = "cnn", epochs: int = 3, batch_size: int = 128,
                     lr: float = 1e-3, device: str = "auto", seed: int = 0):
    """Train :class:`MnistClassifier` with Adam; return ``(classifier in eval mode, test accuracy in %)``.

    ``seed`` (any int >= 0) fixes the initial weights, the epochs' order and dropout (streams ``init``,
    ``order``, ``global`` of :mod:`minelib.seeding`); torch's global generators are left as they were.
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    dev = resolve_device(device)
    xt = torch.as_tensor(_images(x_train, "x_train"))
    yt = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    if len(xt) != len(yt):
        raise ValueError(f"x_train has {len(xt)} rows but y_train {len(yt)}")
    with seeding.fork_global(seed, "init"):
        clf = MnistClassifier(arch).to(dev)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    order_gen = seeding.generator(seed, "order")
    clf.train()
    with seeding.fork_global(seed, "global", device=dev):  # dropout draws from torch's global generator
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=order_gen)
            for i in range(0, len(xt), batch_size):
                idx = order[i:i + batch_size]
                loss = F.cross_entropy(clf(xt[idx].to(dev)), yt[idx].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    clf.eval()
    return clf, accuracy(clf, x_test, y_test)


@torch.no_grad()
def predict(classifier: nn.Module, x, rows: int = 2048) -> np.ndarray:
    """Predicted class of each image (eval mode)."""
    x = torch.as_tensor(_images(x, "x"))
    dev = next(classifier.parameters()).device
    classifier.eval()
    return torch.cat([classifier(x[i:i + rows].to(dev)).argmax(1).cpu() for i in range(0, len(x), rows)]).numpy()


def accuracy(classifier: nn.Module, x, y) -> float:
    """% of images whose predicted class is ``y``."""
    y = np.asarray(y)
    pred = predict(classifier, x)
    if len(pred) != len(y):
        raise ValueError(f"{len(pred)} images but {len(y)} labels")
    return 100.0 * float((pred == y).mean())


def reconstruction_accuracy(classifier: nn.Module, x_rec, y) -> float:
    """% of reconstructions that ``classifier`` gives the original's label ``y``."""
    return accuracy(classifier, x_rec, y)


def ms_ssim(x, x_rec, image_shape=(1, 28, 28), kernel_size: int = 7,
            betas=MNIST_MS_SSIM["betas"], data_range: float = 2.0, rows: int = 1024,
            device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> np.ndarray:
    """MS-SSIM of each image against its counterpart (torchmetrics), shape (n,); images in [-1, 1].

    ``device`` None: the inputs' device when they are CUDA tensors, else CUDA when torch sees a GPU, else the CPU.
    ``dtype`` None: float32 on the CPU, float64 on a GPU, where cuDNN would otherwise run float32 convolutions in
    TF32 (10-bit mantissa: about 1e-3 on a score); float64 costs next to nothing at these sizes and agrees with the
    float32 CPU path to its rounding (``tests/test_image_metrics.py``). Raises ImportError when torchmetrics is
    missing.
    """
    try:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim
    except ImportError as err:
        raise ImportError(f"MS-SSIM needs torchmetrics (pip install torchmetrics): {err}") from err

    dev = _metric_device(device, x, x_rec)
    dtype = dtype or (torch.float32 if dev.type == "cpu" else torch.float64)
    a, b = _images(_to_host(x), "x"), _images(_to_host(x_rec), "x_rec")
    if a.shape != b.shape:
        raise ValueError(f"x and x_rec must have the same shape; got {a.shape} and {b.shape}")
    shape = (-1, *image_shape)
    chunk = lambda v, i: torch.as_tensor(v[i:i + rows]).to(dev, dtype).reshape(shape)
    out = []
    for i in range(0, len(a), rows):
        out.append(msssim(chunk(b, i), chunk(a, i), data_range=data_range, kernel_size=kernel_size,
                          betas=tuple(betas), reduction="none"))
    return torch.cat(out).double().cpu().numpy()


def _metric_device(device, *arrays) -> torch.device:
    """``device`` resolved; None: the first CUDA tensor's device among ``arrays``, else ``"auto"``."""
    if device is not None:
        return resolve_device(device)
    on = [a.device for a in arrays if isinstance(a, torch.Tensor) and a.device.type != "cpu"]
    return on[0] if on else resolve_device("auto")


def _to_host(x):
    """A tensor (any device) as a CPU array, for the checks; anything else as it is."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def intra_class_ms_ssim(samples, labels, pairs_per_class: int = 200, seed: int = 0, **kw) -> float:
    """Mean MS-SSIM over random pairs of distinct samples sharing a (predicted) label, pooled over classes.

    Classes with fewer than two samples are skipped; NaN when no class has two. ``kw`` goes to :func:`ms_ssim`.
    The pairs come from stream ``eval`` of ``seed`` (any int >= 0; :mod:`minelib.seeding`).
    """
    x = _images(samples, "samples")
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise ValueError(f"{len(x)} samples but {len(labels)} labels")
    pairs_per_class = check_positive_int(pairs_per_class, "pairs_per_class")
    rng = seeding.rng(seed, "eval")
    a, b = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        i = rng.choice(idx, pairs_per_class)
        j = rng.choice(idx, pairs_per_class)
        keep = i != j
        a.append(i[keep])
        b.append(j[keep])
    if not a or sum(len(t) for t in a) == 0:
        return float("nan")
    a, b = np.concatenate(a), np.concatenate(b)
    return float(ms_ssim(x[a], x[b], **kw).mean())
