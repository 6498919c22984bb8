"""NYU Depth v2 labeled reader: MATLAB axis order, split rule, 8-bit normalisation, TFDS builder."""

import os

import h5py
import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_pipelines import nyu_depth_v2 as nyu
from data_pipelines import nyu_splits


@pytest.fixture(scope="module")
def mat_file(tmp_path_factory):
    return nyu.write_labeled_fixture(tmp_path_factory.mktemp("nyu") / "nyu_depth_v2_labeled.mat",
                                     num_frames=7, height=30, width=40, seed=3)


def test_axis_order_undoes_matlab_transpose(tmp_path):
    path = tmp_path / "m.mat"
    rgb = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)   # N, H, W, C
    depth = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5) / 7
    with h5py.File(path, "w") as f:          # what MATLAB writes: N x C x W x H, N x W x H
        f["images"] = np.transpose(rgb, (0, 3, 2, 1))
        f["depths"] = np.transpose(depth, (0, 2, 1))
    out = nyu.read_labeled(path, "all", image_size=None)
    np.testing.assert_array_equal(out.rgb, rgb)
    np.testing.assert_array_equal(out.depth, depth)
    # pixel (row 1, col 3) of frame 1, channel 2, located by hand in the MATLAB layout
    with h5py.File(path, "r") as f:
        assert out.rgb[1, 1, 3, 2] == f["images"][1, 2, 3, 1]


def test_split_rule():
    np.testing.assert_array_equal(nyu.split_range("train", 1449), np.arange(0, 1000))
    np.testing.assert_array_equal(nyu.split_range("test", 1449), np.arange(1000, 1449))
    assert len(nyu.split_range("test", 1449)) == 449
    np.testing.assert_array_equal(nyu.split_range("train", 7), np.arange(5))  # ceil(7000/1449)
    with pytest.raises(ValueError, match="split"):
        nyu.split_range("val", 10)
    with pytest.raises(ValueError, match="protocol"):
        nyu.split_range("train", 10, protocol="eigen")


def test_read_resizes_and_splits(mat_file):
    train = nyu.read_labeled(mat_file, "train", image_size=16)
    test = nyu.read_labeled(mat_file, "test", image_size=(8, 12))
    assert train.rgb.shape == (5, 16, 16, 3) and train.rgb.dtype == np.uint8
    assert train.depth.shape == (5, 16, 16) and train.depth.dtype == np.float32
    assert test.depth.shape == (2, 8, 12) and list(test.index) == [5, 6]
    full = nyu.read_labeled(mat_file, "test", image_size=None)
    # area resizing keeps values within the frame's range
    assert test.depth.min() >= full.depth.min() - 1e-5
    assert test.depth.max() <= full.depth.max() + 1e-5


def test_uint8_normalisation():
    d = np.array([0.0, 5.0, 10.0, 12.0, 0.02], np.float32)
    np.testing.assert_array_equal(nyu.depth_to_uint8(d), [0, 128, 255, 255, 1])  # 127.5 -> 128
    back = nyu.uint8_to_depth(nyu.depth_to_uint8(d[:3]))
    np.testing.assert_allclose(back, d[:3], atol=10 / 510)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nyu_depth_v2_labeled.mat"):
        nyu.read_labeled(tmp_path, "train")
    bad = tmp_path / "bad.mat"
    with h5py.File(bad, "w") as f:
        f["images"] = np.zeros((2, 3, 4, 5), np.uint8)
        f["depths"] = np.zeros((3, 4, 5), np.float32)
    with pytest.raises(ValueError, match="same N") as err:
        nyu.read_labeled(bad, "train")
    assert str(bad) in str(err.value)
    text = tmp_path / "text.mat"
    text.write_text("MATLAB 5.0 MAT-file")
    with pytest.raises(ValueError, match="not an HDF5"):
        nyu.read_labeled(text, "train")


def test_tfds_builder(mat_file, tmp_path):
    from data_pipelines.datasets import nyu_depth_v2_labeled  # noqa: F401  (registers)

    builder = tfds.builder("nyu_depth_v2_labeled/128", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(mat_file.rsplit("/", 1)[0])))
    assert builder.info.splits["train"].num_examples == 5
    assert builder.info.splits["test"].num_examples == 2
    examples = sorted(tfds.as_numpy(builder.as_dataset(split="test")), key=lambda e: e["index"])
    assert [e["index"] for e in examples] == [5, 6]
    ex = examples[0]
    ref = nyu.read_labeled(mat_file, "test", image_size=128)
    np.testing.assert_array_equal(ex["rgb"], ref.rgb[0])
    np.testing.assert_allclose(ex["depth"], ref.depth[0])
    np.testing.assert_array_equal(ex["depth_uint8"][..., 0], nyu.depth_to_uint8(ref.depth[0]))


def _write(path, **datasets):
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


