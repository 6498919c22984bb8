"""IIIT-D RGB-D face database (Goswami, Bharadwaj, Vatsa, Singh, BTAS 2013) as a TFDS builder.

106 subjects captured with a Kinect; the database ships with a predefined five-fold protocol,
each fold holding its own training (gallery) and testing (probe) images. Layout read from
``manual_dir`` (optionally inside one wrapping folder such as ``IIITD-RGBD/``)::

    <manual_dir>/<fold>/<role>/<subject>/RGB/<image>
    <manual_dir>/<fold>/<role>/<subject>/Depth/<image>

with ``<fold>`` = ``fold1`` .. ``fold5`` (``Fold1``, ``fold_1`` or ``1`` are accepted too) and
``<role>`` = ``training`` | ``testing`` (``train`` / ``test`` accepted). The same photograph
appears in several folds, in different roles: that is the protocol, so every fold/role is its
own split, ``fold{k}_train`` and ``fold{k}_test``; ``fold`` and ``role`` are also features.

Source: the TS-GAN first author's conversion script (public GitHub code of hardik-uppal,
``D:/IIITD-RGBD/<fold>/<training|testing>/<subject>/<RGB|Depth>/<image>``, copying to
``RGB_D_Dataset_new/fold1/{train,test}/{RGB,depth}``). **Uncertain**: the image file names and
formats inside ``RGB``/``Depth`` (no public listing was found). RGB and depth are paired per
fold/role/subject by file stem with a modality token (``rgb``, ``depth``...) removed, case- and
extension-insensitively; the folder names are matched case-insensitively. The depth bit depth
is also undocumented: TS-GAN decodes the depth files as 8-bit images and copies them unchanged,
so the default config ``depth_8bit`` expects 8-bit depth; ``depth_16bit`` expects 16-bit (mm).
A file of the other bit depth is an error naming it.
"""

from __future__ import annotations

import re
from typing import Dict, List

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from data_pipelines import registry
from data_pipelines.datasets import _common
from data_pipelines.datasets._common import FaceConfig, Record

LAYOUT = """\
  <manual_dir>/fold1 .. fold5/training|testing/<subject>/RGB/<image>
  <manual_dir>/fold1 .. fold5/training|testing/<subject>/Depth/<image>   (same stem as the RGB)
  (optionally inside one folder such as IIITD-RGBD/)"""

_FOLD_RE = re.compile(r"^(?:fold)?[ _\-]*(\d+)$", re.IGNORECASE)
_ROLES = {"training": "train", "train": "train", "testing": "test", "test": "test"}


def _fold_number(name: str):
    m = _FOLD_RE.match(name)
    return int(m.group(1)) if m else None


def _is_root(path: epath.Path) -> bool:
    return any(_fold_number(d.name) is not None
               and any(r.name.lower() in _ROLES for r in _common.list_dirs(d))
               for d in _common.list_dirs(path))


class IiitdRgbd(_common.FaceBuilder):
    """IIIT-D RGB-D (Kinect, 106 subjects) with its five predefined train/test folds."""

    name = registry.IIITD_RGBD
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_instructions(LAYOUT)
    CITATION = """@inproceedings{goswami2013rgbd,
  title={On {RGB-D} face recognition using {Kinect}},
  author={Goswami, Gaurav and Bharadwaj, Samarth and Vatsa, Mayank and Singh, Richa},
  booktitle={IEEE International Conference on Biometrics: Theory, Applications and Systems (BTAS)},
  year={2013}}"""
    BUILDER_CONFIGS = [
        FaceConfig(name="depth_8bit", depth_bits=8,
                   description="Depth files decoded as 8-bit images (as TS-GAN reads them)."),
        FaceConfig(name="depth_16bit", depth_bits=16,
                   description="Depth files decoded as 16-bit (millimetres)."),
    ]

    def _extra_features(self):
        return {
            "fold": tfds.features.Scalar(np.int64, doc="protocol fold number (1..5)"),
            "role": tfds.features.Text(doc="'train' (training/gallery) or 'test' (testing/probe)"),
        }

    def _scan(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        root = _common.find_root(manual_dir, _is_root)
        if root is None:
            raise _common.nothing_found(
                self.name, manual_dir,
                "<manual_dir>/fold<k>/training|testing/<subject>/RGB|Depth/<image>")
        folds: Dict[int, epath.Path] = {}
        for d in _common.list_dirs(root):
            k = _fold_number(d.name)
            if k is None:
                continue
            if k in folds:
                raise ValueError(f"{self.name}: {folds[k]} and {d} are both fold {k}")
            folds[k] = d
        splits: Dict[str, List[Record]] = {}
        for k in sorted(folds):
            for role_dir in _common.list_dirs(folds[k]):
                role = _ROLES.get(role_dir.name.lower())
                if role is None:
                    continue
                split = f"fold{k}_{role}"
                if split in splits:
                    raise ValueError(f"{self.name}: two folders give split {split!r} in {folds[k]}")
                splits[split] = self._scan_role(manual_dir, role_dir, k, role)
        return splits

    def _scan_role(self, manual_dir, role_dir: epath.Path, fold: int, role: str) -> List[Record]:
        rgb_index, depth_index = {}, {}
        subjects = _common.list_dirs(role_dir)
        if not subjects:
            raise _common.nothing_found(self.name, role_dir, f"{role_dir}/<subject>/RGB|Depth/*")
        for subject_dir in subjects:
            rgb_dir = _common.child_dir(subject_dir, ("RGB", "color", "colour"))
            depth_dir = _common.child_dir(subject_dir, ("Depth", "D"))
            if rgb_dir is None and depth_dir is None:
                raise FileNotFoundError(f"{self.name}: subject folder has neither RGB/ nor "
                                        f"Depth/: {subject_dir}")
            subject = subject_dir.name

            def key(f, subject=subject):
                return (subject, _common.pairing_stem(f.name))

            if rgb_dir is not None:
                rgb_index.update(_common.index_files(_common.list_images(rgb_dir), key, self.name))
            if depth_dir is not None:
                depth_index.update(
                    _common.index_files(_common.list_images(depth_dir), key, self.name))
        pairs = _common.pair_files(rgb_index, depth_index, dataset=self.name,
                                   skip_unpaired=self.builder_config.skip_unpaired)
        return [Record(relpath=_common.relpath(rgb, manual_dir), subject=k[0], rgb_path=rgb,
                       depth_path=depth, extra={"fold": fold, "role": role})
                for k, rgb, depth in pairs]
