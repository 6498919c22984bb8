"""Middlebury readers on fixtures in the real layouts, the scikit-image sample, DSR data."""

import os
import re
import struct

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import depth_sr, middlebury

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "middlebury")


def test_pfm_hand_made_big_endian_bottom_row_first(tmp_path):
    # 'Pf', 2 x 2, scale +1 (big-endian); stored rows are bottom-to-top.
    path = tmp_path / "a.pfm"
    with open(path, "wb") as f:
        f.write(b"Pf\n2 2\n1.0\n" + struct.pack(">4f", 3.0, 4.0, 1.0, float("inf")))
    got = middlebury.read_pfm(path)
    assert got.dtype == np.float32 and got.shape == (2, 2)
    np.testing.assert_array_equal(got, [[1.0, np.inf], [3.0, 4.0]])


def test_pfm_round_trip_colour_and_grey(tmp_path):
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (4, 3, 3)):
        a = rng.normal(size=shape).astype(np.float32)
        a[0, 0] = np.inf
        middlebury.write_pfm(tmp_path / "x.pfm", a)
        np.testing.assert_array_equal(middlebury.read_pfm(tmp_path / "x.pfm"), a)


def test_pfm_rejects_other_files(tmp_path):
    (tmp_path / "bad.pfm").write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(ValueError, match="not a PFM"):
        middlebury.read_pfm(tmp_path / "bad.pfm")


def test_calib_parsing():
    c = middlebury.parse_calib(os.path.join(FIX, "2014", "Tiny-perfect", "calib.txt"))
    np.testing.assert_allclose(c["cam0"], [[100, 0, 24], [0, 100, 16], [0, 0, 1]])
    assert c["doffs"] == 8.5 and c["baseline"] == 50.0
    assert c["width"] == 48 and c["height"] == 32 and c["ndisp"] == 64


def test_2014_scene_depth_by_hand():
    folder = os.path.join(FIX, "2014", "Tiny-perfect")
    scene = middlebury.read_scene(folder)
    disp = middlebury.read_pfm(os.path.join(folder, "disp0.pfm"))
    assert scene.layout == "2014" and scene.rgb.shape == (32, 48, 3)
    # hand computation: Z = f * B / (d + doffs) = 100 * 50 mm / (d + 8.5), in metres
    y, x = 20, 30
    assert scene.depth[y, x] == pytest.approx(100 * 50 / (disp[y, x] + 8.5) / 1000, rel=1e-6)
    # the fixture's top-left 8 x 12 disparities are inf: unknown, depth 0
    assert not scene.valid[:8, :12].any() and scene.valid[8:, :].all()
    assert (scene.depth[:8, :12] == 0).all()


def test_0506_scenes_two_view_and_multi_view():
    two = middlebury.read_scene(os.path.join(FIX, "2006", "Tiny"))
    assert two.layout == "2005/2006" and two.doffs == 20
    # width 44 -> size factor round(1390 / 44) = 32 -> f = 3740 / 32; dmin 20; B = 160 mm
    assert two.focal_px == pytest.approx(3740 / 32)
    import cv2
    d = cv2.imread(os.path.join(FIX, "2006", "Tiny", "disp1.png"), cv2.IMREAD_UNCHANGED)
    assert two.depth[5, 7] == pytest.approx(3740 / 32 * 160 / (float(d[5, 7]) + 20) / 1000, rel=1e-6)
    assert not two.valid[-3:, -5:].any() and two.valid[:-3].all()    # 0 = unknown
    mv = middlebury.read_scene(os.path.join(FIX, "2005", "TinyMV"))
    preferred = cv2.imread(os.path.join(FIX, "2005", "TinyMV", "Illum2", "Exp1", "view1.png"))
    np.testing.assert_array_equal(mv.rgb, preferred[..., ::-1])      # Illum2/Exp1 chosen
    assert mv.doffs == 35


def test_find_scenes_walks_layouts_in_order_and_reports_empty(tmp_path):
    found = [os.path.relpath(p, FIX) for p in middlebury.find_scenes(FIX)]
    assert found == ["2005/TinyMV", "2006/Tiny", "2014/Tiny-perfect"]
    with pytest.raises(FileNotFoundError, match="no Middlebury scene"):
        middlebury.read_all(tmp_path)
    with pytest.raises(ValueError, match="not a Middlebury scene"):
        middlebury.read_scene(tmp_path)


