"""TS-GAN's student trains only on the recognition protocol's training images (paper lines
595-607 and 617-619; issue 16 section 5).

On the fixture trees of tests/fixtures (IIIT-D, EURECOM; LFW enlarged in a temporary copy so
that two people have more than 20 images), the images that ``train_tsgan`` loads for the
student, and the unpaired stream built from them, are compared by pixel hash (both
orientations, the stream flips) with the test split that ``train_recognition`` itself builds
(``depthlab.runners.recognition._faces_and_split``). IIIT-D and EURECOM fixture images carry
their identity code in the red channel (tests/fixtures/make_face_fixtures.py), so the expected
student images are also recomputed from the codes, independently of the split builders.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from data_pipelines import recognition_protocols as rp
from data_pipelines import sources
from data_pipelines.unpaired import make_unpaired_dataset
from depthlab.runners import recognition
from depthlab.runners import tsgan as runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
SIZE = 32
TINY = dict(image_size=SIZE, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
            disc_strides=(2, 2, 1), pool_size=8)
BIG_LFW = (("Big_One", 23), ("Big_Two", 22))      # > 20 images: in the LFW protocol


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A TFDS data_dir whose manual/ holds copies of the fixture trees; LFW gets two extra
    people with 23 and 22 random-noise JPEGs (distinct pixels)."""
    root = tmp_path_factory.mktemp("tfds")
    for name in ("iiitd_rgbd", "eurecom_kinectfacedb", "lfw_faces"):
        shutil.copytree(os.path.join(FIXTURES, name), root / "manual" / name)
    rng = np.random.default_rng(0)
    for person, count in BIG_LFW:
        folder = root / "manual" / "lfw_faces" / "lfw" / person
        folder.mkdir(parents=True)
        for k in range(1, count + 1):
            img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            assert cv2.imwrite(str(folder / f"{person}_{k:04d}.jpg"), img,
                               [cv2.IMWRITE_JPEG_QUALITY, 100])
    return str(root)


def _hash(image):
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def _hashes(images, both_orientations=False):
    out = {_hash(im) for im in images}
    if both_orientations:
        out |= {_hash(im[:, ::-1]) for im in images}
    return out


def _recognition_split(name, data_dir, fold=None, seed=0):
    """(faces, split) exactly as train_recognition builds them."""
    opts = recognition.RunOptions(model_dir="unused", protocol=name, data_dir=data_dir,
                                  fold=fold, seed=seed, image_size=SIZE)
    return recognition._faces_and_split(opts, fold)


def _student(name, data_dir, **kw):
    opts = runner.TSGANOptions(model_dir="unused", target_dataset=name, data_dir=data_dir, **kw)
    cfg = runner.TSGANExperiment().config(dataclasses.replace(
        opts, preset="demo", config_override=runner._override_strings(TINY)))
    return opts, runner.load_target(opts, cfg)


def _stream_images(target, batches):
    """uint8 images of ``batches`` batches of the student's unpaired stream (flips on)."""
    out = []
    for batch in make_unpaired_dataset(target, 2, seed=5).take(batches):
        x = batch["target_rgb"].numpy()
        out += list(np.round((x + 1.0) * 127.5).astype(np.uint8))
    return out


CASES = [("iiitd_rgbd", dict(target_fold=1), 1),
         ("iiitd_rgbd", dict(target_fold=2), 2),
         ("eurecom_kinectfacedb", {}, None),
         ("lfw_faces", {}, None)]


@pytest.mark.parametrize("name,kw,fold", CASES, ids=["iiitd1", "iiitd2", "eurecom", "lfw"])
def test_no_recognition_test_image_reaches_the_student(data_dir, name, kw, fold):
    opts, target = _student(name, data_dir, **kw)
    assert opts.target_protocol == "paper"                 # the default for a real face target
    faces, split = _recognition_split(name, data_dir, fold=fold)
    test_idx = np.concatenate(list(split.tests.values()))
    test = _hashes(faces.rgb[test_idx], both_orientations=True)
    student = _hashes(target)       # (two fixture LFW JPEGs decode to the same pixels)
    assert not student & test
    # the stream the student reads: two passes over the data, flipped or not
    streamed = _hashes(_stream_images(target, batches=len(target)))
    assert not streamed & test
    assert streamed <= _hashes(target, both_orientations=True)
    # and nothing else is dropped: the student gets every non-test image of the dataset
    rest = np.setdiff1d(np.arange(len(faces)), test_idx)
    assert student == _hashes(faces.rgb[rest])
    if name == "lfw_faces":
        # 20 test images per person with > 20 images; the 6 fixture images of people with
        # fewer are in no recognition set, so the generator gets them (paper lines 606-607)
        assert len(test_idx) == 20 * len(BIG_LFW)
        assert len(target) == sum(c for _, c in BIG_LFW) - 20 * len(BIG_LFW) + 6
    else:
        assert student == _hashes(faces.rgb[split.train])


