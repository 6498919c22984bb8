"""Every dataset name, defined once, with the readers ("views") each dataset provides.

A trainer asks a dataset for the view it needs::

    from data_pipelines import registry
    records = registry.read("middlebury_sample", "rgbd_records", split="train")

and its ``--dataset`` flag offers ``registry.names(view="rgbd_records")``. Readers are
``"module:function"`` strings resolved on first use, so listing names (flags, ``--help``)
imports neither TensorFlow nor the readers. A new dataset adds a :class:`DatasetSpec` here
and a reader function in its own module, not an ``if`` branch in a trainer.

Views (the reader's signature is the view's contract):

``rgbd_records``   ``(split, data_dir=None, limit=None) -> [(name, rgb uint8 (H, W, 3),
                   depth float32 metres (H, W), valid bool (H, W))]`` at native resolution
                   (depth super-resolution, two-stage).
``paired_faces``   ``data_pipelines.sources.load_paired`` (RGB + depth faces, TS-GAN).
``rgb_faces``      ``data_pipelines.sources.load_rgb`` (RGB faces: TS-GAN's student domain).
``unpaired_depth`` the unpaired RGB / depth domains of CycleGAN depth synthesis.
``sparse_h5``      sparse-to-dense's preprocessed NYU .h5 folders.
``depth_completion_arrays``  ``(split, data_dir=None, crop_hw, sample_downscale, limit=None)
                   -> (rgb uint8 (N, H, W, 3), depth float32 metres (N, H, W), 0 = invalid)``,
                   split 'train' / 'test', at the two-stage trainer's resolution
                   (``data_pipelines.depth_completion``).
``depth_completion_frames``  ``(split, data_dir=None, limit=None) -> (count, load(k) -> (rgb,
                   depth), frame_hw)``: frames read one at a time (too many to hold).
``depth_completion_crop``    ``() -> (H, W)``: the default network input size of a dataset.

Datasets that have a TFDS builder (``middlebury``, ``nyu_depth_v2`` -> ``nyu_depth_v2_labeled``,
the face datasets) are read through it: the readers prepare the builder from ``--data_dir``
once and reuse the prepared copy until the source files change
(``data_pipelines.datasets.prepared``; Middlebury and NYU copies go to ``$DEPTHLAB_TFDS_DIR``,
default ``~/.cache/depthlab/tfds``). Their raw readers stay as the reference (``via_tfds=False``).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, Iterator, List, Optional


class RegistryError(KeyError):
    """An unknown or duplicate name; the message lists the registered names."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class Registry:
    """A name -> object map that refuses duplicates and lists its names in errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Any] = {}

    def register(self, name: str, obj: Any = None, *, replace: bool = False):
        """``register(name, obj)``, or ``@register(name)`` as a decorator."""
        def add(value):
            if name in self._entries and not replace and self._entries[name] is not value:
                raise RegistryError(f"{self.kind} {name!r} is already registered "
                                    f"({self._entries[name]!r})")
            self._entries[name] = value
            return value
        return add if obj is None else add(obj)

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise RegistryError(f"unknown {self.kind} {name!r}; registered: {self.names()}")
        return self._entries[name]

    def names(self) -> List[str]:
        return sorted(self._entries)

    def items(self) -> Iterator:
        return iter(sorted(self._entries.items()))

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its name, what it is, whether it needs ``--data_dir`` (a directory in the
    dataset's own layout) and its readers by view (``"module:function"``)."""

    name: str
    description: str
    needs_data_dir: bool
    views: Dict[str, str]
    layout: str = ""          # what --data_dir must contain (error messages, --help)

    def reader(self, view: str) -> Callable:
        if view not in self.views:
            raise RegistryError(f"dataset {self.name!r} has no {view!r} reader; datasets "
                                f"that have one: {names(view=view)}")
        module, function = self.views[view].split(":")
        return getattr(importlib.import_module(module), function)


DATASETS = Registry("dataset")


