"""TS-GAN recognition protocols: split builders on fixtures (identity counts, disjointness,
IIIT-D's 5 folds, EURECOM's 468/468 + Table 3 sets, LFW's 62 subjects) and bad input."""

import os

import cv2
import numpy as np
import pytest

from data_pipelines import recognition_protocols as rp
from data_pipelines.datasets.eurecom_kinectfacedb import CONDITIONS


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, image), path


def _iiitd_tree(root, subjects=(1, 2, 3), photos=5):
    """fold k: photo (k-1) of each subject tests, the other photos train (as the real protocol,
    the same photograph appears in every fold, in different roles)."""
    for k in rp.IIITD_FOLDS:
        for s in subjects:
            for n in range(1, photos + 1):
                role = "testing" if n == k else "training"
                code = 10 * s + n
                base = os.path.join(root, "IIITD-RGBD", f"fold{k}", role, str(s))
                _write(os.path.join(base, "RGB", f"{n}.png"), np.full((8, 8, 3), code, np.uint8))
                _write(os.path.join(base, "Depth", f"{n}.bmp"), np.full((8, 8), code, np.uint8))


def test_iiitd_five_folds_from_a_fixture_tree(tmp_path):
    data_dir = str(tmp_path / "tfds")
    _iiitd_tree(os.path.join(data_dir, "manual", "iiitd_rgbd"))
    metas = []
    for k in rp.IIITD_FOLDS:
        faces = rp.load_faces("iiitd_rgbd", 32, data_dir=data_dir, fold=k)
        assert set(faces.meta["fold"].tolist()) == {k}          # only this fold's splits read
        split = rp.build_splits("iiitd_rgbd", faces, fold=k)[0]
        assert split.classes == ("1", "2", "3")
        assert len(split.train) == 12 and len(split.tests["test"]) == 3
        assert not set(split.train) & set(split.tests["test"])
        # the test photo of fold k is photo k, pixel value 10 * subject + k
        codes = sorted(int(faces.rgb[i, 0, 0, 0]) for i in split.tests["test"])
        assert codes == [10 + k, 20 + k, 30 + k]
        want = [int(faces.rgb[i, 0, 0, 0]) // 10 - 1 for i in split.tests["test"]]
        np.testing.assert_array_equal(split.labels(faces.meta, split.tests["test"]), want)
        metas.append(faces.meta)
    merged = {key: np.concatenate([m[key] for m in metas]) for key in metas[0]}
    folds = rp.iiitd_folds(merged)
    assert [s.name for s in folds] == [f"fold{k}" for k in range(1, 6)]
    with pytest.raises(ValueError, match="folds"):
        rp.iiitd_folds({k: v[merged["fold"] != 5] for k, v in merged.items()})


def _eurecom_meta(subjects=52):
    rows = [(f"{s:04d}", session, c) for s in range(1, subjects + 1) for session in (1, 2)
            for c in range(len(CONDITIONS))]
    return {"subject": np.array([r[0] for r in rows]), "session": np.array([r[1] for r in rows]),
            "condition": np.array([r[2] for r in rows]),          # TFDS ClassLabel ints
            "relpath": np.array([f"{s}/s{se}/{c}" for s, se, c in rows])}


def test_eurecom_50_50_and_table3_test_sets():
    meta = _eurecom_meta()
    split = rp.eurecom_split(meta, seed=0)
    assert split.num_classes == 52
    assert len(split.train) == 468 and len(split.tests["test"]) == 468
    assert not set(split.train) & set(split.tests["test"])
    assert {k: len(v) for k, v in split.tests.items()} == {
        "test": 468, "left_pose": 52, "right_pose": 52, "occlusion": 156}
    # each (subject, condition) has one session on each side
    keys = lambda idx: sorted(zip(meta["subject"][idx], meta["condition"][idx]))  # noqa: E731
    assert keys(split.train) == keys(split.tests["test"])
    left = CONDITIONS.index("LeftProfile")
    assert set(meta["condition"][split.tests["left_pose"]]) == {left}
    assert set(split.tests["occlusion"]) <= set(split.tests["test"])
    # both sessions appear in training (the draw is per subject and condition), seeded
    assert set(meta["session"][split.train]) == {1, 2}
    np.testing.assert_array_equal(rp.eurecom_split(meta, seed=0).train, split.train)
    assert not np.array_equal(rp.eurecom_split(meta, seed=1).train, split.train)


def test_lfw_keeps_subjects_with_more_than_20_images_and_20_test_each():
    rng = np.random.default_rng(0)
    counts = {f"Person_{i:02d}": int(rng.integers(21, 40)) for i in range(62)}
    counts.update({f"Few_{i}": n for i, n in enumerate((1, 5, 19, 20))})   # 20 is not > 20
    rows = [(name, j) for name, n in counts.items() for j in range(1, n + 1)]
    meta = {"subject": np.array([r[0] for r in rows]),
            "relpath": np.array([f"lfw/{n}/{n}_{j:04d}.jpg" for n, j in rows])}
    split = rp.lfw_split(meta, seed=0)
    assert split.num_classes == 62 and not any(c.startswith("Few") for c in split.classes)
    assert len(split.tests["test"]) == 62 * 20
    kept = sum(n for name, n in counts.items() if name.startswith("Person"))
    assert len(split.train) == kept - 62 * 20
    assert not set(split.train) & set(split.tests["test"])
    test_subjects, per = np.unique(meta["subject"][split.tests["test"]], return_counts=True)
    assert len(test_subjects) == 62 and set(per) == {20}


def test_synthetic_identities_are_disjoint_from_the_tsgan_ranges():
    faces = rp.load_faces("synthetic_faces", 32, synthetic_identities=3,
                          synthetic_images_per_identity=4)
    assert faces.rgb.shape == (12, 32, 32, 3) and faces.depth.dtype == np.uint16
    split = rp.build_splits("synthetic_faces", faces)[0]
    assert split.num_classes == 3 and len(split.train) == 6 and len(split.tests["test"]) == 6
    assert all(int(c[2:]) >= rp.RECOGNITION_IDENTITY_OFFSET for c in split.classes)
    assert set(faces.meta["sample"][split.train]) == {0, 1}


def test_identity_without_test_image_is_an_error():
    meta = {"subject": np.array(["a", "a", "b", "b", "c"]), "sample": np.array([0, 1, 0, 1, 0]),
            "relpath": np.array(list("vwxyz"))}
    with pytest.raises(ValueError, match="identity 'c' has no test image"):
        rp.synthetic_split(meta, train_per_identity=1)
    with pytest.raises(ValueError, match="no training image"):
        rp.finalize_split("x", meta, [0, 2], {"test": [1, 3, 4]})
    with pytest.raises(ValueError, match="both train and"):
        rp.finalize_split("x", meta, [0, 2, 4], {"test": [1, 3, 4]})


def test_validation_holdout_keeps_the_last_training_images_of_each_identity():
    # identity a: samples 0-3 train (indices 0-3), b: samples 0-3 (indices 6-9); 4, 5, 10, 11 test
    meta = {"subject": np.array(["a"] * 6 + ["b"] * 6), "sample": np.tile(np.arange(6), 2),
            "relpath": np.array([f"{s}/{k}" for s in "ab" for k in range(6)])}
    split = rp.synthetic_split(meta, train_per_identity=4)
    fit, val = rp.validation_holdout(split, meta, 1)
    np.testing.assert_array_equal(fit, [0, 1, 2, 6, 7, 8])
    np.testing.assert_array_equal(val, [3, 9])
    fit, val = rp.validation_holdout(split, meta, 3)
    np.testing.assert_array_equal(fit, [0, 6])
    np.testing.assert_array_equal(val, [1, 2, 3, 7, 8, 9])
    assert not set(val) & set(split.tests["test"])
    with pytest.raises(ValueError, match=r"identity 'a' has 4 training images, too few to hold "
                                         r"out 4"):
        rp.validation_holdout(split, meta, 4)
    with pytest.raises(ValueError, match="score_validation_per_identity"):
        rp.validation_holdout(split, meta, 0)


def test_protocol_file(tmp_path):
    meta = {"subject": np.array(["a", "a", "b", "b"]),
            "relpath": np.array(["a/1.png", "a/2.png", "b/1.png", "b/2.png"])}
    path = tmp_path / "protocol.csv"
    path.write_text("# relpath,set\na/1.png,train\nb/1.png,train\na/2.png,test\nb/2.png,test\n")
    split = rp.protocol_file_split(meta, str(path))
    np.testing.assert_array_equal(split.train, [0, 2])
    np.testing.assert_array_equal(split.tests["test"], [1, 3])
    path.write_text("a/1.png,train\nb/1.png,train\na/9.png,test\n")
    with pytest.raises(FileNotFoundError, match=r"protocol.csv:3: image 'a/9.png'"):
        rp.protocol_file_split(meta, str(path))


def test_paper_size_differences_name_each_deviation_from_the_paper():
    """EURECOM 468/468 (paper lines 599-602) and LFW 62 x 20 (lines 583-584, 617-619)."""
    meta = _eurecom_meta()
    assert rp.paper_size_differences(rp.eurecom_split(meta, seed=0)) == []
    # drop one subject (18 captures): 459 / 459
    keep = np.flatnonzero(meta["subject"] != meta["subject"][0])
    smaller = rp.eurecom_split({k: v[keep] for k, v in meta.items()}, seed=0)
    assert rp.paper_size_differences(smaller) == [
        "eurecom_50_50: 459 train images, the paper states 468",
        "eurecom_50_50: 459 test images, the paper states 468"]
    rows = [(f"P{i}", j) for i in range(3) for j in range(1, 23)]          # 3 subjects x 22
    lfw = rp.lfw_split({"subject": np.array([r[0] for r in rows]),
                        "relpath": np.array([f"lfw/{n}/{n}_{j:04d}.jpg" for n, j in rows])})
    assert rp.paper_size_differences(lfw) == [
        "lfw_62: 3 identities, the paper states 62",
        "lfw_62: 60 test images, the paper states 1240"]
    assert rp.paper_size_differences(rp.finalize_split(
        "fold1", {"subject": np.array(["a", "a", "b", "b"]),
                  "relpath": np.array(list("wxyz"))}, [0, 2], {"test": [1, 3]})) == []
