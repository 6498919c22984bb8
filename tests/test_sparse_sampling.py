"""Bernoulli sparse-depth sampling and the RGB + sparse tf.data stream (data_pipelines/sparse.py)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import sparse


def _depth_with_holes(h=64, w=64, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 8.0, (h, w)).astype(np.float32)
    u = rng.uniform(size=(h, w))
    depth[u < 0.15] = 0.0
    depth[(u >= 0.15) & (u < 0.22)] = np.nan
    depth[(u >= 0.22) & (u < 0.30)] = np.inf
    return depth


def test_expected_count_is_n_within_binomial_tolerance():
    depth = _depth_with_holes()
    m = int(np.count_nonzero(np.isfinite(depth) & (depth > 0)))
    n, draws = 200, 300
    counts = [int(tf.reduce_sum(tf.cast(sparse.sample_sparse_depth(
        depth, n, tf.constant([5, k], tf.int64))[1], tf.int32))) for k in range(draws)]
    p = n / m
    # Each count ~ Binomial(m, p): mean n, variance n (1 - p); the mean of `draws` counts has
    # standard error sqrt(n (1 - p) / draws). 4 sigma: a false failure about 1 in 16,000.
    se = math.sqrt(n * (1 - p) / draws)
    assert abs(np.mean(counts) - n) < 4 * se, (np.mean(counts), n, se)
    # The spread matches the binomial too (sample variance within 30% of n (1 - p)).
    assert np.var(counts, ddof=1) == pytest.approx(n * (1 - p), rel=0.3)


def test_samples_never_land_on_invalid_pixels_and_invalid_is_zero():
    depth = _depth_with_holes(seed=3)
    valid = np.isfinite(depth) & (depth > 0)
    for k in range(20):
        values, mask = sparse.sample_sparse_depth(depth[..., None], 500, tf.constant([1, k], tf.int64))
        values, mask = values.numpy()[..., 0], mask.numpy()[..., 0]
        assert not np.any(mask & ~valid)
        assert np.all(np.isfinite(values))
        assert np.all(values[~mask] == 0.0)
        np.testing.assert_array_equal(values[mask], depth[mask])


def test_more_samples_than_valid_pixels_takes_every_valid_pixel():
    depth = np.zeros((8, 8), np.float32)
    depth[2:4, 2:5] = 3.0
    _, mask = sparse.sample_sparse_depth(depth, 1000, tf.constant([0, 0], tf.int64))
    np.testing.assert_array_equal(mask.numpy(), depth > 0)


def test_seeds_reproduce_and_differ():
    depth = _depth_with_holes(seed=1)
    a = sparse.sample_sparse_depth(depth, 100, tf.constant([7, 3], tf.int64))[1].numpy()
    b = sparse.sample_sparse_depth(depth, 100, tf.constant([7, 3], tf.int64))[1].numpy()
    c = sparse.sample_sparse_depth(depth, 100, tf.constant([7, 4], tf.int64))[1].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_zero_samples_and_bad_arguments():
    depth = _depth_with_holes()
    values, mask = sparse.sample_sparse_depth(depth, 0, tf.constant([0, 0], tf.int64))
    assert not mask.numpy().any() and not values.numpy().any()
    with pytest.raises(ValueError, match="num_samples"):
        sparse.sample_sparse_depth(depth, -1, tf.constant([0, 0], tf.int64))
    with pytest.raises(ValueError, match="valid mask shape"):
        sparse.sample_sparse_depth(depth, 5, tf.constant([0, 0], tf.int64), valid=np.ones((3, 3), bool))


def _arrays(n=3, h=40, w=48):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, (n, h, w)).astype(np.float32)
    depth[:, :4] = np.inf             # Middlebury-style unknown pixels: masked, never sampled
    depth[:, -3:] = np.nan
    return rgb, depth


def test_stream_redraws_per_read_reproduces_and_resumes():
    rgb, depth = _arrays()
    kw = dict(num_samples=30, batch_size=2, crop_hw=(32, 32), seed=4)
    take = lambda ds, k: [b for b in ds.take(k)]  # noqa: E731
    run1 = take(sparse.rgbd_dataset(rgb, depth, **kw), 4)
    run2 = take(sparse.rgbd_dataset(rgb, depth, **kw), 4)
    for a, b in zip(run1, run2):
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    # A resumed stream (start_index = reads already done) continues the same sequence.
    resumed = take(sparse.rgbd_dataset(rgb, depth, start_index=4, **kw), 2)
    for a, b in zip(run1[2:], resumed):
        np.testing.assert_array_equal(a["sparse"].numpy(), b["sparse"].numpy())
    # Every batch: samples only on valid pixels, roughly the wanted count, finite values.
    for b in run1:
        s, v = b["sparse"].numpy(), b["valid"].numpy()
        assert np.all(np.isfinite(b["depth"].numpy())) and np.all(np.isfinite(s))
        assert not np.any((s > 0) & ~v)
        assert b["rgb"].dtype == tf.uint8 and b["rgb"].shape == (2, 32, 32, 3)
    # The masks are redrawn at each read: no two reads share one.
    masks = [b["sparse"].numpy()[i] > 0 for b in run1 for i in range(2)]
    assert all(np.any(masks[i] != masks[j]) for i in range(len(masks)) for j in range(i))


def test_eval_stream_is_fixed_and_checks_shapes():
    rgb, depth = _arrays()
    ev = lambda: list(sparse.rgbd_dataset(rgb, depth, 20, 2, (32, 40), seed=1, training=False))  # noqa: E731
    a, b = ev(), ev()
    assert sum(x["rgb"].shape[0] for x in a) == 3
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["sparse"].numpy(), y["sparse"].numpy())
    with pytest.raises(ValueError, match="does not match rgb shape"):
        sparse.rgbd_dataset(rgb, depth[:, :-1], 20, 2, (32, 32))
    with pytest.raises(ValueError, match="larger than the images"):
        sparse.rgbd_dataset(rgb, depth, 20, 2, (64, 64))


def test_loader_stream_equals_array_stream():
    # Streaming frames from files (sparse-to-dense's 47k frames) gives the same batches.
    rgb, depth = _arrays()
    kw = dict(num_samples=25, batch_size=2, crop_hw=(32, 32), seed=9)
    from_arrays = list(sparse.rgbd_dataset(rgb, depth, **kw).take(3))
    from_loader = list(sparse.rgbd_dataset_from_loader(lambda k: (rgb[k], depth[k]), 3, (40, 48),
                                                       **kw).take(3))
    for a, b in zip(from_arrays, from_loader):
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    bad = sparse.rgbd_dataset_from_loader(lambda k: (rgb[k][:-1], depth[k]), 3, (40, 48), **kw)
    with pytest.raises(Exception, match="expected"):
        next(iter(bad))
