"""Random framing (``data_pipelines.framing_jitter``) and its use in the TS-GAN streams."""

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import framing_jitter as fj
from data_pipelines.paired import PairedArrays, make_paired_dataset
from data_pipelines.unpaired import make_unpaired_dataset
from depthlab.configs import ConfigError, tsgan_config


def _warp_nearest(image, zoom, shift):
    t = fj.framing_transform(tf.constant(zoom, tf.float32), tf.constant(shift, tf.float32),
                             image.shape[1])
    return fj.warp(tf.constant(image, tf.float32), t, "NEAREST", "CONSTANT", -7.0).numpy()


def test_shift_moves_an_impulse_by_the_fraction_times_the_size():
    img = np.zeros((8, 8, 1), np.float32)
    img[3, 2, 0] = 1.0                                   # row 3, column 2
    out = _warp_nearest(img, 1.0, (0.25, -0.125))        # 2 px right, 1 px up
    assert np.argwhere(out[..., 0] == 1.0).tolist() == [[2, 4]]
    # the two columns shifted in from outside the image take the fill value
    assert np.all(out[:, :2, 0] == -7.0) and np.all(out[-1, :, 0] == -7.0)


def test_non_square_images_shift_and_zoom_about_their_own_centre():
    # 4 rows x 8 columns: a shift of (0.25, 0.25) is 2 columns and 1 row
    img = np.zeros((4, 8, 1), np.float32)
    img[1, 3, 0] = 1.0
    t = fj.framing_transform(tf.constant(1.0), tf.constant([0.25, 0.25]), 8, 4)
    out = fj.warp(tf.constant(img), t, "NEAREST", "CONSTANT", 0.0).numpy()
    assert np.argwhere(out[..., 0] == 1.0).tolist() == [[2, 5]]
    # zoom 2 about the centre (row 1.5, column 3.5): row r reads (r - 1.5) / 2 + 1.5
    rows = np.tile(np.arange(4, dtype=np.float32)[:, None, None], (1, 8, 1))
    t = fj.framing_transform(tf.constant(2.0), tf.constant([0.0, 0.0]), 8, 4)
    out = fj.warp(tf.constant(rows), t, "BILINEAR", "NEAREST").numpy()[:, 0, 0]
    np.testing.assert_allclose(out, (np.arange(4) - 1.5) / 2 + 1.5, atol=1e-5)


def test_zoom_about_the_centre_hand_worked():
    # 9 px ramp f(x) = x, zoom 2: output column x reads input (x - 4) / 2 + 4
    ramp = np.tile(np.arange(9, dtype=np.float32)[None, :, None], (9, 1, 1))
    t = fj.framing_transform(tf.constant(2.0), tf.constant([0.0, 0.0]), 9)
    out = fj.warp(tf.constant(ramp), t, "BILINEAR", "NEAREST").numpy()[4, :, 0]
    np.testing.assert_allclose(out, (np.arange(9) - 4) / 2 + 4, atol=1e-5)
    # zoom 1/2 and edge padding: columns that read beyond the image repeat the edge pixel
    t = fj.framing_transform(tf.constant(0.5), tf.constant([0.0, 0.0]), 9)
    out = fj.warp(tf.constant(ramp), t, "BILINEAR", "NEAREST").numpy()[4, :, 0]
    np.testing.assert_allclose(out, np.clip((np.arange(9) - 4) * 2 + 4, 0, 8), atol=1e-5)


def test_draws_are_stateless_and_within_range():
    zooms, shifts = [], []
    for i in range(400):
        z, s = fj.draw_framing(tf.constant([5, i], tf.int64), 0.1, 0.12)
        zooms.append(float(z))
        shifts.append(s.numpy())
    zooms, shifts = np.log(zooms), np.array(shifts)
    assert zooms.min() >= -0.12 - 1e-6 and zooms.max() <= 0.12 + 1e-6
    assert np.abs(shifts).max() <= 0.1 + 1e-6
    # uniform: mean 0 within 4 standard errors, sd = half-width / sqrt(3) within 10 %
    assert abs(zooms.mean()) < 4 * 0.12 / np.sqrt(3) / np.sqrt(400)
    assert abs(zooms.std() / (0.12 / np.sqrt(3)) - 1) < 0.1
    assert abs(shifts[:, 0].std() / (0.1 / np.sqrt(3)) - 1) < 0.1
    again = fj.draw_framing(tf.constant([5, 3], tf.int64), 0.1, 0.12)
    first = fj.draw_framing(tf.constant([5, 3], tf.int64), 0.1, 0.12)
    assert float(again[0]) == float(first[0]) and np.all(again[1].numpy() == first[1].numpy())


