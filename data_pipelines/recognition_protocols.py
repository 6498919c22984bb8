"""Face-recognition protocols of TS-GAN (paper section 4.2) as split builders over the readers.

Two layers:

1. ``load_faces(protocol, ...)`` -> ``FaceSet``: the examples of a protocol's dataset, decoded
   and resized once (uint8 RGB, depth as stored, 0 = hole) with their metadata (subject, relpath
   and the dataset's protocol fields: IIIT-D ``fold``/``role``, EURECOM ``session``/
   ``condition``, LFW ``image_number``, synthetic ``sample``).
2. Split builders, pure functions of the metadata (no images), returning ``Split``s of example
   indices: ``iiitd_split`` (the predefined 5 folds; one split per fold), ``eurecom_split``
   (50/50 = 468/468, plus the left-pose, right-pose and occlusion test sets of Table 3),
   ``lfw_split`` (the subjects with more than 20 images, 20 test images each, the rest train),
   ``synthetic_split`` (per identity the first samples train, the rest test) and
   ``protocol_file_split`` (an explicit ``relpath,set`` CSV).
3. ``student_indices`` / ``load_student_faces``: the images of a real dataset that TS-GAN's
   student may train on, i.e. the complement of the protocol's test sets (paper lines 595-606),
   computed from the same split builders, so the generator never sees a recognition test image.

Every split is closed-set identification (the paper's rank-1 classification): labels index
the natural-sorted training identities; a test image of an identity without training images,
or a training identity without a test image, is an error naming the identity.

Embedded default: ``synthetic_faces`` identities start at ``RECOGNITION_IDENTITY_OFFSET``
(200,000), disjoint from the identities a TS-GAN is trained ([0, n)) and held out
([100,000, ...)) on by ``data_pipelines.sources``, so D~ comes from a generator that never saw
these people.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from data_pipelines.paired import resize_depth, resize_rgb

from data_pipelines.recognition_protocol_names import (  # noqa: E402 (TF-free names)
    IIITD_FOLDS, PROTOCOLS, RGB_ONLY_PROTOCOLS)
TFDS_NAMES = {"iiitd_rgbd": "iiitd_rgbd", "eurecom_kinectfacedb": "eurecom_kinectfacedb",
              "lfw_faces": "lfw_faces"}
RECOGNITION_IDENTITY_OFFSET = 200_000
EURECOM_TEST_SETS = {"left_pose": ("LeftProfile",), "right_pose": ("RightProfile",),
                     "occlusion": ("OcclusionEyes", "OcclusionMouth", "OcclusionPaper")}
#: real datasets whose recognition protocol decides the TS-GAN student's images (lines 595-606)
STUDENT_PROTOCOLS = ("iiitd_rgbd", "eurecom_kinectfacedb", "lfw_faces")
LFW_MIN_IMAGES = 21          # "more than 20 images"
LFW_TEST_PER_SUBJECT = 20
# the sizes the TS-GAN paper states for its splits (paper text lines 599-602, 583-584, 617-619)
PAPER_SPLIT_SIZES = {"eurecom_50_50": {"train images": 468, "test images": 468},
                     "lfw_62": {"identities": 62, "test images": 62 * LFW_TEST_PER_SUBJECT}}


def _natural_key(text: str):
    import re

    return tuple((0, int(t), t) if t.isdigit() else (1, 0, t.lower())
                 for t in re.findall(r"\d+|\D+", str(text)))


@dataclasses.dataclass
class FaceSet:
    """Decoded examples of one protocol's dataset, in memory."""

    rgb: np.ndarray                           # (N, S, S, 3) uint8
    depth: Optional[np.ndarray]               # (N, S, S) uint8/uint16, 0 = hole; None: RGB only
    meta: Dict[str, np.ndarray]               # 'subject', 'relpath' + protocol fields, each (N,)
    depth_bits: Optional[int] = None

    def __post_init__(self):
        n = len(self.rgb)
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"FaceSet.rgb must be uint8 (N, S, S, 3), got {self.rgb.dtype} "
                             f"{self.rgb.shape}")
        if self.depth is not None and self.depth.shape != self.rgb.shape[:3]:
            raise ValueError(f"FaceSet: depth {self.depth.shape} does not match rgb "
                             f"{self.rgb.shape}")
        for key in ("subject", "relpath"):
            if key not in self.meta:
                raise ValueError(f"FaceSet.meta lacks {key!r}")
        for key, value in self.meta.items():
            if len(value) != n:
                raise ValueError(f"FaceSet.meta[{key!r}] has {len(value)} entries for {n} images")

    def __len__(self):
        return len(self.rgb)