@pytest.mark.parametrize("missing", ["images", "depths"])
def test_missing_dataset_key_names_file_and_key(tmp_path, missing):
    present = {"images": np.zeros((2, 3, 4, 5), np.uint8), "depths": np.zeros((2, 4, 5), np.float32)}
    present.pop(missing)
    path = _write(tmp_path / "nyu_depth_v2_labeled.mat", labels=np.zeros((2, 4, 5), np.uint16),
                  **present)
    with pytest.raises(ValueError) as err:
        nyu.read_labeled(path, "all")
    message = str(err.value)
    assert str(path) in message and f"no dataset '{missing}'" in message
    assert "labels" in message                   # lists what the file does hold


@pytest.mark.parametrize("key, images, depths", [
    ("images", np.zeros((2, 4, 5), np.uint8), np.zeros((2, 4, 5), np.float32)),      # no C axis
    ("images", np.zeros((2, 4, 4, 5), np.uint8), np.zeros((2, 4, 5), np.float32)),   # C = 4
    ("depths", np.zeros((2, 3, 4, 5), np.uint8), np.zeros((2, 4, 5, 1), np.float32)),
])
def test_wrong_shape_names_file_and_key(tmp_path, key, images, depths):
    path = _write(tmp_path / "m.mat", images=images, depths=depths)
    with pytest.raises(ValueError) as err:
        nyu.read_labeled(path, "all")
    message = str(err.value)
    assert str(path) in message and f"dataset '{key}' has shape" in message
    assert str(images.shape if key == "images" else depths.shape) in message


