"""Named data sources for the face trainers: the embedded procedural faces or a TFDS builder.

``load_paired(name, split, ...)`` -> ``PairedArrays`` and ``load_rgb(name, split, ...)`` ->
uint8 RGB array, both resized to the working resolution once (the in-memory cache that the
index-driven pipelines in ``paired.py`` / ``unpaired.py`` read from).

Real builders take a TFDS config after a slash (``eurecom_kinectfacedb/depth_kinect``,
``tsgan_folders/target``) and the split ``'all'``.

Synthetic splits: 'train' uses identities [0, n_ids) and 'test' uses disjoint identities
starting at ``SYNTHETIC_TEST_IDENTITY_OFFSET`` (so test faces are unseen people). The
'source' domain is paired RGB-D; the 'target' domain is RGB whose pose, lighting and albedo
distributions are shifted (see ``synthetic_faces.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Optional

import numpy as np

from data_pipelines import registry
from data_pipelines.paired import PairedArrays, arrays_from_examples
from data_pipelines.unpaired import rgb_array_from_examples

# the names come from data_pipelines.registry (defined there once)
SYNTHETIC = registry.SYNTHETIC_FACES
SYNTHETIC_TARGET = registry.SYNTHETIC_FACES_TARGET
SYNTHETIC_TEST_IDENTITY_OFFSET = 100_000

# TFDS builders of real data: name -> module that registers it.
REAL_BUILDERS = {
    registry.CURTINFACES: "data_pipelines.datasets.curtinfaces",
    registry.IIITD_RGBD: "data_pipelines.datasets.iiitd_rgbd",
    registry.EURECOM_KINECTFACEDB: "data_pipelines.datasets.eurecom_kinectfacedb",
    registry.LFW_FACES: "data_pipelines.datasets.lfw",
    registry.TSGAN_FOLDERS: "data_pipelines.datasets.tsgan_folders",
}
PAIRED_SOURCES = (SYNTHETIC,) + tuple(k for k in REAL_BUILDERS if k != registry.LFW_FACES)
RGB_SOURCES = (SYNTHETIC_TARGET, SYNTHETIC) + tuple(REAL_BUILDERS)


@dataclasses.dataclass(frozen=True)
class SyntheticSize:
    """How many procedural faces to make for one split (and ``diffuse_light_fraction``: the
    share of source-domain faces under diffuse light only, ``FaceConfig``; 0 = faces v4)."""

    identities: int = 20
    images_per_identity: int = 10
    diffuse_light_fraction: float = 0.0


def _synthetic(domain: str, split: str, image_size: int, seed: int, size: SyntheticSize):
    from data_pipelines import synthetic_faces as sf

    if split not in ("train", "test"):
        raise ValueError(f"synthetic faces have splits 'train' and 'test', got {split!r}")
    config = sf.FaceConfig(image_size=image_size, domain=domain, seed=seed,
                           diffuse_light_fraction=size.diffuse_light_fraction)
    offset = 0 if split == "train" else SYNTHETIC_TEST_IDENTITY_OFFSET
    for identity in range(offset, offset + size.identities):
        for sample in range(size.images_per_identity):
            yield sf.generate_face(identity, sample, config)


def _tfds_examples(name: str, split: str, data_dir: Optional[str], manual_dir: Optional[str],
                   protocol: Optional[str] = None):
    """The examples of a real builder's ``split``, prepared from ``manual_dir`` (default
    ``<data_dir>/manual/<builder>``) into ``data_dir`` once and again whenever the files under
    ``manual_dir`` change (``data_pipelines.datasets.prepared``)."""
    import tensorflow_datasets as tfds

    from data_pipelines.datasets import prepared

    module = importlib.import_module(REAL_BUILDERS[name.split("/")[0]])
    if data_dir is None:
        raise ValueError(f"--data_dir is required for dataset {name!r}")
    manual_dir = manual_dir or os.path.join(data_dir, "manual", name.split("/")[0])
    builder = prepared.prepare(name, manual_dir, data_dir)
    if protocol is not None:   # a subject split of the single 'all' split (curtinfaces.py)
        examples = tfds.as_numpy(builder.as_dataset(split="all", shuffle_files=False))
        return module.protocol_examples(examples, builder.info.metadata["subjects"], protocol,
                                        split)
    if split != "all" and split not in builder.info.splits:
        raise ValueError(f"dataset {name!r} has splits {sorted(builder.info.splits)}, "
                         f"not {split!r}")
    return tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))


def load_paired(name: str, split: str, image_size: int, seed: int = 0,
                data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
                synthetic_size: SyntheticSize = SyntheticSize(),
                limit: Optional[int] = None, protocol: Optional[str] = None,
                landmark_sigma: Optional[float] = None) -> PairedArrays:
    """Paired RGB-D examples of a named source, resized to ``image_size`` (with
    ``landmark_sigma``, also their landmark heat maps: ``arrays_from_examples``).

    ``protocol`` (CurtinFaces only, e.g. 'paper_47_5'): ``split`` 'train'/'test' are the
    protocol's subject splits (``data_pipelines.datasets.curtinfaces.PROTOCOLS``).
    """
    if protocol is not None and name.split("/")[0] != registry.CURTINFACES:
        raise ValueError(f"--curtin_protocol={protocol!r} only applies to --dataset=curtinfaces, "
                         f"not {name!r}")
    if name == SYNTHETIC:
        examples = _synthetic("source", split, image_size, seed, synthetic_size)
    elif name.split("/")[0] in REAL_BUILDERS and name.split("/")[0] != registry.LFW_FACES:
        examples = _tfds_examples(name, split, data_dir, manual_dir, protocol)
    else:
        raise ValueError(f"--dataset={name!r} is not a paired RGB-D source; choose one of "
                         f"{list(PAIRED_SOURCES)}")
    return arrays_from_examples(examples, image_size, limit=limit, landmark_sigma=landmark_sigma)


def load_target_with_depth(name: str, split: str, image_size: int, seed: int = 0,
                           synthetic_size: SyntheticSize = SyntheticSize(),
                           limit: Optional[int] = None) -> Optional[PairedArrays]:
    """The target domain's RGB *with* depth, for evaluation only (the student never reads
    target depth): the embedded ``synthetic_faces_target`` renders it with every image;
    real RGB-only target datasets have none (None)."""
    if name != SYNTHETIC_TARGET:
        return None
    return arrays_from_examples(_synthetic("target", split, image_size, seed, synthetic_size),
                                image_size, limit=limit)


def load_rgb(name: str, split: str, image_size: int, seed: int = 0,
             data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
             synthetic_size: SyntheticSize = SyntheticSize(),
             limit: Optional[int] = None) -> np.ndarray:
    """RGB-only examples (the student's target domain), resized to ``image_size``."""
    if name == SYNTHETIC_TARGET:
        examples = _synthetic("target", split, image_size, seed, synthetic_size)
    elif name == SYNTHETIC:
        examples = _synthetic("source", split, image_size, seed, synthetic_size)
    elif name.split("/")[0] in REAL_BUILDERS:
        examples = _tfds_examples(name, split, data_dir, manual_dir)
    else:
        raise ValueError(f"--target_dataset={name!r} is not an RGB source; choose one of "
                         f"{list(RGB_SOURCES)}")
    return rgb_array_from_examples(examples, image_size, limit=limit)