@dataclasses.dataclass
class Split:
    """One train/test division: example indices and the class list (label = index)."""

    name: str
    train: np.ndarray
    tests: Dict[str, np.ndarray]              # always holds 'test'
    classes: tuple

    def labels(self, meta: Mapping[str, np.ndarray], indices: np.ndarray) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.asarray([lookup[str(s)] for s in np.asarray(meta["subject"])[indices]],
                          np.int64)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def finalize_split(name: str, meta: Mapping[str, np.ndarray], train, tests: Dict[str, Iterable],
                   require_disjoint: bool = True) -> Split:
    """Checks a division and returns the ``Split`` (see module doc for the rules)."""
    subjects = np.asarray(meta["subject"]).astype(str)
    train = np.asarray(sorted(int(i) for i in train), np.int64)
    tests = {k: np.asarray(sorted(int(i) for i in v), np.int64) for k, v in tests.items()}
    if "test" not in tests:
        raise ValueError(f"split {name!r}: no 'test' set")
    if len(train) == 0:
        raise ValueError(f"split {name!r}: the training set is empty")
    classes = tuple(sorted({str(s) for s in subjects[train]}, key=_natural_key))
    if len(classes) < 2:
        raise ValueError(f"split {name!r}: needs >= 2 training identities, got {len(classes)}")
    known = set(classes)
    for set_name, idx in tests.items():
        unknown = sorted({str(s) for s in subjects[idx]} - known, key=_natural_key)
        if unknown:
            raise ValueError(f"split {name!r}: identity {unknown[0]!r} has test images in "
                             f"{set_name!r} but no training image ({len(unknown)} such "
                             "identities); closed-set identification needs both")
        if require_disjoint:
            overlap = np.intersect1d(train, idx)
            if len(overlap):
                where = np.asarray(meta["relpath"])[overlap[0]]
                raise ValueError(f"split {name!r}: {where} is in both train and {set_name!r}")
    missing = sorted(known - {str(s) for s in subjects[tests["test"]]}, key=_natural_key)
    if missing:
        raise ValueError(f"split {name!r}: identity {missing[0]!r} has no test image "
                         f"({len(missing)} identities without test images)")
    return Split(name, train, tests, classes)


def paper_size_differences(split: Split) -> List[str]:
    """How ``split`` differs from the sizes the paper states for it (EURECOM 468/468, lines
    599-602; LFW 62 identities x 20 test images, lines 583-584 and 617-619); [] when it matches
    or the paper states none (IIIT-D's folds, synthetic data, protocol files)."""
    want = PAPER_SPLIT_SIZES.get(split.name)
    if not want:
        return []
    have = {"train images": len(split.train), "test images": len(split.tests["test"]),
            "identities": split.num_classes}
    return [f"{split.name}: {have[k]} {k}, the paper states {v}" for k, v in want.items()
            if have[k] != v]


# ----------------------------------------------------------------------------- split builders
def iiitd_split(meta: Mapping[str, np.ndarray], fold: int) -> Split:
    """IIIT-D RGB-D predefined fold ``fold``: its 'training' images train, its 'testing' test."""
    folds = np.asarray(meta["fold"]).astype(int)
    roles = np.asarray(meta["role"]).astype(str)
    if fold not in set(folds.tolist()):
        raise ValueError(f"IIIT-D: fold {fold} is not in the data (folds found: "
                         f"{sorted(set(folds.tolist()))})")
    here = folds == fold
    return finalize_split(f"fold{fold}", meta, np.flatnonzero(here & (roles == "train")),
                          {"test": np.flatnonzero(here & (roles == "test"))})


def iiitd_folds(meta: Mapping[str, np.ndarray]) -> List[Split]:
    """All five predefined IIIT-D folds (an error if any of folds 1..5 is absent)."""
    found = sorted(set(np.asarray(meta["fold"]).astype(int).tolist()))
    if tuple(found) != IIITD_FOLDS:
        raise ValueError(f"IIIT-D protocol needs folds {list(IIITD_FOLDS)}, found {found}")
    return [iiitd_split(meta, k) for k in IIITD_FOLDS]