def test_motorcycle_sample_calibration_by_hand():
    from skimage import data

    _, _, disp = data.stereo_motorcycle()
    scene = middlebury.motorcycle_sample()
    assert scene.rgb.shape == (500, 741, 3) and scene.depth.shape == (500, 741)
    np.testing.assert_array_equal(scene.valid, np.isfinite(disp))
    ys, xs = np.nonzero(np.isfinite(disp))
    y, x = ys[len(ys) // 2], xs[len(xs) // 2]
    assert scene.depth[y, x] == pytest.approx(994.978 * 193.001 / (disp[y, x] + 31.086) / 1000,
                                              rel=1e-6)
    v = scene.depth[scene.valid]
    assert 2.0 < v.min() < v.max() < 5.1


def test_dsr_examples_reject_bad_sizes_and_empty_depth():
    rgb = np.zeros((20, 24, 3), np.uint8)
    depth = np.ones((20, 24), np.float32)
    with pytest.raises(ValueError, match="not divisible by the scale x8"):
        depth_sr.make_example("odd", rgb, depth, depth > 0, 8)
    with pytest.raises(ValueError, match="no valid pixel"):
        depth_sr.make_example("empty", rgb[:16, :16], depth[:16, :16],
                              np.zeros((16, 16), bool), 4)


def test_bicubic_lr_of_a_plane_and_hole_filling():
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    depth = 2.0 + 0.0 * xx
    valid = np.ones_like(depth, bool)
    valid[10:14, 10:14] = False
    depth_holes = np.where(valid, depth, 0.0).astype(np.float32)
    ex = depth_sr.make_example("flat", np.zeros((32, 32, 3), np.uint8), depth_holes, valid, 4)
    np.testing.assert_allclose(ex.hr, 2.0, atol=1e-5)           # holes filled from neighbours
    np.testing.assert_allclose(ex.lr, 2.0, atol=1e-5)           # bicubic keeps a constant
    assert ex.lr.shape == (8, 8)


def test_patch_stream_is_seeded_and_resumable():
    rng = np.random.default_rng(0)
    ex = depth_sr.DSRExample("a", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8),
                             rng.uniform(1, 2, (40, 48)).astype(np.float32),
                             np.ones((40, 48), bool), None, 4)
    full = list(depth_sr.make_patch_dataset([ex], 16, 4, 2, seed=5).take(3))
    resumed = list(depth_sr.make_patch_dataset([ex], 16, 4, 2, seed=5, start_index=4).take(1))
    for k in ("lr", "hr", "mask", "rgb"):
        np.testing.assert_array_equal(full[2][k], resumed[0][k])
    b = full[0]
    assert b["hr"].shape == (2, 16, 16, 1) and b["lr"].shape == (2, 4, 4, 1)
    assert b["rgb"].shape == (2, 16, 16, 3) and float(tf.reduce_max(b["rgb"])) <= 1.0
    # every HR patch is a window of the (possibly flipped) image
    hr = b["hr"][0, ..., 0].numpy()
    img = ex.hr
    cands = [img, img[:, ::-1], img[::-1], img[::-1, ::-1]]
    assert any(any(np.array_equal(c[y:y + 16, x:x + 16], hr) for y in range(25) for x in range(33))
               for c in cands)


def test_tfds_builder_reads_every_layout(tmp_path):
    import tensorflow_datasets as tfds

    from data_pipelines import middlebury as mb
    from data_pipelines.datasets import middlebury as _  # noqa: F401  (registers the builder)

    root = os.path.join(os.path.dirname(__file__), "fixtures", "middlebury")
    builder = tfds.builder("middlebury", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=root))
    examples = {e["name"].decode(): e for e in tfds.as_numpy(builder.as_dataset(split="train"))}
    scenes = mb.find_scenes(root)
    assert len(examples) == len(scenes) == 3
    for path in scenes:
        ref = mb.read_scene(path)
        ex = examples[os.path.relpath(path, root).replace(os.sep, "/")]
        np.testing.assert_array_equal(ex["rgb"], ref.rgb)
        np.testing.assert_allclose(ex["depth"], np.where(ref.valid, ref.depth, 0.0), rtol=1e-6)
        assert ex["layout"].decode() == ref.layout


def _assert_same_scenes(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.name, g.layout, g.path) == (w.name, w.layout, w.path)
        assert (g.focal_px, g.baseline_mm, g.doffs) == (w.focal_px, w.baseline_mm, w.doffs)
        for field in ("rgb", "depth", "valid", "disparity"):
            a, b = getattr(g, field), getattr(w, field)
            assert a.dtype == b.dtype and a.shape == b.shape, field
            np.testing.assert_array_equal(a, b, err_msg=field)   # NaN == NaN here


def test_load_scenes_through_tfds_equals_read_all(tmp_path):
    import shutil

    tfds_dir = str(tmp_path / "tfds")
    _assert_same_scenes(middlebury.load_scenes(FIX, tfds_data_dir=tfds_dir),
                        middlebury.read_all(FIX))
    _assert_same_scenes(middlebury.load_scenes(FIX, limit=2, tfds_data_dir=tfds_dir),
                        middlebury.read_all(FIX, limit=2))
    # a root that is itself one scene: the name is the folder's, as read_scene gives it
    one = str(tmp_path / "Tiny-perfect")
    shutil.copytree(os.path.join(FIX, "2014", "Tiny-perfect"), one)
    _assert_same_scenes(middlebury.load_scenes(one, tfds_data_dir=str(tmp_path / "tfds1")),
                        middlebury.read_all(one))
    # a copy prepared from another folder is prepared again from this one, not returned stale
    _assert_same_scenes(middlebury.load_scenes(one, tfds_data_dir=tfds_dir),
                        middlebury.read_all(one))
    with pytest.raises(ValueError, match=re.escape(f"source folder {one} -> "
                                                   f"{os.path.abspath(FIX)}")):
        middlebury.load_scenes(FIX, tfds_data_dir=tfds_dir, on_change="error")


def test_dataset_names_are_the_builders_names():
    from data_pipelines import registry
    from data_pipelines.datasets import middlebury as builder_module

    assert builder_module.Middlebury.name == registry.MIDDLEBURY == "middlebury"
    assert registry.MIDDLEBURY_SAMPLE == "middlebury_sample"
