"""TFDS readers of the real face RGB-D datasets (data_pipelines/datasets) and image_io.

Each builder is prepared from its fixture tree (tests/fixtures/<dataset>/, written by
tests/fixtures/make_face_fixtures.py in the dataset's real layout). Every fixture image carries
an identity code in its pixels, and the tests recompute the code from the example's path with
the formulas of the fixture script's docstring, so a mispaired RGB/depth, a wrong label or a
flipped frame fails. Bad inputs (corrupt file, 8-bit depth where 16-bit is expected, a file
without partner, an empty directory) must raise errors that name the file or directory.
"""

import importlib.util
import logging
import os
import re
import shutil

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_pipelines import image_io
from data_pipelines.datasets import _common
from data_pipelines.datasets import curtinfaces, eurecom_kinectfacedb, lfw
from data_pipelines.datasets import iiitd_rgbd, tsgan_folders  # noqa: F401 (registers builders)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

_spec = importlib.util.spec_from_file_location(
    "make_face_fixtures", os.path.join(FIXTURES, "make_face_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CURTIN_TINY = curtinfaces.CurtinFacesConfig(name="fixture_6x8", frame_height=6, frame_width=8)


def prepare(name, manual_dir, data_dir, config=None):
    """download_and_prepare ``name`` from ``manual_dir``; returns (builder, {split: [examples]})."""
    kwargs = {"data_dir": os.fspath(data_dir)}
    if config is not None:
        kwargs["config"] = config
    builder = tfds.builder(name, **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual_dir),
        compute_stats=tfds.download.ComputeStatsMode.SKIP))
    out = {}
    for split in builder.info.splits:
        examples = list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))
        out[split] = sorted(examples, key=lambda e: e["relpath"])
    return builder, out


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def assert_rgb_code(rgb, code, h, w):
    np.testing.assert_array_equal(rgb, fx.rgb_pattern(code, h, w))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every builder prepared once from its fixture tree (shared by the positive tests)."""
    root = tmp_path_factory.mktemp("tfds")
    cases = {
        "curtinfaces": ("curtinfaces", "curtinfaces", CURTIN_TINY),
        "iiitd": ("iiitd_rgbd", "iiitd_rgbd", None),
        "eurecom_bmp": ("eurecom_kinectfacedb", "eurecom_kinectfacedb", None),
        "eurecom_kinect": ("eurecom_kinectfacedb/depth_kinect", "eurecom_kinectfacedb", None),
        "lfw": ("lfw_faces", "lfw_faces", None),
        "tsgan_source": ("tsgan_folders", "tsgan_folders/source", None),
        "tsgan_source16": ("tsgan_folders/source_16bit", "tsgan_folders/source16", None),
        "tsgan_target": ("tsgan_folders/target", "tsgan_folders/target", None),
    }
    return {key: prepare(name, os.path.join(FIXTURES, tree), root / key, config)
            for key, (name, tree, config) in cases.items()}


# ----------------------------------------------------------------------------------------------
# image_io


def test_read_rgb_returns_rgb_order_and_expands_gray(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 20, 30       # B, G, R on disk
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    rgb = image_io.read_rgb(tmp_path / "c.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 5, 3)
    np.testing.assert_array_equal(rgb[0, 0], [30, 20, 10])
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 2), 77, np.uint8))
    np.testing.assert_array_equal(image_io.read_rgb(tmp_path / "g.png"),
                                  np.full((3, 2, 3), 77, np.uint8))
    cv2.imwrite(str(tmp_path / "w.png"), np.zeros((3, 2, 3), np.uint16))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "w.png"))):
        image_io.read_rgb(tmp_path / "w.png")


def test_read_depth_bit_depths_and_errors(tmp_path):
    d16 = np.array([[0, 1000, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "d16.png"), d16)
    out = image_io.read_depth(tmp_path / "d16.png", expected_bits=16)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, d16)
    d8 = np.array([[0, 5], [200, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "d8.bmp"), d8)
    np.testing.assert_array_equal(image_io.read_depth(tmp_path / "d8.bmp", expected_bits=8), d8)
    assert image_io.read_depth(tmp_path / "d8.bmp", expected_bits=None).dtype == np.uint8
    with pytest.raises(ValueError, match=re.escape(f"expected 16-bit depth, got 8-bit: "
                                                   f"{tmp_path / 'd8.bmp'}")):
        image_io.read_depth(tmp_path / "d8.bmp", expected_bits=16)
    with pytest.raises(ValueError, match=re.escape(f"expected 8-bit depth, got 16-bit: "
                                                   f"{tmp_path / 'd16.png'}")):
        image_io.read_depth(tmp_path / "d16.png", expected_bits=8)
    # Grayscale replicated over 3 channels (TS-GAN's depth images) is depth; real colour is not.
    cv2.imwrite(str(tmp_path / "rep.png"), np.repeat(d8[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(image_io.read_depth(tmp_path / "rep.png", 8), d8)
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[0, 0] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / "col.png"), colour)
    with pytest.raises(ValueError, match=r"channels that differ.*" + re.escape(str(tmp_path))):
        image_io.read_depth(tmp_path / "col.png", 8)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(ValueError,
                       match=r"cannot decode image.*" + re.escape(str(tmp_path / "bad.png"))):
        image_io.read_depth(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none.png"))):
        image_io.read_depth(tmp_path / "none.png")
    with pytest.raises(ValueError, match="expected_bits"):
        image_io.read_depth(tmp_path / "d8.bmp", expected_bits=12)


def test_read_depth_xyz_txt_places_pixels_at_origin(tmp_path):
    path = tmp_path / "depth_0001_s1_Neutral.txt"
    path.write_text("10 20 5\n12 21 7\n11 20 0\n")
    # Hand-worked: origin (x0, y0) = (10, 20); (10,20)->[0,0]=5, (12,21)->[1,2]=7, rest holes.
    np.testing.assert_array_equal(image_io.read_depth_xyz_txt(path, (2, 3), (10, 20)),
                                  np.array([[5, 0, 0], [0, 0, 7]], np.uint16))
    with pytest.raises(ValueError, match=r"outside the 2x2 grid.*" + re.escape(str(path))):
        image_io.read_depth_xyz_txt(path, (2, 2), (10, 20))
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        image_io.read_depth_xyz_txt(bad, (2, 2))


def test_pairing_stem_and_natural_order():
    assert _common.pairing_stem("rgb_0001_s1_Smile.bmp") == "0001_s1_smile"
    assert _common.pairing_stem("depth_0001_s1_Smile.BMP") == "0001_s1_smile"
    assert _common.pairing_stem("Colorado_0001.jpg") == "colorado_0001"
    assert sorted(["10", "2", "1"], key=_common.natural_key) == ["1", "2", "10"]


# ----------------------------------------------------------------------------------------------
# builders on their fixture trees


def test_builders_are_registered_under_their_names():
    for name in ("curtinfaces", "iiitd_rgbd", "eurecom_kinectfacedb", "lfw_faces",
                 "tsgan_folders"):
        assert name in tfds.list_builders(with_community_datasets=False)


def test_curtinfaces_frames_match_the_matlab_point_lists(built):
    builder, splits = built["curtinfaces"]
    assert list(splits) == ["train"]
    examples = splits["train"]
    assert len(examples) == 6
    assert builder.info.metadata["subjects"] == ["01", "02", "03"]
    for ex in examples:
        subject, nn = re.match(r"CurtinFaces/(\d+)/(\d+)\.mat$", text(ex["relpath"])).groups()
        code = 10 * int(subject) + int(nn)
        assert text(ex["subject"]) == subject and ex["label"] == int(subject) - 1
        assert ex["image_index"] == int(nn)
        assert_rgb_code(ex["rgb"], code, 6, 8)   # orientation: G grows with column, B with row
        assert ex["depth"].dtype == np.uint16 and ex["depth"].shape == (6, 8, 1)
        expected = fx.depth16_pattern(code, 6, 8)  # NaN point at (0, 0) became the hole 0
        np.testing.assert_array_equal(ex["depth"][:, :, 0], expected)


def test_iiitd_folds_labels_and_pairs(built):
    builder, splits = built["iiitd"]
    assert {k: len(v) for k, v in splits.items()} == {
        "fold1_train": 4, "fold1_test": 3, "fold2_train": 3, "fold2_test": 3}
    assert builder.info.metadata["subjects"] == ["1", "2", "10"]      # natural order
    for split, examples in splits.items():
        fold, role = re.match(r"fold(\d)_(train|test)$", split).groups()
        for ex in examples:
            m = re.match(r"IIITD-RGBD/fold(\d)/(training|testing)/(\d+)/RGB/(\d+)\.png$",
                         text(ex["relpath"]))
            assert m, ex["relpath"]
            assert m.group(1) == fold and m.group(2).startswith(role)
            assert ex["fold"] == int(fold) and text(ex["role"]) == role
            subject, n = int(m.group(3)), int(m.group(4))
            assert ex["label"] == {1: 0, 2: 1, 10: 2}[subject]
            code = 10 * subject + n
            assert_rgb_code(ex["rgb"], code, 10, 8)
            assert ex["depth"].dtype == np.uint8 and ex["depth"].shape == (10, 8, 1)
            np.testing.assert_array_equal(ex["depth"][:, :, 0], fx.depth8_pattern(code, 10, 8))


def _eurecom_code(relpath):
    m = re.match(r"EURECOM_Kinect_Face_Dataset/(\d{4})/s(\d)/RGB/rgb_\1_s\2_(\w+)\.bmp$", relpath)
    assert m, relpath
    subject, session, cond = int(m.group(1)), int(m.group(2)), m.group(3)
    return subject, session, cond, 40 * subject + 10 * session + fx.EURECOM_CONDITIONS.index(cond)


def test_eurecom_depth_bmp_sessions_and_conditions(built):
    builder, splits = built["eurecom_bmp"]
    examples = splits["train"]
    assert len(examples) == 2 * 2 * 3          # subjects x sessions x conditions in the fixture
    names = builder.info.features["condition"].names
    assert names == list(fx.EURECOM_CONDITIONS)
    for ex in examples:
        subject, session, cond, code = _eurecom_code(text(ex["relpath"]))
        assert ex["session"] == session and names[ex["condition"]] == cond
        assert text(ex["subject"]) == f"{subject:04d}" and ex["label"] == subject - 1
        assert_rgb_code(ex["rgb"], code, 16, 16)
        assert ex["depth"].dtype == np.uint8
        np.testing.assert_array_equal(ex["depth"][:, :, 0], fx.depth8_pattern(code, 16, 16))
    left = [ex for ex in examples
            if names[ex["condition"]] in eurecom_kinectfacedb.CONDITION_GROUPS["left_pose"]]
    occl = [ex for ex in examples
            if names[ex["condition"]] in eurecom_kinectfacedb.CONDITION_GROUPS["occlusion"]]
    assert len(left) == 4 and len(occl) == 4


def test_eurecom_raw_kinect_depth_in_millimetres(built):
    _, splits = built["eurecom_kinect"]
    for ex in splits["train"]:
        _, _, _, code = _eurecom_code(text(ex["relpath"]))
        assert ex["depth"].dtype == np.uint16 and ex["depth"].shape == (16, 16, 1)
        np.testing.assert_array_equal(ex["depth"][:, :, 0], fx.depth16_pattern(code, 16, 16))


def test_lfw_people_metadata_and_pairs(built, tmp_path):
    builder, splits = built["lfw"]
    examples = splits["train"]
    assert "depth" not in builder.info.features
    people = ["Aaron_Peirsol", "Abel_Pacheco", "Zico"]
    assert len(examples) == 6 and builder.info.metadata["subjects"] == people
    fold = {"Aaron_Peirsol": 1, "Abel_Pacheco": 1, "Zico": 2}
    dev = {"Aaron_Peirsol": "train", "Abel_Pacheco": "", "Zico": "test"}
    for ex in examples:
        name, k = re.match(r"lfw/(\w+)/\1_(\d{4})\.jpg$", text(ex["relpath"])).groups()
        assert text(ex["subject"]) == name and ex["label"] == people.index(name)
        assert ex["image_number"] == int(k)
        assert ex["people_fold"] == fold[name] and text(ex["dev_split"]) == dev[name]
        code = 50 * people.index(name) + int(k)
        assert ex["rgb"].shape == (16, 16, 3)
        assert np.abs(ex["rgb"].astype(int) - [code, 255 - code, 128]).max() <= 3   # JPEG
    expected_pairs = [[1, "Aaron_Peirsol", 1, "Aaron_Peirsol", 2],
                      [1, "Aaron_Peirsol", 1, "Abel_Pacheco", 1],
                      [2, "Zico", 1, "Zico", 3], [2, "Zico", 2, "Aaron_Peirsol", 2]]
    assert builder.info.metadata["pairs"] == expected_pairs
    assert builder.info.metadata["pairs_dev_train"] == [
        [1, "Aaron_Peirsol", 1, "Aaron_Peirsol", 2], [1, "Aaron_Peirsol", 1, "Zico", 1]]
    assert "pairs_dev_test" not in builder.info.metadata
    # Metadata survives a reload of the prepared dataset.
    again = tfds.builder("lfw_faces", data_dir=builder.data_dir.rsplit("/lfw_faces", 1)[0])
    assert again.info.metadata["subjects"] == people
    # The parsers on their own, and a malformed file.
    assert lfw.read_people(os.path.join(FIXTURES, "lfw_faces", "people.txt")) == [
        [("Aaron_Peirsol", 2), ("Abel_Pacheco", 1)], [("Zico", 3)]]
    assert lfw.read_people(os.path.join(FIXTURES, "lfw_faces", "peopleDevTest.txt")) == [
        [("Zico", 3)]]
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\t1\nZico\t1\n")
    with pytest.raises(ValueError, match=r"line 2.*" + re.escape(str(bad))):
        lfw.read_pairs(bad)


def test_tsgan_source_target_and_16bit(built):
    builder, splits = built["tsgan_source"]
    assert {k: len(v) for k, v in splits.items()} == {"train": 4, "test": 4}
    assert builder.info.metadata["subjects"] == ["1", "2", "10"]
    for split, examples in splits.items():
        for ex in examples:
            subject, n = re.match(rf"RGB/{split}/(\d+)/(\d+)\.png$", text(ex["relpath"])).groups()
            code = 10 * int(subject) + int(n) + (100 if split == "test" else 0)
            assert ex["label"] == {"1": 0, "2": 1, "10": 2}[subject]
            assert_rgb_code(ex["rgb"], code, 12, 12)
            assert ex["depth"].dtype == np.uint8
            np.testing.assert_array_equal(ex["depth"][:, :, 0], fx.depth8_pattern(code, 12, 12))
    _, splits16 = built["tsgan_source16"]
    assert len(splits16["train"]) == 3
    for ex in splits16["train"]:
        subject, n = re.match(r"rgb/train/(\d+)/(\d+)\.png$", text(ex["relpath"])).groups()
        code = 10 * int(subject) + int(n)
        assert ex["depth"].dtype == np.uint16
        np.testing.assert_array_equal(ex["depth"][:, :, 0], fx.depth16_pattern(code, 12, 12))
    target, tsplits = built["tsgan_target"]
    assert "depth" not in target.info.features
    assert {k: len(v) for k, v in tsplits.items()} == {"IMDB_new": 3}
    assert target.info.metadata["subjects"] == ["7", "12"]
    for ex in tsplits["IMDB_new"]:
        label, n = re.match(r"IMDB_new/(\d+)/(\d+)\.png$", text(ex["relpath"])).groups()
        assert_rgb_code(ex["rgb"], 10 * int(label) + int(n), 8, 8)


# ----------------------------------------------------------------------------------------------
# bad input


def copy_tree(name, tmp_path):
    dst = tmp_path / "manual"
    shutil.copytree(os.path.join(FIXTURES, name), dst)
    return dst


def test_corrupt_image_names_the_file(tmp_path):
    manual = copy_tree("tsgan_folders/source", tmp_path)
    victim = manual / "RGB" / "train" / "2" / "1.png"
    victim.write_bytes(b"\x89PNG\r\n\x1a\n truncated garbage")
    with pytest.raises(ValueError, match=r"cannot decode image.*" + re.escape(str(victim))):
        prepare("tsgan_folders", manual, tmp_path / "data")


def test_corrupt_curtinfaces_mat_names_the_file(tmp_path):
    manual = copy_tree("curtinfaces", tmp_path)
    victim = manual / "CurtinFaces" / "02" / "01.mat"
    victim.write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(ValueError, match=re.escape(str(victim))):
        prepare("curtinfaces", manual, tmp_path / "data", config=CURTIN_TINY)


def test_8bit_depth_where_16bit_expected(tmp_path):
    manual = copy_tree("tsgan_folders/source", tmp_path)   # its depth files are 8-bit
    with pytest.raises(ValueError, match=r"expected 16-bit depth, got 8-bit: "
                                         + re.escape(str(manual / "DEPTH"))):
        prepare("tsgan_folders/source_16bit", manual, tmp_path / "data")


def test_rgb_and_depth_of_different_size(tmp_path):
    manual = copy_tree("tsgan_folders/source", tmp_path)
    small = manual / "DEPTH" / "test" / "10" / "1.png"
    fx.write(str(small), fx.depth8_pattern(201, 5, 5))
    with pytest.raises(ValueError, match=r"sizes differ.*" + re.escape(str(small))):
        prepare("tsgan_folders", manual, tmp_path / "data")


def test_missing_depth_partner_is_named_or_skipped(tmp_path, caplog):
    manual = copy_tree("tsgan_folders/source", tmp_path)
    os.remove(manual / "DEPTH" / "train" / "2" / "1.png")
    lonely = manual / "RGB" / "train" / "2" / "1.png"
    with pytest.raises(ValueError,
                       match=r"RGB file has no depth partner.*" + re.escape(str(lonely))):
        prepare("tsgan_folders", manual, tmp_path / "data1")
    skip = _common.FaceConfig(name="source_skip", depth_bits=8, skip_unpaired=True)
    with caplog.at_level(logging.WARNING):
        _, splits = prepare("tsgan_folders", manual, tmp_path / "data2", config=skip)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "test": 4}
    assert str(lonely) in caplog.text


def test_missing_rgb_partner_is_named(tmp_path):
    manual = copy_tree("iiitd_rgbd", tmp_path)
    base = manual / "IIITD-RGBD" / "fold2" / "testing" / "10"
    os.remove(base / "RGB" / "1.png")
    with pytest.raises(ValueError, match=r"depth file has no RGB partner.*"
                                         + re.escape(str(base / "Depth" / "1.bmp"))):
        prepare("iiitd_rgbd", manual, tmp_path / "data")


def test_eurecom_missing_depth_and_bad_name(tmp_path):
    manual = copy_tree("eurecom_kinectfacedb", tmp_path)
    session = manual / "EURECOM_Kinect_Face_Dataset" / "0002" / "s1"
    os.remove(session / "Depth" / "DepthBMP" / "depth_0002_s1_OcclusionEyes.bmp")
    lonely = session / "RGB" / "rgb_0002_s1_OcclusionEyes.bmp"
    with pytest.raises(ValueError, match=r"no depth partner.*" + re.escape(str(lonely))):
        prepare("eurecom_kinectfacedb", manual, tmp_path / "data1")
    odd = session / "RGB" / "rgb_0002_s1_Frowning.bmp"
    shutil.copy(session / "RGB" / "rgb_0002_s1_Neutral.bmp", odd)
    with pytest.raises(ValueError, match=r"unknown condition 'Frowning'.*" + re.escape(str(odd))):
        prepare("eurecom_kinectfacedb/depth_kinect", manual, tmp_path / "data2")


@pytest.mark.parametrize("name", ["curtinfaces", "iiitd_rgbd", "eurecom_kinectfacedb",
                                  "lfw_faces", "tsgan_folders"])
def test_empty_or_missing_manual_dir_lists_the_layout(tmp_path, name):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(empty)) + r"(.|\n)*Expected layout"):
        prepare(name, empty, tmp_path / "data1")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nowhere"))):
        prepare(name, tmp_path / "nowhere", tmp_path / "data2")


def test_wrong_layout_says_what_was_expected(tmp_path):
    manual = tmp_path / "manual"
    (manual / "RGB" / "train" / "1").mkdir(parents=True)
    fx.write(str(manual / "RGB" / "train" / "1" / "1.png"), fx.rgb_pattern(1, 8, 8))
    with pytest.raises(FileNotFoundError, match=r"expected .*depth/<split>/<subject>/\*"):
        prepare("tsgan_folders", manual, tmp_path / "data1")
    stray = tmp_path / "stray"
    (stray / "notes").mkdir(parents=True)
    (stray / "notes" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"expected <manual_dir>/<NNNN>/s1\|s2/RGB.*found "
                                                r"nothing under " + re.escape(str(stray))):
        prepare("eurecom_kinectfacedb", stray, tmp_path / "data2")