def eurecom_split(meta: Mapping[str, np.ndarray], seed: int = 0) -> Split:
    """EURECOM KinectFaceDb 50/50: for every (subject, condition) one of its two sessions is
    drawn (seeded) for training and the other for testing, so 936 captures give 468/468 and
    every subject and condition is on both sides. Test sets: 'test' (all 468), 'left_pose',
    'right_pose' and 'occlusion' (Table 3), subsets of the test half."""
    subjects = np.asarray(meta["subject"]).astype(str)
    conditions = np.asarray(meta["condition"])
    if conditions.dtype.kind in "iu":       # TFDS ClassLabel ints -> names
        from data_pipelines.datasets.eurecom_kinectfacedb import CONDITIONS

        conditions = np.asarray([CONDITIONS[int(c)] for c in conditions])
    conditions = conditions.astype(str)
    sessions = np.asarray(meta["session"]).astype(int)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2021]))
    train, test = [], []
    groups: Dict[tuple, List[int]] = {}
    for i, key in enumerate(zip(subjects, conditions)):
        groups.setdefault(key, []).append(i)
    for key in sorted(groups, key=lambda k: (_natural_key(k[0]), k[1])):
        idx = sorted(groups[key], key=lambda i: sessions[i])
        order = rng.permutation(len(idx))
        half = len(idx) // 2
        if len(idx) == 1:
            raise ValueError(f"EURECOM: subject {key[0]} has condition {key[1]} in one session "
                             "only; the 50/50 protocol needs both sessions")
        train += [idx[j] for j in order[:half]]
        test += [idx[j] for j in order[half:]]
    test = np.asarray(test, np.int64)
    tests = {"test": test}
    for name, conds in EURECOM_TEST_SETS.items():
        tests[name] = test[np.isin(conditions[test], conds)]
    return finalize_split("eurecom_50_50", meta, train, tests)


def lfw_split(meta: Mapping[str, np.ndarray], seed: int = 0, min_images: int = LFW_MIN_IMAGES,
              test_per_subject: int = LFW_TEST_PER_SUBJECT) -> Split:
    """LFW: the subjects with at least ``min_images`` (more than 20) images; per subject
    ``test_per_subject`` images (seeded draw) test and the rest train (62 subjects in LFW)."""
    if test_per_subject >= min_images:
        raise ValueError("lfw_split: test_per_subject must be < min_images so that every "
                         "subject keeps a training image")
    subjects = np.asarray(meta["subject"]).astype(str)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 62]))
    train, test = [], []
    names, counts = np.unique(subjects, return_counts=True)
    kept = sorted((n for n, c in zip(names, counts) if c >= min_images), key=_natural_key)
    if len(kept) < 2:
        raise ValueError(f"LFW: only {len(kept)} subjects have >= {min_images} images")
    relpaths = np.asarray(meta["relpath"]).astype(str)
    for name in kept:
        idx = np.flatnonzero(subjects == name)
        idx = idx[np.argsort(relpaths[idx], kind="stable")]
        order = rng.permutation(len(idx))
        test += idx[order[:test_per_subject]].tolist()
        train += idx[order[test_per_subject:]].tolist()
    return finalize_split("lfw_62", meta, train, {"test": test})


def synthetic_split(meta: Mapping[str, np.ndarray], train_per_identity: int) -> Split:
    """Synthetic identities: samples [0, train_per_identity) train, the rest test."""
    sample = np.asarray(meta["sample"]).astype(int)
    if train_per_identity < 1:
        raise ValueError(f"--train_per_identity must be >= 1, got {train_per_identity}")
    return finalize_split("synthetic", meta, np.flatnonzero(sample < train_per_identity),
                          {"test": np.flatnonzero(sample >= train_per_identity)})