def register(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.register(spec.name, spec)


def get(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def names(view: Optional[str] = None) -> List[str]:
    """Registered dataset names (those with a ``view`` reader when given)."""
    return [n for n, spec in DATASETS.items() if view is None or view in spec.views]


def check_data_dir(name: str, data_dir: Optional[str], flag: str = "--data_dir") -> None:
    """A dataset that reads files needs ``data_dir``; the error says what it must hold."""
    spec = get(name)
    if spec.needs_data_dir and not data_dir:
        raise ValueError(f"--dataset={name} needs {flag}: {spec.layout or 'its directory'}")


def read(name: str, view: str, /, *args, **kwargs) -> Any:
    """``get(name).reader(view)(*args, **kwargs)`` after the data_dir check (``name`` and
    ``view`` are positional-only, so a reader may take ``name`` itself)."""
    check_data_dir(name, kwargs.get("data_dir"))
    return get(name).reader(view)(*args, **kwargs)


# -- the dataset names, each defined once (other modules import them from here) -------------
SYNTHETIC_FACES = "synthetic_faces"
SYNTHETIC_FACES_TARGET = "synthetic_faces_target"
CURTINFACES = "curtinfaces"
IIITD_RGBD = "iiitd_rgbd"
EURECOM_KINECTFACEDB = "eurecom_kinectfacedb"
LFW_FACES = "lfw_faces"
TSGAN_FOLDERS = "tsgan_folders"
MIDDLEBURY_SAMPLE = "middlebury_sample"
MIDDLEBURY = "middlebury"              # also its TFDS builder's name
NYU_DEPTH_V2 = "nyu_depth_v2"
#: the TFDS builder of NYU_DEPTH_V2 (TFDS's catalog already has another ``nyu_depth_v2``)
NYU_DEPTH_V2_TFDS = "nyu_depth_v2_labeled"
SPARSE_TO_DENSE_H5 = "sparse_to_dense_h5"


# -- the datasets --------------------------------------------------------------------------
# Face datasets (TS-GAN, recognition): data_pipelines.sources reads them (TFDS builders in
# data_pipelines/datasets/ for the real ones, procedural faces for the synthetic ones).
_FACES = "data_pipelines.sources"
for _name, _desc, _paired, _layout in (
        (SYNTHETIC_FACES, "procedural RGB + depth faces (embedded, no files)", True, ""),
        (SYNTHETIC_FACES_TARGET, "procedural RGB faces of the student's target domain "
         "(embedded, no files)", False, ""),
        (CURTINFACES, "CurtinFaces RGB-D (Kinect)", True,
         "the CurtinFaces folders (data_pipelines/datasets/curtinfaces.py)"),
        (IIITD_RGBD, "IIIT-D RGB-D face database", True,
         "the IIIT-D RGB-D folders (data_pipelines/datasets/iiitd_rgbd.py)"),
        (EURECOM_KINECTFACEDB, "EURECOM Kinect Face Dataset", True,
         "the EURECOM KinectFaceDB folders (data_pipelines/datasets/eurecom_kinectfacedb.py)"),
        (LFW_FACES, "Labeled Faces in the Wild (RGB only)", False,
         "the LFW folders (data_pipelines/datasets/lfw.py)"),
        (TSGAN_FOLDERS, "TS-GAN's own folder layout (rgb/ and depth/ images)", True,
         "rgb/ and depth/ folders (data_pipelines/datasets/tsgan_folders.py)")):
    _views = {"rgb_faces": f"{_FACES}:load_rgb"}
    if _paired:
        _views["paired_faces"] = f"{_FACES}:load_paired"
    register(DatasetSpec(_name, _desc, needs_data_dir=bool(_layout), views=_views,
                         layout=_layout))


# -- RGB-D records at native resolution (view 'rgbd_records': depth super-resolution) --------
# (issue 17, DSR distillation; another trainer may add views to these specs)
register(DatasetSpec(
    MIDDLEBURY_SAMPLE, "scikit-image's Middlebury 2014 Motorcycle (embedded, no files): "
    "training columns 0-527, held-out columns 544-735", needs_data_dir=False,
    views={"rgbd_records": "data_pipelines.middlebury:sample_rgbd_records"}))
register(DatasetSpec(
    NYU_DEPTH_V2, "NYU Depth v2 labeled set (1449 frames, split by protocol: first1000 = the "
    "first 1000 train, the last 449 test; official_scenes = the toolbox's splits.mat, 795 / 654)",
    needs_data_dir=True, views={"rgbd_records": "data_pipelines.nyu_depth_v2:rgbd_records"},
    layout="the labeled .mat (nyu_depth_v2_labeled.mat) or its folder"))
register(DatasetSpec(
    MIDDLEBURY, "Middlebury stereo scenes (2005/2006/2014 layouts; the last quarter of the "
    "scenes held out, or one scene's right quarter)", needs_data_dir=True,
    views={"rgbd_records": "data_pipelines.middlebury:folder_rgbd_records"},
    layout="a folder of scenes in the 2005/2006/2014 layouts"))


# -- depth completion (two-stage trainer; data_pipelines/depth_completion.py) --------------
# Another trainer may register the same dataset with other views: add_views merges them.
def add_views(name: str, description: str, needs_data_dir: bool, views: Dict[str, str],
              layout: str = "") -> DatasetSpec:
    """Registers ``name``, or adds ``views`` to its existing spec (a view registered twice
    must name the same reader)."""
    if name not in DATASETS:
        return register(DatasetSpec(name, description, needs_data_dir, dict(views), layout))
    old = DATASETS.get(name)
    clash = [v for v in views if v in old.views and old.views[v] != views[v]]
    if clash:
        raise RegistryError(f"dataset {name!r}: view(s) {clash} already registered with "
                            f"another reader")
    spec = dataclasses.replace(old, views={**old.views, **views},
                               layout=old.layout or layout)
    return DATASETS.register(name, spec, replace=True)


_DC = "data_pipelines.depth_completion"
add_views(MIDDLEBURY_SAMPLE, "scikit-image's Middlebury 2014 Motorcycle with metric depth "
          "(embedded, no files)", False,
          {"depth_completion_arrays": f"{_DC}:middlebury_sample_arrays",
           "depth_completion_crop": f"{_DC}:middlebury_sample_crop"})
add_views(SPARSE_TO_DENSE_H5, "sparse-to-dense's preprocessed NYU Depth v2 .h5 frames", True,
          {"depth_completion_arrays": f"{_DC}:sparse_to_dense_h5_arrays",
           "depth_completion_frames": f"{_DC}:sparse_to_dense_h5_frames",
           "depth_completion_crop": f"{_DC}:full_frame_crop"},
          layout="the folder holding train/ and val/ (<split>/<scene>/<frame>.h5)")
add_views(NYU_DEPTH_V2, "NYU Depth v2 labeled set (1449 frames; split by protocol, data_pipelines.nyu_splits)", True,
          {"depth_completion_arrays": f"{_DC}:nyu_depth_v2_arrays",
           "depth_completion_crop": f"{_DC}:full_frame_crop"},
          layout="the labeled .mat (nyu_depth_v2_labeled.mat) or its folder")

# -- CycleGAN depth synthesis: the 'unpaired_depth' view (data_pipelines/unpaired_depth.py) ---
for _name in (SYNTHETIC_FACES, NYU_DEPTH_V2):
    add_views(_name, "", False, {"unpaired_depth": f"data_pipelines.unpaired_depth:{_name}"})
