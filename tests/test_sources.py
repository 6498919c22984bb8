"""Named sources: the trainer's entry to the synthetic faces and the real TFDS builders."""

import os

import numpy as np
import pytest

from data_pipelines import sources
from data_pipelines.paired import make_paired_dataset

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tsgan_folders")


def test_real_builder_feeds_the_paired_pipeline(tmp_path):
    arrays = sources.load_paired("tsgan_folders", "train", 16, data_dir=str(tmp_path),
                                 manual_dir=os.path.join(FIXTURES, "source"))
    assert arrays.rgb.shape[1:] == (16, 16, 3) and arrays.depth.dtype == np.uint8
    batch = next(iter(make_paired_dataset(arrays, 2, training=False, repeat=False)))
    assert batch["depth"].shape == (2, 16, 16, 1)
    target = sources.load_rgb("tsgan_folders/target", "all", 16, data_dir=str(tmp_path),
                              manual_dir=os.path.join(FIXTURES, "target"))
    assert target.dtype == np.uint8 and target.shape[1:] == (16, 16, 3)


def test_synthetic_splits_use_disjoint_identities():
    size = sources.SyntheticSize(2, 2)
    train = sources.load_paired("synthetic_faces", "train", 32, synthetic_size=size)
    test = sources.load_paired("synthetic_faces", "test", 32, synthetic_size=size)
    assert set(train.labels.tolist()) == {0, 1}
    assert min(test.labels.tolist()) >= sources.SYNTHETIC_TEST_IDENTITY_OFFSET


def test_synthetic_diffuse_light_reaches_the_source_faces_only():
    """``SyntheticSize.diffuse_light_fraction`` (train_tsgan --synthetic_diffuse_light) renders
    the paired faces with ``FaceConfig.diffuse_light_fraction``: at 1 every source image is the
    generator's diffuse-lit one with unchanged depth; the target domain is untouched."""
    from data_pipelines import synthetic_faces as sf

    lit = sources.load_paired("synthetic_faces", "train", 32,
                              synthetic_size=sources.SyntheticSize(1, 2))
    size = sources.SyntheticSize(1, 2, diffuse_light_fraction=1.0)
    diffuse = sources.load_paired("synthetic_faces", "train", 32, synthetic_size=size)
    cfg = sf.FaceConfig(image_size=32, diffuse_light_fraction=1.0)
    for sample in range(2):
        np.testing.assert_array_equal(diffuse.rgb[sample], sf.generate_face(0, sample, cfg)["rgb"])
    np.testing.assert_array_equal(diffuse.depth, lit.depth)
    assert not np.array_equal(diffuse.rgb, lit.rgb)
    np.testing.assert_array_equal(
        sources.load_rgb("synthetic_faces_target", "train", 32, synthetic_size=size),
        sources.load_rgb("synthetic_faces_target", "train", 32,
                         synthetic_size=sources.SyntheticSize(1, 2)))


def test_unknown_sources_name_the_flag():
    with pytest.raises(ValueError, match="--dataset"):
        sources.load_paired("lfw_faces", "train", 16)
    with pytest.raises(ValueError, match="--target_dataset"):
        sources.load_rgb("nope", "train", 16)
    with pytest.raises(ValueError, match="--data_dir"):
        sources.load_paired("curtinfaces", "train", 16)
