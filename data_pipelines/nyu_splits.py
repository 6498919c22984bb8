"""Train / test protocols of the NYU Depth v2 labeled set (1449 frames), one owner for every
reader of the labeled .mat (``data_pipelines.nyu_depth_v2``: direct and TFDS).

- ``first1000``: the first 1000 frames in file order train, the last 449 test (the DKN /
  FDSR depth super-resolution split, also used by Suarez et al.). A file with fewer frames
  (a fixture) keeps the ratio: the first ceil(n * 1000 / 1449) train.
- ``official_scenes``: the dataset's official split by scene, 795 training frames from 249
  scenes and 654 test frames from the other 215 (the two-stage text, lines 522-526: "249
  scenarios in the official data set were used for training and the remaining 215 were
  used for testing"). The frame lists are the NYU toolbox's ``splits.mat`` (a MATLAB v5 file
  with the column vectors ``trainNdxs`` and ``testNdxs``, 1-based indices into the labeled
  .mat), which the user places beside ``nyu_depth_v2_labeled.mat``.

sparse-to-dense's preprocessed h5 folders (``sparse_to_dense_h5``) already follow the
official split: train/ holds frames of the 249 training scenes, val/ the 654 labeled test
frames; they need no protocol.

Indices returned here are 0-based file indices, sorted.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np

PROTOCOLS = ("first1000", "official_scenes")
DEFAULT_PROTOCOL = "first1000"
NUM_LABELED = 1449
FIRST1000_TRAIN = 1000
#: the toolbox's file and its variables (1-based frame indices)
SPLITS_MAT = "splits.mat"
SPLITS_KEYS = {"train": "trainNdxs", "test": "testNdxs"}
#: frames of the official split in the full labeled file (249 / 215 scenes)
OFFICIAL_COUNTS = {"train": 795, "test": 654}
SPLIT_NAMES = ("train", "test", "all")


def _check(split: str, protocol: str) -> None:
    if split not in SPLIT_NAMES:
        raise ValueError(f"NYU Depth v2 split must be one of {sorted(SPLIT_NAMES)}, got {split!r}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"NYU Depth v2 protocol must be one of {PROTOCOLS}, got {protocol!r}")


def first1000(split: str, num_frames: int) -> np.ndarray:
    """``first1000`` indices of ``split`` in a file of ``num_frames`` frames."""
    _check(split, "first1000")
    n_train = (FIRST1000_TRAIN if num_frames >= NUM_LABELED
               else int(np.ceil(num_frames * FIRST1000_TRAIN / NUM_LABELED)))
    bounds = {"train": (0, n_train), "test": (n_train, num_frames), "all": (0, num_frames)}
    return np.arange(*bounds[split], dtype=np.int64)


def splits_path(mat_path) -> str:
    """Where ``splits.mat`` must be: beside the labeled .mat (or in the folder given)."""
    path = os.fspath(mat_path)
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, SPLITS_MAT)


def read_official_splits(path, num_frames: Optional[int] = None) -> Dict[str, np.ndarray]:
    """``{'train', 'test'}`` 0-based sorted indices from the toolbox's ``splits.mat``.

    Checked: the file exists and is a MATLAB v5 file holding ``trainNdxs`` and ``testNdxs``;
    every index is a whole number in 1..``num_frames``; no frame is in both lists; no frame
    repeats; for the full labeled file (1449 frames) the lists hold 795 and 654 frames and
    together every frame. Each failure raises an error naming the file.
    """
    import scipy.io

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"NYU Depth v2 protocol 'official_scenes' needs the NYU toolbox's {SPLITS_MAT} "
            f"(variables trainNdxs / testNdxs: 795 / 654 frames of the 249 / 215 scenes) "
            f"beside nyu_depth_v2_labeled.mat; {path} does not exist. Put it there, or use "
            f"protocol 'first1000'")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"NYU Depth v2: {path} is not a MATLAB v5 .mat file readable by "
                         f"scipy.io.loadmat: {e}") from e
    out = {}
    for split, key in SPLITS_KEYS.items():
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise ValueError(f"NYU Depth v2: {path} has no variable {key!r} (found {found}); "
                             f"expected the toolbox's trainNdxs and testNdxs")
        raw = np.asarray(mat[key], np.float64).ravel()
        if raw.size == 0 or not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise ValueError(f"NYU Depth v2: {path}: {key} must hold whole 1-based frame "
                             f"indices (got {raw.size} values, e.g. {raw[:3].tolist()})")
        idx = raw.astype(np.int64)
        top = num_frames if num_frames is not None else np.inf
        if idx.min() < 1 or idx.max() > top:
            raise ValueError(f"NYU Depth v2: {path}: {key} holds indices {idx.min()}..{idx.max()}"
                             f"; they are 1-based and must lie in 1..{num_frames} (the frames "
                             "of the labeled .mat)")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"NYU Depth v2: {path}: {key} lists a frame twice")
        out[split] = np.sort(idx - 1)
    both = np.intersect1d(out["train"], out["test"])
    if both.size:
        raise ValueError(f"NYU Depth v2: {path}: {both.size} frame(s) are in both trainNdxs and "
                         f"testNdxs (e.g. 1-based {int(both[0]) + 1})")
    if num_frames is not None and num_frames >= NUM_LABELED:
        counts = {s: len(v) for s, v in out.items()}
        if counts != OFFICIAL_COUNTS or sum(counts.values()) != num_frames:
            raise ValueError(f"NYU Depth v2: {path}: {counts['train']} train / {counts['test']} "
                             f"test frames for a {num_frames}-frame file; the official split "
                             f"has {OFFICIAL_COUNTS['train']} / {OFFICIAL_COUNTS['test']}")
    return out


def split_indices(split: str, num_frames: int, protocol: str = DEFAULT_PROTOCOL,
                  mat_path=None) -> np.ndarray:
    """0-based sorted file indices of ``split`` ('train' | 'test' | 'all') under ``protocol``
    for a labeled file of ``num_frames`` frames at ``mat_path`` (needed by 'official_scenes',
    whose ``splits.mat`` lies beside it)."""
    _check(split, protocol)
    if protocol == "first1000":
        return first1000(split, num_frames)
    if split == "all":
        return np.arange(num_frames, dtype=np.int64)
    if mat_path is None:
        raise ValueError("NYU Depth v2 protocol 'official_scenes' needs the labeled .mat's path "
                         f"(its {SPLITS_MAT} lies beside it)")
    return read_official_splits(splits_path(mat_path), num_frames)[split]


def write_splits_fixture(path, train_1based, test_1based) -> str:
    """Writes a ``splits.mat`` in the toolbox's layout (MATLAB v5, double column vectors
    ``trainNdxs`` / ``testNdxs`` of 1-based indices), for tests and demos."""
    import scipy.io

    col = lambda v: np.asarray(v, np.float64).reshape(-1, 1)  # noqa: E731
    scipy.io.savemat(os.fspath(path), {"trainNdxs": col(train_1based),
                                       "testNdxs": col(test_1based)}, format="5")
    return os.fspath(path)


#: the ``--nyu_protocol`` flag's help, shared by the trainers that read the labeled set
PROTOCOL_HELP = (
    "--dataset=nyu_depth_v2 only: its train/test split. 'official_scenes': the NYU toolbox's "
    "splits.mat (trainNdxs / testNdxs: 795 / 654 frames of the 249 / 215 scenes), placed "
    "beside nyu_depth_v2_labeled.mat; 'first1000': the first 1000 frames train, the last 449 "
    "test. Unset: the trainer's default.")


def resolve_protocol(dataset: str, protocol: Optional[str], default: str,
                     data_dir=None) -> Optional[str]:
    """A trainer's ``--nyu_protocol`` for ``dataset``: ``protocol`` or ``default`` for the
    labeled set (``nyu_depth_v2``), None for any other dataset (a protocol given there is an
    error). 'official_scenes' with a ``data_dir`` whose ``splits.mat`` is missing is refused
    here, before any training. Raises ``ValueError`` naming the flag."""
    if dataset != "nyu_depth_v2":
        if protocol is not None:
            raise ValueError(f"--nyu_protocol={protocol} applies to --dataset=nyu_depth_v2 only "
                             f"(got --dataset={dataset})")
        return None
    protocol = protocol or default
    if protocol not in PROTOCOLS:
        raise ValueError(f"--nyu_protocol={protocol!r} is not one of {PROTOCOLS}")
    if protocol == "official_scenes" and data_dir and not os.path.exists(splits_path(data_dir)):
        raise ValueError(f"--nyu_protocol=official_scenes needs the NYU toolbox's {SPLITS_MAT} "
                         f"(trainNdxs / testNdxs) beside nyu_depth_v2_labeled.mat: "
                         f"{splits_path(data_dir)} does not exist (or pass "
                         f"--nyu_protocol=first1000)")
    return protocol
