"""TFDS builder ``middlebury``: Middlebury stereo scenes (2005, 2006, 2014 layouts) as RGB + depth.

Reads every scene folder under ``manual_dir`` with :mod:`data_pipelines.middlebury` (layouts,
PFM/PNG disparity and calib.txt -> metric depth are documented there). One split, ``train``
(Middlebury has no official DSR split; the DSR protocols pick scenes by ``name``).

Features: ``rgb`` uint8 (H, W, 3) (the left view); ``depth`` float32 (H, W) metres, 0 where the
disparity is unknown; ``disparity`` float32 (H, W), NaN where unknown; ``name`` (scene path
relative to manual_dir); ``layout`` ('2014' or '2005/2006'); ``focal_px``, ``baseline_mm``,
``doffs`` (float64, as the reader returns them). ``info.metadata`` records the manual_dir and its
scene list (for information: :func:`data_pipelines.middlebury.load_scenes` prepares it with
``data_pipelines.datasets.prepared``, which re-prepares it when the source files change).
Every feature is stored losslessly (PNG, zlib float tensors): reading the builder gives exactly
:func:`data_pipelines.middlebury.read_scene`'s arrays.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import middlebury as mb
from data_pipelines import registry
from data_pipelines.datasets._common import ModuleCodePath, resolve_manual_dir

LAYOUT = """\
  <manual_dir>/<scene>/calib.txt, im0.png, disp0.pfm              (2014, e.g. Motorcycle-perfect/)
  <manual_dir>/<scene>/view1.png, disp1.png, dmin.txt             (2005/2006, e.g. Art/)
  (scenes may sit in sub-folders such as 2014/ or 2006/)"""


def source_metadata(root, scenes):
    """``info.metadata`` of a build: the absolute manual_dir and its scenes' relative paths."""
    root = os.path.abspath(os.fspath(root))
    return {"manual_dir": root,
            "scenes": [os.path.relpath(os.fspath(p), root).replace(os.sep, "/") for p in scenes]}


class Middlebury(ModuleCodePath, tfds.core.GeneratorBasedBuilder):
    """Middlebury scenes with metric depth from their disparity and calibration."""

    name = registry.MIDDLEBURY
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Reads the 2005/2006/2014 layouts from manual_dir.",
                     "1.1.0": "Adds disparity; calibration as float64; records manual_dir and "
                              "its scenes in info.metadata."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download scenes from https://vision.middlebury.edu/stereo/data/ (2014: the '-perfect' "
        "zips; 2005/2006: the full-size or half-size zips) and extract them into manual_dir:\n"
        + LAYOUT)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "rgb": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8),
                "depth": tfds.features.Tensor(shape=(None, None), dtype=np.float32,
                                              encoding="zlib", doc="metres, 0 = unknown"),
                "disparity": tfds.features.Tensor(shape=(None, None), dtype=np.float32,
                                                  encoding="zlib", doc="pixels, NaN = unknown"),
                "name": tfds.features.Text(),
                "layout": tfds.features.Text(),
                "focal_px": tfds.features.Scalar(np.float64),
                "baseline_mm": tfds.features.Scalar(np.float64),
                "doffs": tfds.features.Scalar(np.float64),
            }),
            metadata=tfds.core.MetadataDict(),
            supervised_keys=("rgb", "depth"),
            homepage="https://vision.middlebury.edu/stereo/data/",
        )

    def _split_generators(self, dl_manager):
        root = resolve_manual_dir(dl_manager, self.name, LAYOUT)
        scenes = mb.find_scenes(root)
        if not scenes:
            raise FileNotFoundError(f"middlebury: no scene folder under {root}; expected:\n{LAYOUT}")
        self.info.metadata.update(source_metadata(root, scenes))
        return {"train": self._generate_examples(os.fspath(root), scenes)}

    def _generate_examples(self, root, scenes):
        for path in scenes:
            scene = mb.read_scene(path)
            name = os.path.relpath(path, root).replace(os.sep, "/")
            yield name, {"rgb": scene.rgb,
                         "depth": np.where(scene.valid, scene.depth, 0.0).astype(np.float32),
                         "disparity": scene.disparity.astype(np.float32), "name": name,
                         "layout": scene.layout, "focal_px": scene.focal_px,
                         "baseline_mm": scene.baseline_mm, "doffs": scene.doffs}