def test_student_images_from_the_fixture_codes(data_dir):
    """Independent of the split builders: fixture codes (red channel) of the student images."""
    codes = lambda rgb: sorted(int(im[0, 0, 0]) for im in rgb)  # noqa: E731
    # IIIT-D fold 1 (make_face_fixtures.make_iiitd): training photos 1,2 of subject 1, photo 1
    # of subjects 2 and 10; testing photos 3, 2, 2; code = 10 * subject + photo
    assert codes(_student("iiitd_rgbd", data_dir, target_fold=1)[1]) == [11, 12, 21, 101]
    assert codes(_student("iiitd_rgbd", data_dir, target_fold=2)[1]) == [13, 22, 102]
    # EURECOM: 2 subjects x 3 conditions, one of the two sessions each (code = 40 * subject +
    # 10 * session + condition index), the 50/50 split of paper lines 599-602
    got = codes(_student("eurecom_kinectfacedb", data_dir)[1])
    assert len(got) == 6
    keys = sorted(((c // 40), c % 10) for c in got)
    assert keys == sorted((s, ci) for s in (1, 2) for ci in (0, 3, 5))


def test_target_split_seed_follows_the_recognition_seed(data_dir):
    for seed in (0, 1, 2):
        _, target = _student("eurecom_kinectfacedb", data_dir, target_split_seed=seed)
        faces, split = _recognition_split("eurecom_kinectfacedb", data_dir, seed=seed)
        assert _hashes(target) == _hashes(faces.rgb[split.train])
        assert not _hashes(target) & _hashes(faces.rgb[split.tests["test"]], True)


def test_synthetic_target_is_unchanged():
    opts = runner.TSGANOptions(model_dir="unused", synthetic_identities=3,
                             synthetic_images_per_identity=2)
    assert opts.target_protocol == "all" and opts.target_fold is None
    cfg = runner.TSGANExperiment().config(dataclasses.replace(
        opts, preset="demo", config_override=runner._override_strings(TINY)))
    want = sources.load_rgb(sources.SYNTHETIC_TARGET, "train", SIZE, seed=0,
                            synthetic_size=sources.SyntheticSize(3, 2))
    np.testing.assert_array_equal(runner.load_target(opts, cfg), want)


@pytest.mark.parametrize("kw,flag", [
    (dict(target_dataset="iiitd_rgbd", target_protocol="recognition"), "--target_protocol"),
    (dict(target_dataset="iiitd_rgbd"), "--target_fold"),                    # fold missing
    (dict(target_dataset="iiitd_rgbd", target_fold=6), "--target_fold"),
    (dict(target_dataset="iiitd_rgbd", target_fold=0), "--target_fold"),
    (dict(target_dataset="eurecom_kinectfacedb", target_fold=1), "--target_fold"),
    (dict(target_dataset="iiitd_rgbd", target_protocol="all", target_fold=1), "--target_fold"),
    (dict(target_protocol="paper"), "--target_protocol"),       # synthetic_faces_target
    (dict(target_dataset="tsgan_folders", target_protocol="paper"), "--target_protocol"),
])
def test_bad_target_protocol_or_fold_names_the_flag(kw, flag):
    with pytest.raises(ValueError, match=flag):
        runner.TSGANOptions(model_dir="unused", **kw)


def test_protocol_functions_reject_bad_input(data_dir):
    with pytest.raises(ValueError, match="--target_fold"):
        rp.load_student_faces("iiitd_rgbd", SIZE, data_dir=data_dir, fold=7)
    faces = rp.load_faces("synthetic_faces", SIZE, synthetic_identities=2,
                          synthetic_images_per_identity=2)
    with pytest.raises(ValueError, match="--target_protocol"):
        rp.student_indices("synthetic_faces", faces)


def test_train_records_the_protocol_and_feeds_only_training_images(data_dir, tmp_path,
                                                                  monkeypatch):
    """runner.train on the EURECOM fixture target: config.json records the protocol, the array
    handed to the unpaired stream holds no recognition test image, and a run directory from
    before the option (which read every target image) is not resumed under 'paper'."""
    seen = []

    def spy(rgb, *args, **kwargs):
        seen.append(np.array(rgb))
        return make_unpaired_dataset(rgb, *args, **kwargs)

    monkeypatch.setattr(runner, "make_unpaired_dataset", spy)
    model_dir = tmp_path / "run"
    opts = runner.TSGANOptions(model_dir=str(model_dir), target_dataset="eurecom_kinectfacedb",
                             data_dir=data_dir, epochs=1, steps_per_epoch=1, batch_size=2,
                             synthetic_identities=2, synthetic_images_per_identity=2,
                             log_every=1000, target_split_seed=1)
    runner.train(opts, preset="demo", overrides=TINY, verbose=False)
    record = json.loads((model_dir / "config.json").read_text())
    assert (record["target_protocol"], record["target_fold"], record["target_split_seed"]) == (
        "paper", None, 1)
    assert len(seen) == 1 and len(seen[0]) == 6
    faces, split = _recognition_split("eurecom_kinectfacedb", data_dir, seed=1)
    assert not _hashes(seen[0]) & _hashes(faces.rgb[split.tests["test"]], True)
    # another split seed is another student set: refused in the same model_dir, by name
    with pytest.raises(ValueError, match="--target_split_seed: 1 -> 0"):
        runner.train(runner.TSGANOptions(**dict(vars(opts), target_split_seed=0)), preset="demo",
                     overrides=TINY, verbose=False)
    # a config.json without the new keys (an older run) reads as 'all' and is not resumed
    for key in ("target_protocol", "target_fold", "target_split_seed"):
        record.pop(key)
    (model_dir / "config.json").write_text(json.dumps(record))
    assert runner.read_run_config(str(model_dir))["target_protocol"] == "all"
    with pytest.raises(ValueError, match="--target_protocol: 'all' -> 'paper'"):
        runner.train(opts, preset="demo", overrides=TINY, verbose=False)


def test_binary_rejects_a_bad_fold_by_name(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "experiments.train_tsgan",
                           "--target_dataset=iiitd_rgbd", "--target_fold=6",
                           f"--model_dir={tmp_path}"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0 and "--target_fold" in proc.stderr
    assert not os.path.exists(tmp_path / "config.json")
