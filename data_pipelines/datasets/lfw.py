"""Labeled Faces in the Wild (Huang et al., UMass TR 07-49, 2007) as the TFDS builder ``lfw_faces``.

RGB only (TS-GAN hallucinates its depth). Named ``lfw_faces`` so it does not clash with TFDS's
built-in ``lfw``, which has no people/pairs metadata. Layout read from ``manual_dir``::

    <manual_dir>/lfw/<Person_Name>/<Person_Name>_<NNNN>.jpg      (250x250 JPEG)
    <manual_dir>/people.txt, pairs.txt                             (optional, View 2: 10 folds)
    <manual_dir>/peopleDevTrain.txt, peopleDevTest.txt,
                 pairsDevTrain.txt, pairsDevTest.txt               (optional, View 1)

The image folder may also be ``lfw-deepfunneled`` / ``lfw_funneled`` (aligned variants with the
same naming), the person folders may sit directly in manual_dir, or config ``image_dir`` names
the folder. The text files are looked up in manual_dir, the image folder and its parent.

File formats (as documented on the LFW web page/README): ``people.txt`` starts with
the number of folds, then per fold a count line followed by ``name<TAB>number_of_images`` lines;
the View-1 ``people*.txt`` files have one count line then the names. ``pairs.txt`` starts with
``<folds> <n>``; each fold has n matched lines ``name i j`` then n mismatched lines
``name1 i name2 j`` (1-based image numbers); ``pairsDev*.txt`` start with ``n`` only.

Features: ``rgb``, ``subject`` (person name), ``label`` (natural-sorted person index),
``relpath``, ``image_number`` (NNNN, -1 if the name does not follow the pattern),
``people_fold`` (1..10 from people.txt, -1 if unlisted or no file) and ``dev_split``
('train' / 'test' from peopleDevTrain/Test.txt, '' otherwise). One split, ``train``, holding every
image (TFDS reserves the name 'all'; ``split='all'`` reads the same); the pairs
lists are stored in ``info.metadata['pairs']`` (View 2) and ``['pairs_dev_train']`` /
``['pairs_dev_test']`` as ``[fold, name1, i, name2, j]`` rows, and ``read_pairs`` /
``read_people`` parse the files directly.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from data_pipelines import registry
from data_pipelines.datasets import _common
from data_pipelines.datasets._common import SINGLE_SPLIT, FaceConfig, Record

LAYOUT = """\
  <manual_dir>/lfw/<Person_Name>/<Person_Name>_<NNNN>.jpg   (or lfw-deepfunneled/, lfw_funneled/)
  <manual_dir>/people.txt, pairs.txt, peopleDevTrain.txt, peopleDevTest.txt,
               pairsDevTrain.txt, pairsDevTest.txt          (optional)"""

IMAGE_DIR_CANDIDATES = ("lfw", "lfw-deepfunneled", "lfw_deepfunneled", "lfw_funneled",
                        "lfw-funneled")
_IMAGE_RE = re.compile(r"^(.+)_(\d{4})$")

LfwPair = collections.namedtuple("LfwPair", ["fold", "name1", "index1", "name2", "index2"])


def _lines(path) -> List[Tuple[int, List[str]]]:
    path = os.fspath(path)
    with open(path, "r", encoding="utf-8") as f:
        return [(i + 1, line.split()) for i, line in enumerate(f) if line.strip()]


def _int(token: str, path, line_no: int) -> int:
    try:
        return int(token)
    except ValueError:
        raise ValueError(f"expected an integer, got {token!r} at line {line_no}: "
                         f"{os.fspath(path)}") from None


def read_people(path) -> List[List[Tuple[str, int]]]:
    """people.txt -> one ``[(name, n_images), ...]`` list per fold; a View-1 file gives one fold."""
    lines = _lines(path)
    if not lines or len(lines[0][1]) != 1:
        raise ValueError(f"LFW people file must start with one integer: {os.fspath(path)}")
    header = _int(lines[0][1][0], path, lines[0][0])
    multi_fold = len(lines) > 1 and len(lines[1][1]) == 1
    folds, pos = [], 1
    for _ in range(header if multi_fold else 1):
        if multi_fold:
            if pos >= len(lines) or len(lines[pos][1]) != 1:
                where = lines[pos][0] if pos < len(lines) else "EOF"
                raise ValueError(f"LFW people file: expected a fold count at line {where}: "
                                 f"{os.fspath(path)}")
            count = _int(lines[pos][1][0], path, lines[pos][0])
            pos += 1
        else:
            count = header
        fold = []
        for _ in range(count):
            if pos >= len(lines) or len(lines[pos][1]) != 2:
                where = lines[pos][0] if pos < len(lines) else "EOF"
                raise ValueError(f"LFW people file: expected 'name count' at line {where}: "
                                 f"{os.fspath(path)}")
            line_no, (name, n) = lines[pos]
            fold.append((name, _int(n, path, line_no)))
            pos += 1
        folds.append(fold)
    if pos != len(lines):
        raise ValueError(f"LFW people file has {len(lines) - pos} extra lines after line "
                         f"{lines[pos - 1][0]}: {os.fspath(path)}")
    return folds


def read_pairs(path) -> List[LfwPair]:
    """pairs.txt / pairsDev*.txt -> ``LfwPair(fold, name1, index1, name2, index2)`` rows.

    ``fold`` is 1-based (always 1 for the View-1 files); matched pairs have name1 == name2.
    """
    lines = _lines(path)
    if not lines or len(lines[0][1]) not in (1, 2):
        raise ValueError(f"LFW pairs file must start with '<n>' or '<folds> <n>': "
                         f"{os.fspath(path)}")
    head = [_int(t, path, lines[0][0]) for t in lines[0][1]]
    n_folds, per_class = (1, head[0]) if len(head) == 1 else head
    pairs, pos = [], 1
    for fold in range(1, n_folds + 1):
        for same in (True, False):
            for _ in range(per_class):
                if pos >= len(lines):
                    raise ValueError(f"LFW pairs file ends early (fold {fold}): "
                                     f"{os.fspath(path)}")
                line_no, tok = lines[pos]
                if same and len(tok) == 3:
                    pairs.append(LfwPair(fold, tok[0], _int(tok[1], path, line_no), tok[0],
                                         _int(tok[2], path, line_no)))
                elif not same and len(tok) == 4:
                    pairs.append(LfwPair(fold, tok[0], _int(tok[1], path, line_no), tok[2],
                                         _int(tok[3], path, line_no)))
                else:
                    kind = "'name i j'" if same else "'name1 i name2 j'"
                    raise ValueError(f"LFW pairs file: expected {kind} at line {line_no}: "
                                     f"{os.fspath(path)}")
                pos += 1
    if pos != len(lines):
        raise ValueError(f"LFW pairs file has {len(lines) - pos} extra lines: {os.fspath(path)}")
    return pairs


@dataclasses.dataclass(eq=False)
class LfwConfig(FaceConfig):
    """LFW options: ``image_dir`` = folder under manual_dir holding the person folders
    (None: the first of ``IMAGE_DIR_CANDIDATES`` found, or manual_dir itself)."""

    image_dir: Optional[str] = None


def _is_image_root(path: epath.Path) -> bool:
    for person in _common.list_dirs(path):
        for f in _common.list_images(person):
            m = _IMAGE_RE.match(f.stem)
            if m and m.group(1) == person.name:
                return True
    return False


def _find_file(name: str, folders) -> Optional[epath.Path]:
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for f in folder.iterdir():
            if f.is_file() and f.name.lower() == name.lower():
                return f
    return None


class LfwFaces(_common.FaceBuilder):
    """LFW (5,749 people, 13,233 images), RGB only, with people/pairs protocol metadata."""

    name = registry.LFW_FACES
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_instructions(LAYOUT)
    HOMEPAGE = "http://vis-www.cs.umass.edu/lfw/"
    CITATION = """@techreport{huang2007lfw,
  title={Labeled Faces in the Wild: A Database for Studying Face Recognition in Unconstrained
         Environments},
  author={Huang, Gary B. and Ramesh, Manu and Berg, Tamara and Learned-Miller, Erik},
  institution={University of Massachusetts, Amherst}, number={07-49}, year={2007}}"""
    BUILDER_CONFIGS = [LfwConfig(name="default", depth_bits=None,
                                 description="LFW RGB images with people/pairs metadata.")]

    def _extra_features(self):
        return {
            "image_number": tfds.features.Scalar(np.int64, doc="NNNN of Name_NNNN.jpg, or -1"),
            "people_fold": tfds.features.Scalar(np.int64, doc="View-2 fold 1..10, -1 unlisted"),
            "dev_split": tfds.features.Text(doc="View-1 'train' / 'test', '' if unlisted"),
        }

    def _image_root(self, manual_dir: epath.Path) -> epath.Path:
        cfg = self.builder_config
        if cfg.image_dir:
            root = manual_dir / cfg.image_dir
            if not root.is_dir():
                raise FileNotFoundError(f"{self.name}: image_dir {cfg.image_dir!r} does not "
                                        f"exist: {root}")
            return root
        for name in IMAGE_DIR_CANDIDATES:
            candidate = _common.child_dir(manual_dir, (name,))
            if candidate is not None and _is_image_root(candidate):
                return candidate
        root = _common.find_root(manual_dir, _is_image_root)
        if root is None:
            raise _common.nothing_found(self.name, manual_dir,
                                        "<manual_dir>/lfw/<Person_Name>/<Person_Name>_<NNNN>.jpg")
        return root

    def _text_folders(self, manual_dir):
        root = self._image_root(manual_dir)
        return [manual_dir, root, root.parent]

    def _scan(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        root = self._image_root(manual_dir)
        folders = self._text_folders(manual_dir)
        people_fold: Dict[str, int] = {}
        people = _find_file("people.txt", folders)
        if people is not None:
            for k, fold in enumerate(read_people(people), start=1):
                for name, _ in fold:
                    people_fold[name] = k
        dev: Dict[str, str] = {}
        for split in ("train", "test"):
            path = _find_file(f"peopleDev{split.capitalize()}.txt", folders)
            if path is not None:
                for fold in read_people(path):
                    for name, _ in fold:
                        dev[name] = split
        records = []
        for person in _common.list_dirs(root):
            for f in _common.list_images(person):
                m = _IMAGE_RE.match(f.stem)
                number = int(m.group(2)) if m and m.group(1) == person.name else -1
                records.append(Record(
                    relpath=_common.relpath(f, manual_dir), subject=person.name, rgb_path=f,
                    extra={"image_number": number,
                           "people_fold": people_fold.get(person.name, -1),
                           "dev_split": dev.get(person.name, "")}))
        if not records:
            raise _common.nothing_found(self.name, root, f"{root}/<Person_Name>/*.jpg")
        return {SINGLE_SPLIT: records}

    def _extra_metadata(self, manual_dir: epath.Path):
        folders = self._text_folders(manual_dir)
        out = {}
        for key, name in (("pairs", "pairs.txt"), ("pairs_dev_train", "pairsDevTrain.txt"),
                          ("pairs_dev_test", "pairsDevTest.txt")):
            path = _find_file(name, folders)
            if path is not None:
                out[key] = [list(p) for p in read_pairs(path)]
        return out
