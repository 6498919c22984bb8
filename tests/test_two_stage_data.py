"""sparse-to-dense HDF5 reader (data_pipelines/sparse_to_dense_h5.py) and the per-image
averaged metrics (depthlab.metrics.mean_depth_metrics) against hand-worked values."""

import math
import os

import h5py
import numpy as np
import pytest

from data_pipelines import sparse_to_dense_h5 as s2d
from depthlab import metrics


@pytest.fixture(scope="module")
def h5_root(tmp_path_factory):
    # The exact layout: {train,val}/<scene>/*.h5 with rgb 3x480x640 uint8, depth 480x640 metres.
    root = tmp_path_factory.mktemp("nyudepthv2")
    return s2d.write_fixture(root, (("train", "kitchen_0001", 2), ("train", "office_0002", 1),
                                    ("val", "official", 1)))


def test_fixture_is_in_the_sparse_to_dense_layout(h5_root):
    paths = s2d.list_frames(h5_root, "train")
    assert [os.path.relpath(p, h5_root) for p in paths] == [
        "train/kitchen_0001/00000.h5", "train/kitchen_0001/00001.h5", "train/office_0002/00000.h5"]
    with h5py.File(paths[0], "r") as f:
        assert f["rgb"].shape == (3, 480, 640) and f["rgb"].dtype == np.uint8
        assert f["depth"].shape == (480, 640)
        raw_rgb, raw_depth = f["rgb"][:], f["depth"][:]
    rgb, depth, valid = s2d.read_frame(paths[0], expected_hw=(480, 640))
    assert rgb.shape == (480, 640, 3)
    np.testing.assert_array_equal(rgb[10, 20], raw_rgb[:, 10, 20])      # channels-first -> last
    np.testing.assert_array_equal(valid, raw_depth > 0)
    np.testing.assert_array_equal(depth[valid], raw_depth[valid])


def test_load_split_resizes_and_crops(h5_root):
    rgb, depth, paths = s2d.load_split(h5_root, "train", crop_hw=s2d.CROP_HW)
    assert rgb.shape == (3, 228, 304, 3) and depth.shape == (3, 228, 304) and len(paths) == 3
    val_rgb, _, _ = s2d.load_split(h5_root, "val")
    assert val_rgb.shape == (1, 240, 320, 3)
    # Nearest resizing keeps only values present in the source (holes do not spread).
    _, full, _ = s2d.read_frame(paths[0])
    assert np.isin(np.unique(depth[0]), np.unique(full)).all()


def _write(path, **datasets):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


