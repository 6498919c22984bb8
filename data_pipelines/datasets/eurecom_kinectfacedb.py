"""EURECOM KinectFaceDb (Min, Kose, Dugelay, IEEE T-SMC Systems 2014) as a TFDS builder.

52 subjects, 2 sessions, 9 facial conditions per session (Neutral, Smile, OpenMouth, LeftProfile,
RightProfile, OcclusionEyes, OcclusionMouth, OcclusionPaper, LightOn); 256x256 face crops of
the Kinect frames. Layout read from ``manual_dir`` (optionally inside one or two wrapping
folders such as ``EURECOM_Kinect_Face_Dataset/``)::

    <manual_dir>/<NNNN>/s<k>/RGB/rgb_<NNNN>_s<k>_<Condition>.bmp
    <manual_dir>/<NNNN>/s<k>/Depth/DepthBMP/depth_<NNNN>_s<k>_<Condition>.bmp     (8-bit)
    <manual_dir>/<NNNN>/s<k>/Depth/DepthKinect/depth_<NNNN>_s<k>_<Condition>.txt  (raw, mm)
    <manual_dir>/<NNNN>/s<k>/3DObj/depth_<NNNN>_s<k>_<Condition>.obj               (ignored)

Source: public C++/Python code that loads this dataset (e.g. ``EURECOM_Kinect_Face_Dataset/
0001/s1/RGB/rgb_0001_s1_Smile.bmp``, ``Depth/DepthBMP/depth_0001_s1_Smile.bmp``,
``Depth/DepthKinect/depth_0001_s1_Smile.txt``, ``3DObj/depth_0001_s1_Neutral.obj``). The raw
``.txt`` holds one ``x y depth`` triple per line, x/y in the 640x480 Kinect frame and depth in
mm; the 256x256 crop starts at (x, y) = (192, 74) (the same code's comment: "top left original
coordinate = (192, 74), bottom right = (447, 329)"). Folder names and extensions are matched
case-insensitively and conditions up to case/punctuation (``Lighton`` -> ``LightOn``); a name
that does not parse, or disagrees with its subject/session folders, is an error naming it.

**Uncertain** (no format document found): whether pixels without depth are listed in the .txt
with depth 0 or left out (both read as 0 = hole), and the bit depth of the DepthBMP files (the
``depth_bmp`` config requires 8-bit and names any other file).

Configs: ``depth_bmp`` (default) reads ``DepthBMP`` as **uint8** (8-bit depth images, the form
in which TS-GAN reads depth); ``depth_kinect`` reads ``DepthKinect/*.txt`` as **uint16 mm** on
the RGB image's grid. One split, ``train``, holds all 936 captures (TFDS reserves the name
'all'); the ``session`` and ``condition`` features select the test sets of TS-GAN Table 3
(left pose, right pose, occlusion: ``CONDITION_GROUPS``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Tuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from data_pipelines import image_io, registry
from data_pipelines.datasets import _common
from data_pipelines.datasets._common import SINGLE_SPLIT, FaceConfig, Record

CONDITIONS = ("Neutral", "Smile", "OpenMouth", "LeftProfile", "RightProfile", "OcclusionEyes",
              "OcclusionMouth", "OcclusionPaper", "LightOn")
# Variation families of KinectFaceDB (Min et al. 2014); left/right pose and occlusion
# are the EURECOM test sets of TS-GAN Table 3.
CONDITION_GROUPS = {
    "neutral": ("Neutral",),
    "expression": ("Smile", "OpenMouth"),
    "left_pose": ("LeftProfile",),
    "right_pose": ("RightProfile",),
    "pose": ("LeftProfile", "RightProfile"),
    "occlusion": ("OcclusionEyes", "OcclusionMouth", "OcclusionPaper"),
    "illumination": ("LightOn",),
}
_CANONICAL = {re.sub(r"[^a-z0-9]", "", c.lower()): c for c in CONDITIONS}
_NAME_RE = re.compile(r"^(?:rgb|depth)[_\-](\d+)[_\-]s(\d+)[_\-](.+)$", re.IGNORECASE)
_SESSION_RE = re.compile(r"^s(\d+)$", re.IGNORECASE)

LAYOUT = """\
  <manual_dir>/<NNNN>/s1|s2/RGB/rgb_<NNNN>_s<k>_<Condition>.bmp
  <manual_dir>/<NNNN>/s1|s2/Depth/DepthBMP/depth_<NNNN>_s<k>_<Condition>.bmp     (depth_bmp)
  <manual_dir>/<NNNN>/s1|s2/Depth/DepthKinect/depth_<NNNN>_s<k>_<Condition>.txt  (depth_kinect)
  (optionally inside a folder such as EURECOM_Kinect_Face_Dataset/); Condition in
  """ + ", ".join(CONDITIONS)


@dataclasses.dataclass(eq=False)
class EurecomConfig(FaceConfig):
    """EURECOM options.

    Attributes:
      depth_source: 'bmp' (Depth/DepthBMP, 8-bit) or 'kinect_txt' (Depth/DepthKinect, mm).
      kinect_origin: (x0, y0) of the 256x256 crop inside the 640x480 frame, for the .txt files.
    """

    depth_source: str = "bmp"
    kinect_origin: Tuple[int, int] = (192, 74)

    def __post_init__(self):
        super().__post_init__()
        expected = {"bmp": 8, "kinect_txt": 16}
        if self.depth_source not in expected:
            raise ValueError(f"EurecomConfig {self.name!r}: depth_source must be 'bmp' or "
                             f"'kinect_txt', got {self.depth_source!r}")
        if self.depth_bits != expected[self.depth_source]:
            raise ValueError(f"EurecomConfig {self.name!r}: depth_source {self.depth_source!r} "
                             f"stores {expected[self.depth_source]}-bit depth, got depth_bits="
                             f"{self.depth_bits!r}")


def parse_name(path, subject_dir_name: str, session: int) -> Tuple[str, int, str]:
    """``rgb_0001_s1_Smile.bmp`` -> ('0001', 1, 'Smile'), checked against its folders."""
    name = epath.Path(path).name
    m = _NAME_RE.match(name.rsplit(".", 1)[0])
    if m is None:
        raise ValueError(f"eurecom_kinectfacedb: file name does not match "
                         f"'<rgb|depth>_<NNNN>_s<k>_<Condition>': {path}")
    subject, file_session, raw_condition = m.group(1), int(m.group(2)), m.group(3)
    condition = _CANONICAL.get(re.sub(r"[^a-z0-9]", "", raw_condition.lower()))
    if condition is None:
        raise ValueError(f"eurecom_kinectfacedb: unknown condition {raw_condition!r} (known: "
                         f"{', '.join(CONDITIONS)}): {path}")
    if int(subject) != int(subject_dir_name) or file_session != session:
        raise ValueError(f"eurecom_kinectfacedb: file name says subject {subject} session "
                         f"{file_session} but it lies in folder {subject_dir_name}/s{session}: "
                         f"{path}")
    return subject_dir_name, session, condition


def _is_root(path: epath.Path) -> bool:
    return any(d.name.isdigit() and any(_SESSION_RE.match(s.name) for s in _common.list_dirs(d))
               for d in _common.list_dirs(path))


class EurecomKinectfacedb(_common.FaceBuilder):
    """EURECOM KinectFaceDb: RGB + depth (8-bit BMP or raw mm), sessions and conditions."""

    name = registry.EURECOM_KINECTFACEDB
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_instructions(LAYOUT)
    HOMEPAGE = "http://rgb-d.eurecom.fr"
    CITATION = """@article{min2014kinectfacedb,
  title={{KinectFaceDB}: A {Kinect} Database for Face Recognition},
  author={Min, Rui and Kose, Neslihan and Dugelay, Jean-Luc},
  journal={IEEE Transactions on Systems, Man, and Cybernetics: Systems},
  volume={44}, number={11}, pages={1534--1548}, year={2014}}"""
    BUILDER_CONFIGS = [
        EurecomConfig(name="depth_bmp", depth_bits=8, depth_source="bmp",
                      description="RGB + Depth/DepthBMP as uint8 (8-bit depth images)."),
        EurecomConfig(name="depth_kinect", depth_bits=16, depth_source="kinect_txt",
                      description="RGB + Depth/DepthKinect/*.txt as uint16 millimetres."),
    ]

    def _extra_features(self):
        return {
            "session": tfds.features.Scalar(np.int64, doc="recording session (1 or 2)"),
            "condition": tfds.features.ClassLabel(names=list(CONDITIONS),
                                                  doc="facial variation of the capture"),
        }

    def _scan(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        cfg = self.builder_config
        root = _common.find_root(manual_dir, _is_root)
        if root is None:
            raise _common.nothing_found(self.name, manual_dir,
                                        "<manual_dir>/<NNNN>/s1|s2/RGB/rgb_<NNNN>_s<k>_<Cond>.bmp")
        rgb_index, depth_index = {}, {}
        depth_sub, depth_ext = (("DepthBMP",), None) if cfg.depth_source == "bmp" else \
            (("DepthKinect",), ".txt")
        for subject_dir in _common.list_dirs(root):
            if not subject_dir.name.isdigit():
                continue
            for session_dir in _common.list_dirs(subject_dir):
                m = _SESSION_RE.match(session_dir.name)
                if m is None:
                    continue
                session = int(m.group(1))

                def key(f, subject_dir=subject_dir, session=session):
                    return parse_name(f, subject_dir.name, session)

                rgb_dir = _common.child_dir(session_dir, ("RGB",))
                depth_parent = _common.child_dir(session_dir, ("Depth",))
                depth_dir = (_common.child_dir(depth_parent, depth_sub)
                             if depth_parent is not None else None)
                if rgb_dir is not None:
                    rgb_index.update(_common.index_files(_common.list_images(rgb_dir), key,
                                                         self.name))
                if depth_dir is not None:
                    if depth_ext is None:
                        files = _common.list_images(depth_dir)
                    else:
                        files = sorted((f for f in depth_dir.iterdir()
                                        if f.is_file() and f.suffix.lower() == depth_ext),
                                       key=lambda f: _common.natural_key(f.name))
                    depth_index.update(_common.index_files(files, key, self.name))
        if not rgb_index and not depth_index:
            raise _common.nothing_found(
                self.name, root, f"<NNNN>/s<k>/RGB/*.bmp and <NNNN>/s<k>/Depth/{depth_sub[0]}/*")
        pairs = _common.pair_files(rgb_index, depth_index, dataset=self.name,
                                   skip_unpaired=cfg.skip_unpaired)
        records = [Record(relpath=_common.relpath(rgb, manual_dir), subject=k[0], rgb_path=rgb,
                          depth_path=depth, extra={"session": k[1], "condition": k[2]})
                   for k, rgb, depth in pairs]
        return {SINGLE_SPLIT: records}

    def _load(self, record: Record):
        cfg = self.builder_config
        rgb = image_io.read_rgb(record.rgb_path)
        if cfg.depth_source == "kinect_txt":
            depth = image_io.read_depth_xyz_txt(record.depth_path, rgb.shape[:2],
                                                cfg.kinect_origin)
        else:
            depth = image_io.read_depth(record.depth_path, expected_bits=cfg.depth_bits)
        return rgb, depth
