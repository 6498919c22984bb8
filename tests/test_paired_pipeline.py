"""Paired / unpaired tf.data pipelines: normalisation, sync flips, determinism, resume."""

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines.paired import (PairedArrays, arrays_from_examples, epoch_index_stream,
                                   make_paired_dataset, resize_depth, tsgan_depth_to_unit)
from data_pipelines.unpaired import make_unpaired_dataset, zip_streams


def _arrays(n=6, size=8, bits=16):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    dtype = np.uint16 if bits == 16 else np.uint8
    depth = np.zeros((n, size, size), dtype)
    # Asymmetric content so that a flip is detectable: a ramp on the left half only.
    depth[:, :, : size // 2] = (600 if bits == 16 else 200) + np.arange(size // 2, dtype=dtype)
    # Encode the example index into the top-left RGB pixel to check pairing.
    rgb[:, 0, 0, 0] = np.arange(n) * 10
    return PairedArrays(rgb, depth, np.arange(n))


def test_tsgan_depth_to_unit_hand_values():
    d16 = np.array([[0, 600, 725, 850, 1000]], np.uint16)
    unit, valid = tsgan_depth_to_unit(d16, 16, face_range_mm=250.0)
    # nearest valid = 600 -> 1; 725 -> 1 - 125/250 = 0.5; 850 -> 0; clipped up to 1/255; hole -> 0
    np.testing.assert_allclose(unit.numpy(), [[0.0, 1.0, 0.5, 1 / 255, 1 / 255]], atol=1e-6)
    np.testing.assert_array_equal(valid.numpy(), [[False, True, True, True, True]])
    d8 = np.array([[0, 51, 255]], np.uint8)
    unit, valid = tsgan_depth_to_unit(d8, 8)
    np.testing.assert_allclose(unit.numpy(), [[0.0, 0.2, 1.0]], atol=1e-7)
    with pytest.raises(ValueError, match="depth_bits"):
        tsgan_depth_to_unit(d8, 12)


def test_resize_depth_nearest_never_blends():
    d = np.zeros((8, 8), np.uint16)
    d[:, 4:] = 1000
    out = resize_depth(d, 5)
    assert set(np.unique(out).tolist()) <= {0, 1000}


def test_paired_arrays_validation_names_the_problem():
    with pytest.raises(ValueError, match="depth must be uint8/uint16"):
        PairedArrays(np.zeros((1, 4, 4, 3), np.uint8), np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="disagree"):
        PairedArrays(np.zeros((1, 4, 4, 3), np.uint8), np.zeros((1, 4, 5), np.uint16))
    with pytest.raises(ValueError, match="no examples"):
        arrays_from_examples([], 4)


def test_eval_stream_is_ordered_ranges_and_masks():
    arrays = _arrays()
    batches = list(make_paired_dataset(arrays, 4, training=False, repeat=False))
    rgb = np.concatenate([b["rgb"].numpy() for b in batches])
    np.testing.assert_allclose((rgb[:, 0, 0, 0] + 1) * 127.5, np.arange(6) * 10, atol=1e-3)
    b = batches[0]
    assert b["depth"].shape == (4, 8, 8, 1) and b["mask"].shape == (4, 8, 8, 1)
    assert float(tf.reduce_min(b["rgb"])) >= -1 and float(tf.reduce_max(b["rgb"])) <= 1
    # Holes are -1 in network depth and 0 in the mask; valid pixels are > -1.
    holes = b["mask"].numpy() == 0
    assert np.all(b["depth"].numpy()[holes] == -1.0) and np.all(b["depth"].numpy()[~holes] > -1.0)


def test_epoch_stream_is_a_permutation_per_epoch_and_resumes_exactly():
    full = [(int(g), int(i)) for g, i in epoch_index_stream(5, seed=3).take(15)]
    assert [g for g, _ in full] == list(range(15))
    for e in range(3):
        assert sorted(i for _, i in full[5 * e: 5 * e + 5]) == list(range(5))
    assert [i for _, i in full[:5]] != [i for _, i in full[5:10]]  # reshuffled per epoch
    resumed = [(int(g), int(i)) for g, i in epoch_index_stream(5, seed=3, start_index=7).take(8)]
    assert resumed == full[7:15]


def test_training_flips_rgb_depth_and_mask_together():
    arrays = _arrays(n=4)
    ds = make_paired_dataset(arrays, 4, seed=0, training=True)
    flipped_seen = 0
    for batch in ds.take(5):
        for k in range(4):
            rgb_id = int(round((float(batch["rgb"][k, 0, 0, 0]) + 1) * 127.5))
            rgb_flipped = rgb_id % 10 != 0 or rgb_id // 10 >= 4  # id pixel moved away
            depth_left_valid = bool(batch["mask"][k, 0, 0, 0] > 0)
            # unflipped: left half valid and the id pixel in place; flipped: both moved
            assert depth_left_valid == (not rgb_flipped)
            flipped_seen += rgb_flipped
    assert 0 < flipped_seen < 20


def test_reproduce_flip_bug_decouples_flips():
    arrays = _arrays(n=4)
    ds = make_paired_dataset(arrays, 4, seed=0, training=True, reproduce_flip_bug=True)
    mismatched = 0
    for batch in ds.take(8):
        for k in range(4):
            rgb_id = int(round((float(batch["rgb"][k, 0, 0, 0]) + 1) * 127.5))
            rgb_flipped = rgb_id % 10 != 0 or rgb_id // 10 >= 4
            mismatched += bool(batch["mask"][k, 0, 0, 0] > 0) == rgb_flipped
    assert mismatched > 0


def test_same_seed_same_stream_other_seed_differs():
    arrays = _arrays()
    a = [b["rgb"].numpy() for b in make_paired_dataset(arrays, 2, seed=1).take(6)]
    b = [b["rgb"].numpy() for b in make_paired_dataset(arrays, 2, seed=1).take(6)]
    c = [b["rgb"].numpy() for b in make_paired_dataset(arrays, 2, seed=2).take(6)]
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    assert not np.array_equal(np.stack(a), np.stack(c))


def test_unpaired_zip_and_resume():
    arrays = _arrays()
    target = np.random.default_rng(1).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)

    def stream(start):
        return zip_streams(make_paired_dataset(arrays, 2, seed=4, start_index=start),
                           make_unpaired_dataset(target, 2, seed=4, start_index=start))

    full = list(stream(0).take(5))
    assert set(full[0]) == {"rgb", "depth", "mask", "target_rgb"}
    resumed = list(stream(6).take(2))      # global step 3 at batch 2
    for k in range(2):
        for key in full[0]:
            np.testing.assert_array_equal(full[3 + k][key].numpy(), resumed[k][key].numpy())
    with pytest.raises(ValueError, match="uint8"):
        make_unpaired_dataset(target.astype(np.float32), 2)