def test_bad_frames_give_errors_naming_file_and_key(tmp_path):
    rgb = np.zeros((3, 6, 8), np.uint8)
    depth = np.ones((6, 8), np.float32)
    no_rgb = _write(str(tmp_path / "val/s/no_rgb.h5"), depth=depth)
    with pytest.raises(ValueError, match=r"no_rgb\.h5: missing dataset 'rgb'"):
        s2d.read_frame(no_rgb)
    hwc = _write(str(tmp_path / "val/s/hwc.h5"), rgb=np.zeros((6, 8, 3), np.uint8), depth=depth)
    with pytest.raises(ValueError, match=r"hwc\.h5: 'rgb' has shape \(6, 8, 3\)"):
        s2d.read_frame(hwc)
    small = _write(str(tmp_path / "val/s/small.h5"), rgb=rgb, depth=np.ones((6, 7), np.float32))
    with pytest.raises(ValueError, match=r"small\.h5: 'depth' has shape \(6, 7\)"):
        s2d.read_frame(small)
    with pytest.raises(ValueError, match="expected"):
        s2d.read_frame(_write(str(tmp_path / "val/s/ok.h5"), rgb=rgb, depth=depth),
                       expected_hw=(480, 640))
    with pytest.raises(FileNotFoundError, match="train"):
        s2d.list_frames(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        s2d.list_frames(tmp_path, "test")


def test_nan_and_inf_depth_are_masked_or_rejected(tmp_path):
    depth = np.full((6, 8), 2.0, np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2] = np.nan, np.inf, -1.0
    path = _write(str(tmp_path / "val/s/holes.h5"), rgb=np.zeros((3, 6, 8), np.uint8), depth=depth)
    _, d, valid = s2d.read_frame(path)
    assert not valid[0, 0] and not valid[1, 1] and not valid[2, 2] and valid.sum() == 45
    assert d[0, 0] == 0 and d[1, 1] == 0 and np.isfinite(d).all()
    with pytest.raises(ValueError, match=r"holes\.h5: 'depth' has 2 NaN/inf"):
        s2d.read_frame(path, strict=True)


def test_mean_depth_metrics_hand_worked():
    # Image 1: gt [[1, 2], [4, 0]] (0 = invalid), pred [[1.5, 2], [2, 9]]: errors 0.5, 0, -2.
    # Image 2: gt [[2, 2]], pred [[2, 3]]: errors 0, 1.
    preds = [np.array([[1.5, 2.0], [2.0, 9.0]]), np.array([[2.0, 3.0]])]
    gts = [np.array([[1.0, 2.0], [4.0, 0.0]]), np.array([[2.0, 2.0]])]
    out = metrics.mean_depth_metrics(preds, gts)
    rmse1, rmse2 = math.sqrt((0.25 + 0 + 4) / 3), math.sqrt(1 / 2)
    assert out["rmse"] == pytest.approx((rmse1 + rmse2) / 2)            # 0.948673
    assert out["rmse"] != pytest.approx(math.sqrt((4.25 + 1) / 5))       # not the pooled RMSE
    assert out["mae"] == pytest.approx((2.5 / 3 + 0.5) / 2)
    assert out["abs_rel"] == pytest.approx(((0.5 + 0 + 0.5) / 3 + (0 + 0.5) / 2) / 2)
    lg1 = (math.log10(1.5) + 0 + math.log10(2)) / 3
    lg2 = math.log10(1.5) / 2
    assert out["log10"] == pytest.approx((lg1 + lg2) / 2)                # 0.123543
    # ratios image 1: 1.5, 1, 2; image 2: 1, 1.5. Thresholds 1.25, 1.5625, 1.953125 (strict).
    assert out["delta1"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert out["delta2"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["delta3"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["num_images"] == 2


def test_mean_depth_metrics_masks_and_errors():
    pred, gt = np.array([[1.0, 5.0]]), np.array([[2.0, 5.0]])
    out = metrics.mean_depth_metrics([pred], [gt], [np.array([[True, False]])])
    assert out["rmse"] == pytest.approx(1.0) and out["abs_rel"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="image 1"):
        metrics.mean_depth_metrics([pred, pred], [gt, np.zeros((1, 2))])
    with pytest.raises(ValueError, match="2 predictions, 1 ground"):
        metrics.mean_depth_metrics([pred, pred], [gt])


# -- NYU protocol (--nyu_protocol; data_pipelines/nyu_splits.py) ------------------------------

def test_nyu_protocol_option_and_reader(tmp_path):
    """The two-stage text's protocol (lines 522-526, the official scene split) is the
    default for the labeled set; it reads the toolbox's splits.mat beside the .mat."""
    from data_pipelines import nyu_depth_v2 as nyu
    from data_pipelines import nyu_splits
    from depthlab.core.options import OptionsError
    from depthlab.runners import two_stage as runner
    from depthlab.runners.two_stage_options import Stage1Options

    mat = nyu.write_labeled_fixture(tmp_path / "nyu_depth_v2_labeled.mat", num_frames=7,
                                    height=48, width=64, seed=1)
    kw = dict(model_dir=str(tmp_path / "run"), dataset="nyu_depth_v2", data_dir=str(tmp_path))
    with pytest.raises(OptionsError, match="splits.mat"):         # not there yet
        Stage1Options(**kw)
    assert Stage1Options(**kw, nyu_protocol="first1000").nyu_protocol == "first1000"
    nyu_splits.write_splits_fixture(tmp_path / "splits.mat", [2, 3, 5], [1, 4, 6, 7])
    assert Stage1Options(**kw).nyu_protocol == "official_scenes"
    # other datasets: no protocol, and giving one is an error naming the flag
    assert Stage1Options(model_dir=str(tmp_path / "r2")).nyu_protocol is None
    with pytest.raises(OptionsError, match="--nyu_protocol"):
        Stage1Options(model_dir=str(tmp_path / "r3"), nyu_protocol="official_scenes")
    # the runner's reader: 3 / 4 frames, the listed ones (1-based 2, 3, 5 -> 0-based 1, 2, 4)
    rgb, depth = runner.load_split("nyu_depth_v2", "train", str(mat), (228, 304), 1, None,
                                   "official_scenes")
    test_rgb, _ = runner.load_split("nyu_depth_v2", "test", str(mat), (228, 304), 1, None,
                                    "official_scenes")
    assert rgb.shape[0] == 3 and test_rgb.shape[0] == 4
    want = nyu.read_labeled(mat, "all", image_size=None)
    from data_pipelines import sparse_to_dense_h5 as s2d_h5
    ref = s2d_h5.resize_frame(want.rgb[4], want.depth[4], s2d_h5.RESIZE_HW)
    np.testing.assert_array_equal(rgb[2], ref[0])
    np.testing.assert_array_equal(depth[2], ref[1])