def read_protocol_file(path: str) -> List[tuple]:
    """``relpath,set`` rows (set = 'train', 'test' or another test-set name); '#' comments."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--protocol_file={path}: no such file")
    rows = []
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{line_no}: expected 'relpath,set', got {row}")
            rows.append((row[0].strip(), row[1].strip(), line_no))
    if not rows:
        raise ValueError(f"--protocol_file={path} lists no images")
    return rows


def protocol_file_split(meta: Mapping[str, np.ndarray], path: str,
                        name: Optional[str] = None) -> Split:
    """A split from an explicit list; a listed image missing from the dataset is an error."""
    index = {str(r): i for i, r in enumerate(np.asarray(meta["relpath"]).astype(str))}
    train, tests = [], {}
    for relpath, set_name, line_no in read_protocol_file(path):
        if relpath not in index:
            raise FileNotFoundError(f"{path}:{line_no}: image {relpath!r} is not in the dataset "
                                    f"({len(index)} images loaded)")
        (train if set_name == "train" else tests.setdefault(set_name, [])).append(index[relpath])
    return finalize_split(name or os.path.basename(path), meta, train, tests)


def validation_holdout(split: Split, meta: Mapping[str, np.ndarray], per_identity: int
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """(fit, validation) example indices: the last ``per_identity`` training images of each
    identity (in index order) are held out for choosing a fusion weight, the rest fit the
    members. Every identity must keep at least one fitting image."""
    if per_identity < 1:
        raise ValueError(f"--score_validation_per_identity must be >= 1, got {per_identity}")
    labels = split.labels(meta, split.train)
    fit, val = [], []
    for k, name in enumerate(split.classes):
        idx = split.train[labels == k]
        if len(idx) <= per_identity:
            raise ValueError(f"split {split.name!r}: identity {name!r} has {len(idx)} training "
                             f"images, too few to hold out {per_identity} for validation "
                             f"(--score_validation_per_identity) and keep one to train on")
        fit += idx[:-per_identity].tolist()
        val += idx[-per_identity:].tolist()
    return np.asarray(sorted(fit), np.int64), np.asarray(sorted(val), np.int64)


# ----------------------------------------------------------------------------- loading
def _collect(examples: Iterable[dict], image_size: int, fields: Sequence[str],
             with_depth: bool) -> FaceSet:
    rgbs, depths = [], []
    meta: Dict[str, list] = {k: [] for k in ("subject", "relpath", *fields)}
    for ex in examples:
        rgbs.append(resize_rgb(np.asarray(ex["rgb"]), image_size))
        if with_depth:
            depths.append(resize_depth(np.asarray(ex["depth"]), image_size))
        for key in meta:
            v = ex[key]
            meta[key].append(v.decode() if isinstance(v, bytes) else v)
    if not rgbs:
        raise ValueError("load_faces: the dataset yielded no examples")
    depth = np.stack(depths) if with_depth else None
    bits = None if depth is None else (16 if depth.dtype == np.uint16 else 8)
    return FaceSet(np.stack(rgbs), depth, {k: np.asarray(v) for k, v in meta.items()}, bits)


def _synthetic_examples(identities: int, images_per_identity: int, image_size: int, seed: int,
                        domain: str):
    from data_pipelines import synthetic_faces as sf

    config = sf.FaceConfig(image_size=image_size, domain=domain, seed=seed)
    for k in range(identities):
        identity = RECOGNITION_IDENTITY_OFFSET + k
        for sample in range(images_per_identity):
            ex = sf.generate_face(identity, sample, config)
            yield {"rgb": ex["rgb"], "depth": ex["depth"], "subject": f"id{identity}",
                   "relpath": f"synthetic/{identity}/{sample:04d}", "sample": sample}


def load_faces(protocol: str, image_size: int, data_dir: Optional[str] = None,
               manual_dir: Optional[str] = None, fold: Optional[int] = None, seed: int = 0,
               synthetic_identities: int = 50, synthetic_images_per_identity: int = 40,
               synthetic_domain: str = "target") -> FaceSet:
    """The examples a protocol reads (IIIT-D: only fold ``fold``'s two splits)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"--protocol={protocol!r} is not one of {PROTOCOLS}")
    if protocol == "synthetic_faces":
        return _collect(_synthetic_examples(synthetic_identities, synthetic_images_per_identity,
                                            image_size, seed, synthetic_domain),
                        image_size, ("sample",), with_depth=True)
    from data_pipelines import sources

    name = TFDS_NAMES[protocol]
    if protocol == "iiitd_rgbd":
        if fold not in IIITD_FOLDS:
            raise ValueError(f"IIIT-D: --fold must be one of {IIITD_FOLDS}, got {fold}")
        splits, fields = [f"fold{fold}_train", f"fold{fold}_test"], ("fold", "role")
    elif protocol == "eurecom_kinectfacedb":
        splits, fields = ["train"], ("session", "condition")
    else:
        splits, fields = ["train"], ("image_number",)

    def examples():
        for split in splits:
            yield from sources._tfds_examples(name, split, data_dir, manual_dir)

    return _collect(examples(), image_size, fields,
                    with_depth=protocol not in RGB_ONLY_PROTOCOLS)


def build_splits(protocol: str, faces: FaceSet, fold: Optional[int] = None, seed: int = 0,
                 train_per_identity: Optional[int] = None,
                 protocol_file: Optional[str] = None) -> List[Split]:
    """The protocol's split(s) over ``faces`` (``protocol_file`` overrides the builder)."""
    if protocol_file:
        return [protocol_file_split(faces.meta, protocol_file)]
    if protocol == "iiitd_rgbd":
        return [iiitd_split(faces.meta, fold)]
    if protocol == "eurecom_kinectfacedb":
        return [eurecom_split(faces.meta, seed)]
    if protocol == "lfw_faces":
        return [lfw_split(faces.meta, seed)]
    if protocol == "synthetic_faces":
        per_id = int(np.max(faces.meta["sample"])) + 1
        return [synthetic_split(faces.meta, train_per_identity or per_id // 2)]
    raise ValueError(f"--protocol={protocol!r} is not one of {PROTOCOLS}")


# ----------------------------------------------------------------------------- TS-GAN student
def student_indices(protocol: str, faces: FaceSet, fold: Optional[int] = None,
                    seed: int = 0) -> np.ndarray:
    """Indices of ``faces`` that TS-GAN's student may train on: every loaded image outside all
    test sets of ``build_splits(protocol, ...)`` (paper lines 595-606: "we use the training
    subsets"; LFW: "11,953 images for training the generator, and keep the rest ... for
    recognition", lines 606-607, test = 20 images of each of the 62 identities, lines 617-619).

    IIIT-D fold k (``faces`` holds fold k only): fold k's training images; EURECOM: the 468
    training captures of the 50/50 split; LFW: every image but the 62 x 20 test images,
    including the people with 20 images or fewer, who are in no recognition set. ``seed`` must
    be the recognition run's ``--seed`` (EURECOM's and LFW's draws depend on it).
    """
    if protocol not in STUDENT_PROTOCOLS:
        raise ValueError(f"--target_protocol=paper needs a target dataset with a recognition "
                         f"protocol ({', '.join(STUDENT_PROTOCOLS)}), got {protocol!r}")
    split = build_splits(protocol, faces, fold=fold, seed=seed)[0]
    held_out = np.concatenate([np.asarray(v, np.int64) for v in split.tests.values()])
    return np.setdiff1d(np.arange(len(faces), dtype=np.int64), held_out)


def subset(faces: FaceSet, indices: np.ndarray) -> FaceSet:
    """The examples ``indices`` of ``faces`` (images and metadata)."""
    indices = np.asarray(indices, np.int64)
    return FaceSet(faces.rgb[indices], None if faces.depth is None else faces.depth[indices],
                   {k: np.asarray(v)[indices] for k, v in faces.meta.items()}, faces.depth_bits)


def load_student_faces(protocol: str, image_size: int, data_dir: Optional[str] = None,
                       manual_dir: Optional[str] = None, fold: Optional[int] = None,
                       seed: int = 0) -> FaceSet:
    """``load_faces`` restricted to ``student_indices`` (what ``train_tsgan
    --target_protocol=paper`` feeds the student; IIIT-D needs ``fold``, the flag
    ``--target_fold``)."""
    if protocol not in STUDENT_PROTOCOLS:
        raise ValueError(f"--target_protocol=paper needs a target dataset with a recognition "
                         f"protocol ({', '.join(STUDENT_PROTOCOLS)}), got {protocol!r}")
    if protocol == "iiitd_rgbd" and fold not in IIITD_FOLDS:
        raise ValueError(f"--target_fold must be one of {list(IIITD_FOLDS)} for "
                         f"--target_dataset=iiitd_rgbd (the recognition fold whose training "
                         f"images the student sees), got {fold}")
    faces = load_faces(protocol, image_size, data_dir=data_dir, manual_dir=manual_dir,
                       fold=fold, seed=seed)
    return subset(faces, student_indices(protocol, faces, fold=fold, seed=seed))
