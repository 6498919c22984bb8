"""CurtinFaces (Li, Mian, Liu, Krishna, WACV 2013; Curtin University Kinect RGB-D faces) for TFDS.

Layout read from ``manual_dir`` (optionally inside one wrapping folder such as ``CurtinFaces/``)::

    <manual_dir>/<subject>/<NN>.mat      subject '01'..'52', NN = image number

Each ``.mat`` holds one Kinect frame as a point list ``d`` of shape (480*640, 6) with columns
``[x, y, z, r, g, b]``: ``z`` is depth in millimetres and ``r, g, b`` are 0..255 colour. The
points are in MATLAB (column-major) order; the frame is rebuilt as the TS-GAN authors' own
conversion script does: ``np.rot90(column.reshape(640, 480), k=3)``, which equals the
column-major 480x640 image mirrored left-right. Depth becomes uint16 mm (NaN/<=0 -> 0 = hole).

Source of the layout: the TS-GAN first author's preprocessing script (public GitHub code of
hardik-uppal, "D:/CurtinFaces/01/01.mat", ``scipy.io.loadmat(f)['d']``, columns 2 = depth and
3:6 = colour, reshape (640, 480) + rot90 k=3, depth cast to uint16). No official format document
was found, so these details are **uncertain**: the variable name, the frame size and the colour
column order are config fields (``mat_key``, ``frame_height``/``frame_width``); MATLAB v7.3
(HDF5) files are read with h5py. ``image_index`` is the numeric file stem; what each number
means (pose/expression/illumination/disguise) is not documented in any source found, so it is
exposed as a number only.

TS-GAN itself trained on a cropped 8-bit copy (``CurtinFaces_crop/{RGB,DEPTH}/{train,test}/...``):
read that with the ``tsgan_folders`` builder. One split, ``train``, holding every frame
(CurtinFaces has no official split file; protocols are built on top from ``subject`` /
``image_index``; TFDS reserves the name 'all', and ``split='all'`` reads the same examples).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, Iterator, List, Tuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from data_pipelines import registry
from data_pipelines.datasets import _common
from data_pipelines.datasets._common import SINGLE_SPLIT, FaceConfig, Record
from data_pipelines.recognition_protocol_names import CURTIN_PROTOCOLS

LAYOUT = """\
  <manual_dir>/<subject>/<NN>.mat   (e.g. 01/01.mat; optionally inside a folder like CurtinFaces/)
  each .mat: variable 'd', shape (480*640, 6) = [x, y, z_mm, r, g, b] per Kinect point,
  in column-major (MATLAB) order"""


@dataclasses.dataclass(eq=False)
class CurtinFacesConfig(FaceConfig):
    """CurtinFaces options: the .mat variable name and the Kinect frame size."""

    mat_key: str = "d"
    frame_height: int = 480
    frame_width: int = 640

    def __post_init__(self):
        super().__post_init__()
        if self.depth_bits != 16:
            raise ValueError(f"CurtinFacesConfig {self.name!r}: the .mat frames hold depth in "
                             f"millimetres, so depth_bits must be 16, got {self.depth_bits!r}")


# name -> (number of subjects expected, number held out for testing: the last ones).
PROTOCOLS: Dict[str, Tuple[int, int]] = CURTIN_PROTOCOLS     # one owner: the TF-free names module


def protocol_subjects(subjects: Iterable[str], protocol: str) -> Dict[str, Tuple[str, ...]]:
    """{'train': ids, 'test': ids} of a protocol over the build's subject ids.

    ``paper_47_5``: the last 5 subjects in natural order are the test set (TS-GAN sec. 5.1
    leaves open which 5; see the module docstring). Raises ValueError naming what was found
    when the build does not hold the protocol's 52 subjects.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"--curtin_protocol={protocol!r} is not one of {sorted(PROTOCOLS)}")
    total, held_out = PROTOCOLS[protocol]
    subjects = sorted({str(s) for s in subjects}, key=_common.natural_key)
    if len(subjects) != total:
        raise ValueError(f"--curtin_protocol={protocol} needs the {total} CurtinFaces subjects; "
                         f"this build holds {len(subjects)}: {subjects}")
    return {"train": tuple(subjects[:-held_out]), "test": tuple(subjects[-held_out:])}


def protocol_examples(examples: Iterable[dict], subjects: Iterable[str], protocol: str,
                      split: str) -> Iterator[dict]:
    """The examples of ``split`` ('train' or 'test') of ``protocol``; ``subjects`` are all the
    build's subject ids (``builder.info.metadata['subjects']``)."""
    if split not in ("train", "test"):
        raise ValueError(f"--curtin_protocol={protocol} has splits 'train' and 'test', "
                         f"not {split!r}")
    keep = set(protocol_subjects(subjects, protocol)[split])
    for ex in examples:
        subject = ex["subject"]
        subject = subject.decode() if isinstance(subject, bytes) else str(subject)
        if subject in keep:
            yield ex