@pytest.mark.parametrize("image_size", [None, 128])
def test_tfds_path_equals_the_raw_reader(mat_file, tmp_path, image_size):
    tfds_dir = str(tmp_path / "tfds")
    for split, limit in (("train", None), ("test", None), ("all", None), ("train", 3),
                         ("test", 1)):
        got = list(nyu.iter_labeled_tfds(mat_file, split, image_size, limit=limit,
                                         tfds_data_dir=tfds_dir))
        want = list(nyu.iter_labeled(mat_file, split, image_size))[:limit]
        assert [g[0] for g in got] == [w[0] for w in want], (split, limit)
        for (_, rgb, depth), (_, rgb_w, depth_w) in zip(got, want):
            assert rgb.dtype == rgb_w.dtype and depth.dtype == depth_w.dtype
            np.testing.assert_array_equal(rgb, rgb_w)
            np.testing.assert_array_equal(depth, depth_w)
    a = nyu.load_labeled(os.path.dirname(mat_file), "train", image_size, limit=2,
                         tfds_data_dir=tfds_dir)
    b = nyu.read_labeled(mat_file, "train", image_size, limit=2)
    for field in ("rgb", "depth", "index"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_tfds_path_follows_the_file_and_reads_any_size(mat_file, tmp_path):
    from data_pipelines import registry

    tfds_dir = str(tmp_path / "tfds")
    list(nyu.iter_labeled_tfds(mat_file, "test", 128, tfds_data_dir=tfds_dir))
    other = nyu.write_labeled_fixture(tmp_path / "nyu_depth_v2_labeled.mat", num_frames=4,
                                      height=30, width=40, seed=4)
    # a copy prepared from another file is prepared again from this one, not returned stale
    with pytest.raises(ValueError, match=r"source folder .* -> .*To refresh, delete"):
        list(nyu.iter_labeled_tfds(other, "test", 128, tfds_data_dir=tfds_dir,
                                   on_change="error"))
    got = list(nyu.iter_labeled_tfds(other, "test", 128, tfds_data_dir=tfds_dir))
    want = list(nyu.iter_labeled(other, "test", 128))
    # 4 frames: the first ceil(4 * 1000 / 1449) = 3 train, frame 3 tests
    assert [g[0] for g in got] == [w[0] for w in want] == [3]
    for (_, rgb, depth), (_, rgb_w, depth_w) in zip(got, want):
        np.testing.assert_array_equal(rgb, rgb_w)
        np.testing.assert_array_equal(depth, depth_w)
    # a size without its own config: the full frames resized as iter_labeled does
    for (i, rgb, depth), (j, rgb_w, depth_w) in zip(
            nyu.iter_labeled_tfds(mat_file, "test", 64, tfds_data_dir=tfds_dir),
            nyu.iter_labeled(mat_file, "test", 64)):
        assert i == j and rgb.shape == (64, 64, 3)
        np.testing.assert_array_equal(rgb, rgb_w)
        np.testing.assert_array_equal(depth, depth_w)
    renamed = nyu.write_labeled_fixture(tmp_path / "m.mat", num_frames=4, height=30, width=40)
    with pytest.raises(ValueError, match="nyu_depth_v2_labeled.mat"):
        list(nyu.iter_labeled_tfds(renamed, "test", None, tfds_data_dir=tfds_dir))
    assert tfds.builder(f"{registry.NYU_DEPTH_V2_TFDS}/full").name == "nyu_depth_v2_labeled"


# -- protocols (data_pipelines/nyu_splits.py) -------------------------------------------------
#: the fixture's official split, 1-based as the toolbox's splits.mat (frames 1..7)
TRAIN_1B, TEST_1B = [1, 3, 4, 6], [7, 2, 5]


@pytest.fixture(scope="module")
def official_dir(tmp_path_factory):
    """A data dir in the real layout: nyu_depth_v2_labeled.mat with splits.mat beside it."""
    folder = tmp_path_factory.mktemp("nyu_official")
    mat = nyu.write_labeled_fixture(folder / "nyu_depth_v2_labeled.mat", num_frames=7,
                                    height=30, width=40, seed=5)
    nyu_splits.write_splits_fixture(folder / "splits.mat", TRAIN_1B, TEST_1B)
    return mat


def test_official_scenes_reads_the_toolbox_splits_beside_the_mat(official_dir):
    import scipy.io

    # the file really is the toolbox's layout: MATLAB v5, double column vectors, 1-based
    raw = scipy.io.loadmat(os.path.join(os.path.dirname(official_dir), "splits.mat"))
    assert raw["trainNdxs"].shape == (4, 1) and raw["trainNdxs"].dtype == np.float64
    everything = nyu.read_labeled(official_dir, "all", image_size=None)
    for split, one_based in (("train", TRAIN_1B), ("test", TEST_1B)):
        want = sorted(i - 1 for i in one_based)                      # 0-based file order
        for where in (official_dir, os.path.dirname(official_dir)):  # the .mat or its folder
            got = nyu.read_labeled(where, split, image_size=None, protocol="official_scenes")
            assert list(got.index) == want, (split, where)
            np.testing.assert_array_equal(got.rgb, everything.rgb[want])
            np.testing.assert_array_equal(got.depth, everything.depth[want])
        records = nyu.rgbd_records(split, official_dir, protocol="official_scenes")
        assert [r[0] for r in records] == [f"nyu_{i:04d}" for i in want]
    # the default protocol is unchanged: the first ceil(7 * 1000 / 1449) = 5 frames train
    assert list(nyu.read_labeled(official_dir, "train", image_size=None).index) == [0, 1, 2, 3, 4]


def test_official_scenes_without_splits_mat_is_a_clear_error(mat_file):
    where = os.path.join(os.path.dirname(mat_file), "splits.mat")
    with pytest.raises(FileNotFoundError, match="splits.mat") as err:
        nyu.read_labeled(mat_file, "train", protocol="official_scenes")
    assert where in str(err.value) and "trainNdxs" in str(err.value)


@pytest.mark.parametrize("train, test, match", [
    ([1, 2, 3], [3, 4], "in both"),
    ([0, 1], [2], "1-based"),
    ([1, 2], [8], r"1\.\.7"),
    ([1.5, 2], [3], "whole"),
    ([1, 1, 2], [3], "twice"),
])
def test_bad_splits_mat_is_refused_with_the_file(tmp_path, train, test, match):
    path = nyu_splits.write_splits_fixture(tmp_path / "splits.mat", train, test)
    with pytest.raises(ValueError, match=match) as err:
        nyu_splits.read_official_splits(path, num_frames=7)
    assert str(path) in str(err.value)


def test_splits_mat_without_its_variables(tmp_path):
    import scipy.io

    path = str(tmp_path / "splits.mat")
    scipy.io.savemat(path, {"trainNdxs": np.arange(1.0, 4.0).reshape(3, 1)})
    with pytest.raises(ValueError, match="testNdxs"):
        nyu_splits.read_official_splits(path, 7)
    (tmp_path / "junk.mat").write_text("not a mat file")
    with pytest.raises(ValueError, match="MATLAB v5"):
        nyu_splits.read_official_splits(str(tmp_path / "junk.mat"), 7)


def test_full_file_needs_the_official_795_654(tmp_path):
    perm = np.random.default_rng(0).permutation(1449) + 1
    ok = nyu_splits.write_splits_fixture(tmp_path / "ok.mat", perm[:795], perm[795:])
    got = nyu_splits.read_official_splits(ok, 1449)
    assert (len(got["train"]), len(got["test"])) == (795, 654)
    np.testing.assert_array_equal(np.sort(np.concatenate([got["train"], got["test"]])),
                                  np.arange(1449))
    bad = nyu_splits.write_splits_fixture(tmp_path / "bad.mat", perm[:794], perm[794:])
    with pytest.raises(ValueError, match="795 / 654"):
        nyu_splits.read_official_splits(bad, 1449)


def test_tfds_path_follows_the_protocol(official_dir, tmp_path):
    tfds_dir = str(tmp_path / "tfds")
    for split in ("train", "test"):
        got = list(nyu.iter_labeled_tfds(official_dir, split, None, tfds_data_dir=tfds_dir,
                                         protocol="official_scenes"))
        want = list(nyu.iter_labeled(official_dir, split, None, protocol="official_scenes"))
        assert [g[0] for g in got] == [w[0] for w in want] == sorted(
            i - 1 for i in (TRAIN_1B if split == "train" else TEST_1B))
        for (_, rgb, depth), (_, rgb_w, depth_w) in zip(got, want):
            np.testing.assert_array_equal(rgb, rgb_w)
            np.testing.assert_array_equal(depth, depth_w)
