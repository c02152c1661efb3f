"""Image metrics of Tables 1-2: reconstruction error, classifier accuracy, MS-SSIM, intra-class MS-SSIM."""
import numpy as np
import pytest

from minelib.image_metrics import (MnistClassifier, accuracy, intra_class_ms_ssim, ms_ssim, predict,
                                   reconstruction_accuracy, reconstruction_error, train_classifier)


def _blobs(n=400, seed=0):
    """Two easy classes of 28x28 images in [-1, 1]: a bright left half or a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=n)
    x = -np.ones((n, 28, 28), dtype=np.float32)
    for i, c in enumerate(y):
        x[i, :, :14] = 1 if c == 0 else -1
        x[i, :, 14:] = 1 if c == 1 else -1
    x += 0.2 * rng.standard_normal(x.shape).astype(np.float32)
    return np.clip(x, -1, 1).reshape(n, 784), y


def test_reconstruction_error_is_the_mean_per_image_l2_norm():
    x = np.zeros((3, 784), dtype=np.float32)
    rec = x.copy()
    rec[0, :4] = 1.0           # norm 2
    rec[1, 0] = 3.0            # norm 3
    assert reconstruction_error(x, rec) == pytest.approx(5 / 3)
    assert reconstruction_error(x, x) == 0
    # the largest possible: every pixel from -1 to 1 gives 2 * 28 = 56
    assert reconstruction_error(-np.ones((2, 784)), np.ones((2, 784))) == pytest.approx(56)
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_error(x, x[:2])
    with pytest.raises(ValueError, match="NaN"):
        reconstruction_error(x, np.full_like(x, np.nan))


def test_ms_ssim_is_one_for_identical_images_and_lower_for_noisy_ones():
    x, _ = _blobs(16)
    same = ms_ssim(x, x)
    assert same.shape == (16,) and np.allclose(same, 1, atol=1e-5)
    rng = np.random.default_rng(1)
    noisy = np.clip(x + 0.5 * rng.standard_normal(x.shape), -1, 1).astype(np.float32)
    worse = ms_ssim(x, noisy)
    assert (worse < 0.99).all() and (worse >= 0).all()
    unrelated = ms_ssim(x, rng.uniform(-1, 1, x.shape).astype(np.float32))
    assert unrelated.mean() < worse.mean()


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_classifier_learns_and_scores_reconstructions(arch):
    x, y = _blobs(400)
    xt, yt = _blobs(200, seed=5)
    clf, acc = train_classifier(x, y, xt, yt, arch=arch, epochs=1, batch_size=50, device="cpu")
    assert isinstance(clf, MnistClassifier) and acc > 95
    assert predict(clf, xt).shape == (200,)
    assert reconstruction_accuracy(clf, xt, yt) == accuracy(clf, xt, yt) == acc
    assert reconstruction_accuracy(clf, xt, 1 - yt) == pytest.approx(100 - acc)
    again, acc2 = train_classifier(x, y, xt, yt, arch=arch, epochs=1, batch_size=50, device="cpu")
    assert acc2 == acc and np.array_equal(predict(again, xt), predict(clf, xt))     # seeded


def test_intra_class_ms_ssim_is_high_for_copies_and_lower_for_mixed_classes():
    x, y = _blobs(100)
    copies = np.repeat(x[:1], 50, axis=0)
    assert intra_class_ms_ssim(copies, np.zeros(50), pairs_per_class=20) == pytest.approx(1, abs=1e-5)
    within = intra_class_ms_ssim(x, y, pairs_per_class=40)
    mixed = intra_class_ms_ssim(x, np.zeros(100), pairs_per_class=80)
    assert mixed < within < 1
    assert np.isnan(intra_class_ms_ssim(x[:2], [0, 1]))
    with pytest.raises(ValueError, match="labels"):
        intra_class_ms_ssim(x, y[:5])
    with pytest.raises(ValueError, match="arch"):
        MnistClassifier("resnet")


def test_celeba_reader_reads_its_formats_from_a_generated_fixture(tmp_path):
    from minelib import celeba

    with pytest.raises(FileNotFoundError, match="download aligned CelebA"):
        celeba.load_celeba(tmp_path / "nothing")
    d = celeba.write_fixture(tmp_path / "c", n=30, seed=2)
    assert celeba.missing_files(d) == []
    part = celeba.read_partition(d / celeba.PARTITION_FILE)
    names, attrs = celeba.read_attributes(d / celeba.ATTR_FILE)
    assert len(part) == 30 and set(part.values()) == {0, 1, 2} and len(names) == 40
    assert all(set(np.unique(v)) <= {-1, 1} for v in attrs.values())
    data = celeba.load_celeba(d, n_test=3)
    assert data.x_train.shape == (18, 3 * 64 * 64) and data.x_train.dtype == np.uint8
    assert data.x_test.shape[0] == 3 and data.a_test.shape == (3, 40) and set(np.unique(data.a_train)) <= {0, 1}
    x = celeba.to_unit_range(data.x_train)
    assert x.min() >= -1 and x.max() <= 1
    (d / celeba.PARTITION_FILE).write_text("000001.jpg 7\n")
    with pytest.raises(ValueError, match="line 1"):
        celeba.read_partition(d / celeba.PARTITION_FILE)


def test_attribute_accuracy_is_the_mean_over_attributes(tmp_path):
    from minelib import celeba

    data = celeba.load_celeba(celeba.write_fixture(tmp_path, n=20))
    clf, acc = celeba.train_attribute_classifier(data.x_train, data.a_train, data.x_test, data.a_test, epochs=1,
                                                 ch=4, device="cpu")
    assert 0 <= acc <= 100
    flipped = celeba.attribute_accuracy(clf, celeba.to_unit_range(data.x_test), 1 - data.a_test)
    assert flipped == pytest.approx(100 - acc)
    ms = ms_ssim(celeba.to_unit_range(data.x_test), celeba.to_unit_range(data.x_test), image_shape=(3, 64, 64),
                 betas=(0.0448, 0.2856, 0.3001, 0.2363))
    assert np.allclose(ms, 1, atol=1e-5)


def test_classifier_seeds_are_any_int_and_leave_the_global_generator_alone():
    import torch

    x, y = _blobs(200)
    state = torch.get_rng_state()
    big, _ = train_classifier(x, y, x, y, arch="cnn", epochs=1, batch_size=50, device="cpu", seed=2**70)
    assert torch.equal(torch.get_rng_state(), state)          # init, order and dropout draw from private streams
    zero, _ = train_classifier(x, y, x, y, arch="cnn", epochs=1, batch_size=50, device="cpu", seed=0)
    wrapped, _ = train_classifier(x, y, x, y, arch="cnn", epochs=1, batch_size=50, device="cpu", seed=2**32)
    first = lambda clf: next(clf.parameters())
    assert not torch.equal(first(zero), first(wrapped)) and not torch.equal(first(big), first(zero))
    assert intra_class_ms_ssim(x, y, pairs_per_class=10, seed=2**70) == intra_class_ms_ssim(x, y, pairs_per_class=10,
                                                                                            seed=2**70)
    with pytest.raises(TypeError, match="seed"):
        train_classifier(x, y, x, y, epochs=1, device="cpu", seed=0.5)


def test_ms_ssim_in_float64_agrees_with_the_float32_path_to_its_rounding():
    """The GPU's path (float64) run on the CPU against today's float32 path. The bound: the variance terms
    E[x^2] - mu^2 cancel in float32, each to about u * E[x^2] <= u (u = 2^-24, pixels in [-1, 1]), summed over
    the k^2 window weights and divided by C2 = (0.03 * data range)^2; the betas (< 1 in sum) only shrink it."""
    import torch

    x, _ = _blobs(200)
    rng = np.random.default_rng(1)
    noisy = np.clip(x + rng.normal(0, 0.3, x.shape), -1, 1).astype(np.float32)
    fast, exact = ms_ssim(x, noisy, device="cpu"), ms_ssim(x, noisy, device="cpu", dtype=torch.float64)
    bound = 7 ** 2 * 2.0 ** -24 / (0.03 * 2.0) ** 2
    assert np.abs(fast - exact).max() < bound
    np.testing.assert_array_equal(fast, ms_ssim(x, noisy))  # the default on a CPU machine is today's path
    np.testing.assert_allclose(ms_ssim(torch.as_tensor(x), torch.as_tensor(noisy), dtype=torch.float64), exact)
