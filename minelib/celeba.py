"""Aligned CelebA (Liu et al. 2015), read from its standard folder, and a generated fixture in the same format.

Layout of ``data_dir`` (as distributed, "Align&Cropped Images" and "Anno"/"Eval" files, unzipped):

- ``img_align_celeba/000001.jpg`` ... ``202599.jpg`` (178 x 218 RGB JPEGs);
- ``list_eval_partition.txt``: lines ``000001.jpg 0`` (0 train, 1 validation, 2 test: 162,770 / 19,867 / 19,962);
- ``list_attr_celeba.txt``: the image count, a line of the 40 attribute names, then lines
  ``000001.jpg -1  1 ...`` (values +-1).

Images are centre-cropped to 140 x 140 and resized to 64 x 64 (bilinear) [DEF, the usual DCGAN / ALI
preprocessing], kept as uint8 (n, 64 * 64 * 3) in channel-first order; :func:`to_unit_range` maps them to [-1, 1].
Nothing is ever downloaded: :func:`load_celeba` raises ``FileNotFoundError`` saying what to fetch.
:func:`write_fixture` writes a small synthetic set in exactly these formats (for tests and the ``smoke`` profile).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import seeding
from .validation import check_positive_int

IMAGE_FOLDER = "img_align_celeba"
PARTITION_FILE = "list_eval_partition.txt"
ATTR_FILE = "list_attr_celeba.txt"
SPLITS = {"train": 0, "valid": 1, "test": 2}
CROP = 140
SIZE = 64
X_DIM = 3 * SIZE * SIZE
DOWNLOAD_HINT = ("download aligned CelebA from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (img_align_celeba.zip, "
                 "list_eval_partition.txt, list_attr_celeba.txt) and unzip them into one folder, passed as data_dir")


class CelebAData(NamedTuple):
    """What :func:`load_celeba` returns: uint8 images (n, 3 * 64 * 64), attributes in {0, 1} (n, 40) per split."""

    x_train: np.ndarray
    a_train: np.ndarray
    x_test: np.ndarray
    a_test: np.ndarray
    attr_names: list
    source: str


def missing_files(data_dir) -> list[str]:
    """The pieces of the CelebA layout absent from ``data_dir`` (empty when it is complete)."""
    if data_dir is None:
        return [IMAGE_FOLDER, PARTITION_FILE, ATTR_FILE]
    d = Path(data_dir)
    return [name for name in (IMAGE_FOLDER, PARTITION_FILE, ATTR_FILE) if not (d / name).exists()]


def read_partition(path) -> dict[str, int]:
    """``{file name: split code}`` from ``list_eval_partition.txt``."""
    out = {}
    for i, line in enumerate(Path(path).read_text().splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}, line {i + 1}: expected '<file> <0|1|2>', got {line!r}")
        out[parts[0]] = int(parts[1])
    return out


def read_attributes(path) -> tuple[list[str], dict[str, np.ndarray]]:
    """``(names, {file name: int8 array of +-1})`` from ``list_attr_celeba.txt``."""
    lines = Path(path).read_text().splitlines()
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count line and a header line of attribute names")
    names = lines[1].split()
    table = {}
    for i, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise ValueError(f"{path}, line {i}: {len(parts) - 1} values for {len(names)} attributes")
        table[parts[0]] = np.array([int(v) for v in parts[1:]], dtype=np.int8)
    return names, table


def load_image(path) -> np.ndarray:
    """One image: centre crop 140 x 140, resize to 64 x 64, channel-first uint8 flattened to 12,288 values."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        c = min(CROP, w, h)
        left, top = (w - c) // 2, (h - c) // 2
        im = im.crop((left, top, left + c, top + c)).resize((SIZE, SIZE), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).reshape(-1)


