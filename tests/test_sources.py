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


def test_unknown_sources_name_the_flag():
    with pytest.raises(ValueError, match="--dataset"):
        sources.load_paired("lfw_faces", "train", 16)
    with pytest.raises(ValueError, match="--target_dataset"):
        sources.load_rgb("nope", "train", 16)
    with pytest.raises(ValueError, match="--data_dir"):
        sources.load_paired("curtinfaces", "train", 16)