def _square_example(n=4, size=32):
    """RGB bright inside a centred 12 px square; depth valid exactly there, with values that
    differ per pixel (so nearest sampling can be checked)."""
    rgb = np.zeros((n, size, size, 3), np.uint8)
    depth = np.zeros((n, size, size), np.uint16)
    lo, hi = size // 2 - 6, size // 2 + 6
    rgb[:, lo:hi, lo:hi] = 250
    depth[:, lo:hi, lo:hi] = 600 + np.arange(144, dtype=np.uint16).reshape(12, 12)
    return PairedArrays(rgb, depth)


def test_paired_stream_keeps_rgb_depth_and_mask_aligned():
    arrays = _square_example()
    plain = next(iter(make_paired_dataset(arrays, 4, seed=1)))
    ds = make_paired_dataset(arrays, 4, seed=1, framing_shift=0.15, framing_log_zoom=0.2)
    batch = next(iter(ds))
    mask = batch["mask"].numpy()[..., 0] > 0
    bright = batch["rgb"].numpy()[..., 0] > 0.0           # > half of 250 after bilinear
    moved = 0
    for m, b, m0 in zip(mask, bright, plain["mask"].numpy()[..., 0] > 0):
        moved += int(np.any(m != m0))
        # the mask is where the RGB square is, up to a 1 px band from bilinear resampling
        assert np.mean(m != b) < 0.03
        # the valid depth values are values of the input (nearest sampling, no blends)
    depth = batch["depth"].numpy()[..., 0]
    unit = (plain["depth"].numpy()[..., 0])
    allowed = set(np.round(unit[plain["mask"].numpy()[..., 0] > 0], 6).tolist())
    assert set(np.round(depth[mask], 6).tolist()) <= allowed
    assert np.all(depth[~mask] == -1.0)
    assert moved >= 3                                    # the jitter did reframe the examples


def test_streams_are_pure_functions_of_seed_and_index():
    arrays = _square_example(n=6)
    kw = dict(framing_shift=0.1, framing_log_zoom=0.12)
    full = list(make_paired_dataset(arrays, 2, seed=3, **kw).take(5))
    resumed = list(make_paired_dataset(arrays, 2, seed=3, start_index=4, **kw).take(3))
    for a, b in zip(full[2:], resumed):
        for k in ("rgb", "depth", "mask"):
            np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
    rgb = arrays.rgb
    u_full = list(make_unpaired_dataset(rgb, 2, seed=3, **kw).take(4))
    u_resumed = list(make_unpaired_dataset(rgb, 2, seed=3, start_index=4, **kw).take(2))
    for a, b in zip(u_full[2:], u_resumed):
        np.testing.assert_array_equal(a["target_rgb"].numpy(), b["target_rgb"].numpy())
    # the unpaired stream is reframed too
    u_plain = next(iter(make_unpaired_dataset(rgb, 6, seed=3)))["target_rgb"].numpy()
    u_jit = next(iter(make_unpaired_dataset(rgb, 6, seed=3, **kw)))["target_rgb"].numpy()
    assert not np.array_equal(u_plain, u_jit)


def test_config_bounds_and_code_default():
    assert tsgan_config("code").framing_shift == 0.0
    assert tsgan_config("paper").framing_log_zoom == 0.0
    with pytest.raises(ConfigError, match="framing_shift"):
        tsgan_config("code", framing_shift=0.3)
    with pytest.raises(ConfigError, match="framing_log_zoom"):
        tsgan_config("code", framing_log_zoom=-0.1)


def test_streams_reject_out_of_range_framing():
    arrays = _square_example(n=2)
    with pytest.raises(ValueError, match="make_paired_dataset: framing_shift"):
        make_paired_dataset(arrays, 2, framing_shift=-0.1)
    with pytest.raises(ValueError, match="make_unpaired_dataset: framing_log_zoom"):
        make_unpaired_dataset(arrays.rgb, 2, framing_log_zoom=0.7)
