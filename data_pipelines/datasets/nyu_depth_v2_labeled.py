"""TFDS builder ``nyu_depth_v2_labeled``: the official NYU Depth v2 labeled .mat, 1000/449 split.

Named ``nyu_depth_v2_labeled`` because TFDS's catalog already has ``nyu_depth_v2`` (the
DenseDepth raw-frame release, a different dataset). Reads ``nyu_depth_v2_labeled.mat`` from
``manual_dir`` with :mod:`data_pipelines.nyu_depth_v2` (axis order, resizing and the 8-bit
normalisation are documented there).

Configs: ``256`` and ``128`` (frames resized to S x S as
:func:`data_pipelines.nyu_depth_v2.iter_labeled` does) and ``full`` (the file's own 480 x 640,
no resizing). ``info.metadata`` records the .mat path and size (for information:
:func:`data_pipelines.nyu_depth_v2.load_labeled` prepares it with
``data_pipelines.datasets.prepared``, which re-prepares it when the file changes).
Storage is lossless (PNG, zlib float tensors).

Features: ``rgb`` uint8 (S, S, 3); ``depth`` float32 (S, S) metres; ``depth_uint8`` (S, S, 1)
PNG, ``round(255 * clip(depth / 10 m, 0, 1))``; ``index`` the frame's 0-based position in the
file (also the example key). Splits: ``train`` = frames 0..999, ``test`` = frames 1000..1448.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import nyu_depth_v2 as nyu
from data_pipelines import registry
from data_pipelines.datasets._common import ModuleCodePath, resolve_manual_dir

LAYOUT = "  <manual_dir>/nyu_depth_v2_labeled.mat   (MATLAB v7.3 / HDF5, 2.8 GB)"


@dataclasses.dataclass(eq=False)
class NyuConfig(tfds.core.BuilderConfig):
    """Output size (frames are resized from 480x640; None keeps the file's size)."""

    image_size: Optional[int] = 256


def source_metadata(mat_path):
    """``info.metadata`` of a build: the absolute .mat path and its size in bytes."""
    path = os.path.abspath(os.fspath(mat_path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"nyu_depth_v2_labeled: {path} does not exist; expected:\n{LAYOUT}")
    return {"mat_path": path, "mat_bytes": int(os.path.getsize(path))}


class NyuDepthV2Labeled(ModuleCodePath, tfds.core.GeneratorBasedBuilder):
    """NYU Depth v2 labeled pairs resized to a square, split 1000 train / 449 test."""

    name = registry.NYU_DEPTH_V2_TFDS
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Reads nyu_depth_v2_labeled.mat with h5py.",
                     "1.1.0": "Adds the 'full' config (no resizing); records the source file in "
                              "info.metadata."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download nyu_depth_v2_labeled.mat (2.8 GB) from "
        "http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat and place "
        "it in manual_dir:\n" + LAYOUT)
    BUILDER_CONFIGS = [NyuConfig(name="256", description="256x256 (the papers' size)"),
                       NyuConfig(name="128", description="128x128", image_size=128),
                       NyuConfig(name="full", description="the file's own size (480x640), "
                                 "not resized", image_size=None)]
    DEFAULT_CONFIG_NAME = "256"

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size    # None: any size (the file's own)
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "rgb": tfds.features.Image(shape=(s, s, 3), dtype=np.uint8),
                "depth": tfds.features.Tensor(shape=(s, s), dtype=np.float32, encoding="zlib",
                                              doc="metres"),
                "depth_uint8": tfds.features.Image(shape=(s, s, 1), dtype=np.uint8,
                                                   doc="round(255 * clip(depth / 10 m, 0, 1))"),
                "index": tfds.features.Scalar(np.int64, doc="0-based frame index in the file"),
            }),
            metadata=tfds.core.MetadataDict(),
            supervised_keys=("rgb", "depth"),
            homepage="https://cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html",
        )

    def _split_generators(self, dl_manager):
        root = resolve_manual_dir(dl_manager, self.name, LAYOUT)
        path = nyu.resolve_mat_path(root)
        self.info.metadata.update(source_metadata(path))
        return {split: self._generate_examples(path, split) for split in ("train", "test")}

    def _generate_examples(self, path, split):
        for i, rgb, depth in nyu.iter_labeled(path, split, self.builder_config.image_size):
            yield i, {"rgb": rgb, "depth": depth,
                      "depth_uint8": nyu.depth_to_uint8(depth)[..., None], "index": i}