def load_celeba(data_dir, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> CelebAData:
    """Read the train and test splits (first ``n_train`` / ``n_test`` of a shuffle when given, from stream
    ``split`` of ``seed``, any int >= 0; :mod:`minelib.seeding`)."""
    miss = missing_files(data_dir)
    if miss:
        raise FileNotFoundError(f"CelebA not found in {data_dir!r} (missing: {', '.join(miss)}); {DOWNLOAD_HINT}")
    d = Path(data_dir)
    part = read_partition(d / PARTITION_FILE)
    names, attrs = read_attributes(d / ATTR_FILE)
    rng = seeding.rng(seed, "split")
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        files = sorted(f for f, s in part.items() if s == SPLITS[split])
        if not files:
            raise ValueError(f"{d / PARTITION_FILE} lists no {split} images")
        if n is not None:
            n = check_positive_int(n, f"n_{split}")
            files = sorted(rng.permutation(files)[:n].tolist()) if n < len(files) else files
        lost = [f for f in files if f not in attrs]
        if lost:
            raise ValueError(f"{d / ATTR_FILE} has no attributes for {lost[0]} (and {len(lost) - 1} more)")
        x = np.stack([load_image(d / IMAGE_FOLDER / f) for f in files])
        a = np.stack([(attrs[f] > 0).astype(np.int64) for f in files])
        out += [x, a]
    counts = f"{len(out[0])} train / {len(out[2])} test images"
    return CelebAData(*out, names, f"aligned CelebA from {d} ({counts}; crop {CROP}, resized to {SIZE})")


def to_unit_range(x: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [-1, 1]."""
    return (np.asarray(x, dtype=np.float32) / 127.5 - 1.0).astype(np.float32)


FIXTURE_ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
                 "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
                 "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
                 "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
                 "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
                 "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
                 "Wearing_Necktie", "Young"]


def write_fixture(data_dir, n: int = 60, seed: int = 0, splits=(0.6, 0.2, 0.2)) -> Path:
    """Write ``n`` synthetic 178 x 218 JPEG "faces" (a coloured ellipse on a coloured background) with a partition
    file and an attribute file in CelebA's formats. Attribute k is +1 when a fixed random projection of the
    image's colours is positive, so a classifier can learn it. The images come from stream ``data`` of ``seed``
    (:mod:`minelib.seeding`). Returns the folder."""
    from PIL import Image, ImageDraw

    n = check_positive_int(n, "n", minimum=3)
    d = Path(data_dir)
    (d / IMAGE_FOLDER).mkdir(parents=True, exist_ok=True)
    rng = seeding.rng(seed, "data")
    proj = rng.standard_normal((len(FIXTURE_ATTRS), 6))
    n_train, n_valid = max(1, int(splits[0] * n)), max(1, int(splits[1] * n))
    part_lines, attr_lines = [], [str(n), " ".join(FIXTURE_ATTRS)]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        bg, fg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        im = Image.new("RGB", (178, 218), tuple(int(v) for v in bg))
        cx, cy, rx, ry = 89 + rng.integers(-15, 16), 109 + rng.integers(-15, 16), rng.integers(30, 60), rng.integers(40, 70)
        ImageDraw.Draw(im).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=tuple(int(v) for v in fg))
        im.save(d / IMAGE_FOLDER / name, quality=90)
        split = 0 if i < n_train else 1 if i < n_train + n_valid else 2
        part_lines.append(f"{name} {split}")
        colours = np.concatenate([bg, fg]) / 127.5 - 1.0
        a = np.where(proj @ colours > 0, 1, -1)
        attr_lines.append(name + " " + " ".join(f"{v:2d}" for v in a))
    (d / PARTITION_FILE).write_text("\n".join(part_lines) + "\n")
    (d / ATTR_FILE).write_text("\n".join(attr_lines) + "\n")
    return d


def _torch():
    import torch
    from torch import nn
    return torch, nn


def attribute_classifier(n_attrs: int = 40, ch: int = 32):
    """A small CNN for 64x64x3 images in [-1, 1] -> ``n_attrs`` logits: four 4x4 stride-2 conv layers
    (ch, 2ch, 4ch, 8ch; BatchNorm, LeakyReLU 0.2), then a linear layer."""
    torch, nn = _torch()
    layers, c_in = [nn.Unflatten(1, (3, SIZE, SIZE))], 3
    for c in (ch, 2 * ch, 4 * ch, 8 * ch):
        layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
        c_in = c
    layers += [nn.Flatten(), nn.Linear(c_in * 16, n_attrs)]
    return nn.Sequential(*layers)


def train_attribute_classifier(x_train, a_train, x_test, a_test, epochs: int = 1, batch_size: int = 64, ch: int = 32,
                               lr: float = 1e-3, device: str = "auto", seed: int = 0):
    """Train :func:`attribute_classifier` (binary cross-entropy per attribute, Adam) on uint8 images.

    Returns ``(classifier in eval mode, mean attribute accuracy on the test images in %)``. ``seed`` (any int
    >= 0) fixes the initial weights and the epochs' order (streams ``init``, ``order`` of :mod:`minelib.seeding`).
    """
    torch, nn = _torch()
    from .runtime import resolve_device

    dev = resolve_device(device)
    x = torch.as_tensor(np.asarray(x_train, dtype=np.uint8))
    a = torch.as_tensor(np.asarray(a_train, dtype=np.float32))
    with seeding.fork_global(seed, "init"):
        clf = attribute_classifier(a.shape[1], ch).to(dev)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    order_gen = seeding.generator(seed, "order")
    clf.train()
    for _ in range(check_positive_int(epochs, "epochs")):
        order = torch.randperm(len(x), generator=order_gen)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:
                continue
            logit = clf(x[idx].to(dev).float() / 127.5 - 1.0)
            loss = nn.functional.binary_cross_entropy_with_logits(logit, a[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    clf.eval()
    return clf, attribute_accuracy(clf, to_unit_range(x_test), a_test)


def attribute_accuracy(classifier, x, attrs, rows: int = 512) -> float:
    """Mean over the attributes of the % of images (floats in [-1, 1]) whose predicted attribute (logit > 0)
    equals ``attrs`` (0/1). Our definition of CelebA's "reconstruction accuracy" (Table 2, paper §4.3, defines none)."""
    torch, _ = _torch()
    x = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    attrs = np.asarray(attrs)
    if len(attrs) != len(x):
        raise ValueError(f"{len(x)} images but {len(attrs)} attribute rows")
    dev = next(classifier.parameters()).device
    classifier.eval()
    with torch.no_grad():
        pred = torch.cat([(classifier(x[i:i + rows].to(dev)) > 0).cpu() for i in range(0, len(x), rows)]).numpy()
    return 100.0 * float((pred == (attrs > 0)).mean())