def _dot_examples(n=4, size=32):
    """Faces stand-ins whose RGB has one bright pixel at the nose-tip landmark (index 30; the
    other landmarks invisible), at an example-dependent place."""
    out = []
    for k in range(n):
        rgb = np.zeros((size, size, 3), np.uint8)
        col, row = 3 + 3 * k, 9 + 3 * k      # left half
        rgb[row, col] = 255
        lm = np.zeros((68, 2), np.float32)
        lm[30] = (col + 0.5, row + 0.5)
        vis = np.zeros(68, bool)
        vis[30] = True
        out.append({"rgb": rgb, "depth": np.full((size, size), 700, np.uint16),
                    "landmarks": lm, "landmarks_visible": vis})
    return out


def test_landmark_heat_maps_are_scaled_with_the_resize():
    """Examples at 32 px read at 16 px: the landmark maps are those of the halved landmarks."""
    from data_pipelines.landmark_heatmaps import landmark_heatmaps

    examples = _dot_examples()
    arrays = arrays_from_examples(examples, 16, landmark_sigma=1.0)
    assert arrays.heatmaps.shape == (4, 16, 16, 4) and arrays.heatmaps.dtype == np.uint8
    for ex, got in zip(examples, arrays.heatmaps):
        want = landmark_heatmaps(ex["landmarks"] / 2.0, ex["landmarks_visible"], 16, 16, 1.0)
        np.testing.assert_array_equal(got, np.round(want * 255).astype(np.uint8))
    assert arrays_from_examples(examples, 16).heatmaps is None


def test_landmark_maps_follow_the_rgb_through_flips_and_reframing():
    """The nose map's peak stays on the RGB's bright pixel through the training stream's flips
    and framing jitter (shift 10 %, zoom exp(+-0.12)), and maps are -1 away from landmarks."""
    arrays = arrays_from_examples(_dot_examples(), 32, landmark_sigma=1.0)
    ds = make_paired_dataset(arrays, 4, seed=1, training=True, framing_shift=0.1,
                             framing_log_zoom=0.12, landmarks=True)
    flips = 0
    for batch in ds.take(4):
        assert batch["landmarks"].shape == (4, 32, 32, 4)
        for k in range(4):
            rgb = batch["rgb"][k, ..., 0].numpy()
            nose = batch["landmarks"][k, ..., 0].numpy()
            dot = np.unravel_index(np.argmax(rgb), rgb.shape)
            peak = np.unravel_index(np.argmax(nose), nose.shape)
            assert abs(dot[0] - peak[0]) <= 1 and abs(dot[1] - peak[1]) <= 1, (dot, peak)
            assert nose.max() > 0.0 and np.median(nose) == -1.0   # nearest-sampled peak
            flips += dot[1] > 16      # the dots are drawn on the left half
    assert 0 < flips < 16
    assert np.all(batch["landmarks"].numpy()[..., 1:] == -1.0)   # eyes, mouth, chin: none


def test_landmark_options_name_what_is_missing():
    with pytest.raises(ValueError, match="landmarks_visible"):
        arrays_from_examples([{"rgb": np.zeros((8, 8, 3), np.uint8),
                               "depth": np.zeros((8, 8), np.uint16)}], 8, landmark_sigma=1.0)
    with pytest.raises(ValueError, match="heatmaps"):
        make_paired_dataset(_arrays(), 2, landmarks=True)
    with pytest.raises(ValueError, match="heatmaps"):
        arr = _arrays()
        PairedArrays(arr.rgb, arr.depth, heatmaps=np.zeros((6, 4, 8, 2), np.uint8))