def _load_mat_array(path, key: str) -> np.ndarray:
    path = os.fspath(path)
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        import h5py

        try:
            with h5py.File(path, "r") as f:
                if key not in f:
                    raise ValueError(f"CurtinFaces .mat has no variable {key!r} "
                                     f"(has {sorted(f.keys())}): {path}")
                return np.asarray(f[key]).T  # h5py sees MATLAB arrays transposed
        except OSError as e:
            raise ValueError(f"cannot read CurtinFaces .mat file: {path}: {e}") from None
    except Exception as e:  # scipy raises ValueError/TypeError/MatReadError on corrupt files
        raise ValueError(f"cannot read CurtinFaces .mat file (corrupt?): {path}: {e}") from None
    if key not in mat:
        names = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"CurtinFaces .mat has no variable {key!r} (has {names}): {path}")
    return np.asarray(mat[key])


def decode_curtin_mat(path, height: int = 480, width: int = 640, key: str = "d"):
    """One CurtinFaces .mat -> (uint8 RGB (H, W, 3), uint16 depth mm (H, W))."""
    points = _load_mat_array(path, key)
    n = height * width
    if points.ndim != 2 or points.shape[0] != n or points.shape[1] < 6:
        raise ValueError(f"CurtinFaces .mat variable {key!r} must be ({n}, 6) for a "
                         f"{height}x{width} frame, got {points.shape}: {os.fspath(path)}")
    points = points.astype(np.float64)

    def frame(column: np.ndarray) -> np.ndarray:
        # TS-GAN authors' conversion: reshape (W, H) then rotate 90 deg clockwise.
        return np.ascontiguousarray(np.rot90(column.reshape(width, height), k=3))

    colour = points[:, 3:6]
    if not np.all(np.isfinite(colour)) or colour.min() < 0 or colour.max() > 255:
        raise ValueError(f"CurtinFaces colour columns 3:6 must be in [0, 255]: {os.fspath(path)}")
    rgb = np.stack([frame(np.round(colour[:, c])) for c in range(3)], axis=-1).astype(np.uint8)
    z = points[:, 2]
    z = np.where(np.isfinite(z) & (z > 0), z, 0.0)
    if z.max() > np.iinfo(np.uint16).max:
        raise ValueError(f"CurtinFaces depth exceeds 65535 mm: {os.fspath(path)}")
    depth = frame(np.round(z)).astype(np.uint16)
    return rgb, depth


def _is_root(path: epath.Path) -> bool:
    return any(any(f.suffix.lower() == ".mat" for f in d.iterdir() if f.is_file())
               for d in _common.list_dirs(path))


class Curtinfaces(_common.FaceBuilder):
    """CurtinFaces RGB-D (Kinect, 52 subjects); uint16 depth in millimetres from the .mat frames."""

    name = registry.CURTINFACES
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_instructions(LAYOUT)
    CITATION = """@inproceedings{li2013kinectfaces,
  title={Using {Kinect} for face recognition under varying poses, expressions, illumination
         and disguise},
  author={Li, Billy Y. L. and Mian, Ajmal S. and Liu, Wanquan and Krishna, Aneesh},
  booktitle={IEEE Workshop on Applications of Computer Vision (WACV)}, year={2013}}"""
    BUILDER_CONFIGS = [
        CurtinFacesConfig(name="raw", depth_bits=16,
                          description="Kinect .mat frames: RGB + uint16 depth (mm), 480x640."),
    ]

    def _extra_features(self):
        return {"image_index": tfds.features.Scalar(
            np.int64, doc="numeric file stem (NN of NN.mat), -1 if not numeric")}

    def _scan(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        root = _common.find_root(manual_dir, _is_root)
        if root is None:
            raise _common.nothing_found(self.name, manual_dir,
                                        "<manual_dir>/<subject>/<NN>.mat")
        records = []
        for subject_dir in _common.list_dirs(root):
            for f in sorted((f for f in subject_dir.iterdir()
                             if f.is_file() and f.suffix.lower() == ".mat"),
                            key=lambda f: _common.natural_key(f.name)):
                stem = f.stem
                records.append(Record(
                    relpath=_common.relpath(f, manual_dir), subject=subject_dir.name,
                    rgb_path=f, depth_path=f,
                    extra={"image_index": int(stem) if stem.isdigit() else -1}))
        return {SINGLE_SPLIT: records}

    def _load(self, record: Record):
        cfg = self.builder_config
        return decode_curtin_mat(record.rgb_path, cfg.frame_height, cfg.frame_width, cfg.mat_key)
