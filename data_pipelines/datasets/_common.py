"""Shared machinery of the face RGB-D TFDS builders (CurtinFaces, IIIT-D, EURECOM, LFW, TS-GAN).

Every builder scans ``dl_manager.manual_dir`` into ``Record``s (one per example: the RGB file,
the depth file or None, the subject and dataset-specific metadata), then ``FaceBuilder`` turns
them into examples with one feature layout:

- ``rgb``: uint8 (H, W, 3) image, RGB order.
- ``depth`` (paired datasets only): (H, W, 1) PNG-encoded image, uint16 millimetres or uint8
  (8-bit depth images) as the config's ``depth_bits`` says; 0 = hole. The trailing axis of 1 is
  TFDS's single-channel image convention; ``np.squeeze`` gives the (H, W) map that
  ``data_pipelines.image_io.read_depth`` returns.
- ``subject`` (string), ``label`` (int64: index of ``subject`` in the natural-sorted list of all
  subjects found under manual_dir, over every split; the list is ``info.metadata['subjects']``),
  ``relpath`` (RGB file path relative to manual_dir, '/'-separated; also the example key).
- dataset-specific metadata features added by each builder.

RGB and depth are paired by a key built from their relative path (split, subject, session and
the file stem with the modality token removed), never by listing order. A file without a
partner is an error naming it, or with ``skip_unpaired=True`` a logged warning.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from typing import Any, Callable, Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from data_pipelines import image_io

Key = Tuple[Hashable, ...]

# Name of the one split of datasets without an official split (CurtinFaces, EURECOM, LFW).
# TFDS reserves 'all' (the union of all splits), so 'train' as in TFDS's own ``lfw``.
SINGLE_SPLIT = "train"

# Modality tokens stripped from a file stem before pairing (``rgb_0001_s1_Smile`` and
# ``depth_0001_s1_Smile`` pair on ``0001_s1_smile``).
_MODALITY_TOKENS = ("rgb", "color", "colour", "depth")
_MODALITY_RE = re.compile(r"^(?:%s)[_\-. ]+|[_\-. ]+(?:%s)$" % ("|".join(_MODALITY_TOKENS),
                                                                 "|".join(_MODALITY_TOKENS)),
                          re.IGNORECASE)


def natural_key(text: str) -> Tuple:
    """Sort key that orders digit runs numerically: '2' < '10', '0002' < '0010'."""
    return tuple((0, int(tok), tok) if tok.isdigit() else (1, 0, tok.lower())
                 for tok in re.findall(r"\d+|\D+", str(text)))


def pairing_stem(filename: str) -> str:
    """File stem without extension and modality token, lower-cased (the pairing key's tail)."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    return _MODALITY_RE.sub("", stem).lower()


def relpath(path, root) -> str:
    """``path`` relative to ``root`` with '/' separators."""
    return os.path.relpath(os.fspath(path), os.fspath(root)).replace(os.sep, "/")


def split_name(name: str) -> str:
    """A directory name as a TFDS split name (letters, digits and '_')."""
    out = re.sub(r"\W+", "_", str(name)).strip("_")
    if not out:
        raise ValueError(f"cannot make a split name from directory name {name!r}")
    return out


def list_dirs(parent) -> List[epath.Path]:
    """Sub-directories of ``parent`` in natural order (hidden ones skipped)."""
    parent = epath.Path(parent)
    if not parent.is_dir():
        return []
    return sorted((p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))


def list_images(parent) -> List[epath.Path]:
    """Image files directly in ``parent`` (case-insensitive extensions), natural order."""
    parent = epath.Path(parent)
    if not parent.is_dir():
        return []
    return sorted((p for p in parent.iterdir() if p.is_file() and not p.name.startswith(".")
                   and image_io.is_image_file(p.name)),
                  key=lambda p: natural_key(p.name))


def child_dir(parent, names: Sequence[str]) -> Optional[epath.Path]:
    """The sub-directory of ``parent`` whose name matches one of ``names`` case-insensitively.

    Raises when two different directories match (e.g. both 'RGB' and 'rgb'), since the
    layout would then be ambiguous.
    """
    wanted = {n.lower() for n in names}
    hits = [p for p in list_dirs(parent) if p.name.lower() in wanted]
    if len(hits) > 1:
        raise ValueError(f"ambiguous layout: {', '.join(os.fspath(p) for p in hits)} all match "
                         f"{'/'.join(names)}; keep only one")
    return hits[0] if hits else None


def find_root(manual_dir, is_root: Callable[[epath.Path], bool], max_depth: int = 2
              ) -> Optional[epath.Path]:
    """``manual_dir`` or its first descendant (up to ``max_depth`` levels) where ``is_root`` holds.

    Lets a user point manual_dir at the extracted archive or at the folder that holds it
    (e.g. ``manual/EURECOM_Kinect_Face_Dataset/0001/...``).
    """
    level = [epath.Path(manual_dir)]
    for _ in range(max_depth + 1):
        for candidate in level:
            if is_root(candidate):
                return candidate
        level = [c for p in level for c in list_dirs(p)]
    return None


def resolve_manual_dir(dl_manager, dataset: str, layout: str) -> epath.Path:
    """``dl_manager.manual_dir``, or a FileNotFoundError naming it and the expected layout."""
    given = getattr(dl_manager, "_manual_dir", None)
    try:
        return epath.Path(dl_manager.manual_dir)
    except AssertionError as e:
        where = f"manual_dir {given}" if given else "no manual_dir was given"
        raise FileNotFoundError(
            f"{dataset}: {where} does not exist or is empty. Expected layout:\n{layout}\n"
            f"(pass tfds.download.DownloadConfig(manual_dir=...) to download_and_prepare)"
        ) from e


def nothing_found(dataset: str, where, expected: str) -> FileNotFoundError:
    """The error for a layout level that holds nothing usable."""
    return FileNotFoundError(f"{dataset}: expected {expected}; found nothing under {where}")


@dataclasses.dataclass(frozen=True)
class Record:
    """One example before decoding."""

    relpath: str                      # RGB path relative to manual_dir (the example key)
    subject: str
    rgb_path: epath.Path
    depth_path: Optional[epath.Path] = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def index_files(files: Iterable[epath.Path], key_fn: Callable[[epath.Path], Key], dataset: str
                ) -> Dict[Key, epath.Path]:
    """``{key_fn(f): f}``; two files with one key (e.g. 'a.png' and 'a.jpg') is an error."""
    out: Dict[Key, epath.Path] = {}
    for f in files:
        key = key_fn(f)
        if key in out:
            raise ValueError(f"{dataset}: {out[key]} and {f} map to the same example key {key}; "
                             f"remove one of them")
        out[key] = f
    return out


def pair_files(rgb: Mapping[Key, epath.Path], depth: Mapping[Key, epath.Path], *, dataset: str,
               skip_unpaired: bool) -> List[Tuple[Key, epath.Path, epath.Path]]:
    """Joins two ``{key: path}`` indexes on their keys, in natural key order.

    A key present on one side only raises ``ValueError`` naming the file without a partner,
    unless ``skip_unpaired`` (then it is logged and skipped).
    """
    problems = [("RGB", rgb[k], "depth") for k in rgb if k not in depth]
    problems += [("depth", depth[k], "RGB") for k in depth if k not in rgb]
    for kind, path, other in sorted(problems, key=lambda t: natural_key(os.fspath(t[1]))):
        message = (f"{dataset}: {kind} file has no {other} partner (no {other} file with the "
                   f"same subject/session/stem): {path}")
        if not skip_unpaired:
            raise ValueError(message + "; set skip_unpaired=True in the BuilderConfig to skip "
                             "such files")
        logging.warning("%s; skipped (skip_unpaired=True)", message)
    keys = sorted((k for k in rgb if k in depth),
                  key=lambda k: tuple(natural_key(str(x)) for x in k))
    return [(k, rgb[k], depth[k]) for k in keys]


@dataclasses.dataclass(eq=False)
class FaceConfig(tfds.core.BuilderConfig):
    """Options shared by the face builders.

    Attributes:
      depth_bits: 16 (uint16 millimetres), 8 (8-bit depth images) or None (RGB-only dataset).
        A depth file of the other bit depth is an error naming it.
      skip_unpaired: log and skip an RGB or depth file without partner instead of raising.
    """

    depth_bits: Optional[int] = 16
    skip_unpaired: bool = False

    def __post_init__(self):
        if self.depth_bits not in (8, 16, None):
            raise ValueError(f"FaceConfig {self.name!r}: depth_bits must be 8, 16 or None, "
                             f"got {self.depth_bits!r}")


_DEPTH_DTYPE = {8: np.uint8, 16: np.uint16}


class ModuleCodePath:
    """Mixin for builders that live in a package: ``code_path`` is the builder's module file.

    TFDS's own lookup goes through ``importlib_resources``, which etils only imports when
    installed (it is not a dependency here), so it fails for builders inside a package; this is
    the fallback TFDS itself uses when that lookup is unavailable. List it before the TFDS base.
    """

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> Optional[epath.Path]:
        try:
            return epath.Path(inspect.getfile(cls))
        except (TypeError, OSError):
            return None


class FaceBuilder(ModuleCodePath, tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the face builders: subclasses define ``LAYOUT``, ``_scan`` and extra features."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: reads the on-disk layout from manual_dir."}
    LAYOUT = ""           # expected layout, shown in errors and in MANUAL_DOWNLOAD_INSTRUCTIONS
    HOMEPAGE = ""
    CITATION = ""

    # -- subclass hooks ------------------------------------------------------------------------
    def _extra_features(self) -> Dict[str, tfds.features.FeatureConnector]:
        return {}

    def _scan(self, root: epath.Path) -> Dict[str, List[Record]]:
        """``{split name: [Record, ...]}`` from manual_dir."""
        raise NotImplementedError

    def _load(self, record: Record) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(uint8 RGB (H, W, 3), depth (H, W) or None); default: decode the two files."""
        rgb = image_io.read_rgb(record.rgb_path)
        if self.depth_bits is None:
            return rgb, None
        return rgb, image_io.read_depth(record.depth_path, expected_bits=self.depth_bits)

    def _extra_metadata(self, root: epath.Path) -> Dict[str, Any]:
        return {}

    # -- TFDS ----------------------------------------------------------------------------------
    @property
    def depth_bits(self) -> Optional[int]:
        return self.builder_config.depth_bits

    def _info(self) -> tfds.core.DatasetInfo:
        features: Dict[str, Any] = {
            "rgb": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8,
                                       doc="uint8 RGB (H, W, 3)"),
        }
        if self.depth_bits is not None:
            unit = "millimetres" if self.depth_bits == 16 else "8-bit depth image values"
            features["depth"] = tfds.features.Image(
                shape=(None, None, 1), dtype=_DEPTH_DTYPE[self.depth_bits], encoding_format="png",
                doc=f"{self.depth_bits}-bit depth (H, W, 1), {unit}, 0 = hole")
        features["subject"] = tfds.features.Text(doc="subject id as on disk")
        features["label"] = tfds.features.Scalar(
            np.int64, doc="index of subject in metadata['subjects'] (natural sort, all splits)")
        features["relpath"] = tfds.features.Text(doc="RGB file relative to manual_dir")
        features.update(self._extra_features())
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            metadata=tfds.core.MetadataDict(),
            homepage=self.HOMEPAGE or None,
            citation=self.CITATION or None,
        )

    def _split_generators(self, dl_manager):
        manual_dir = resolve_manual_dir(dl_manager, self.name, self.LAYOUT)
        splits = self._scan(manual_dir)
        for name, records in splits.items():
            if not records:
                raise FileNotFoundError(f"{self.name}: split {name!r} has no examples under "
                                        f"{manual_dir}; expected layout:\n{self.LAYOUT}")
        if not splits:
            raise nothing_found(self.name, manual_dir, self.LAYOUT)
        subjects = sorted({r.subject for rs in splits.values() for r in rs}, key=natural_key)
        labels = {s: i for i, s in enumerate(subjects)}
        self.info.metadata["subjects"] = subjects
        self.info.metadata["depth_bits"] = self.depth_bits
        self.info.metadata.update(self._extra_metadata(manual_dir))
        return {name: self._generate_examples(records, labels) for name, records in splits.items()}

    def _generate_examples(self, records: List[Record], labels: Mapping[str, int]):
        for record in records:
            rgb, depth = self._load(record)
            example = {"rgb": rgb, "subject": record.subject, "label": labels[record.subject],
                       "relpath": record.relpath}
            if self.depth_bits is not None:
                image_io.check_same_size(rgb, depth, record.rgb_path,
                                         record.depth_path or record.rgb_path)
                example["depth"] = depth[:, :, None]
            example.update(record.extra)
            yield record.relpath, example


def manual_instructions(layout: str, extra: str = "") -> str:
    """MANUAL_DOWNLOAD_INSTRUCTIONS text from a layout description."""
    text = ("Obtain the dataset from its owners (a licence agreement is required) and extract it "
            "into manual_dir (tfds.download.DownloadConfig(manual_dir=...)) so that it looks "
            "like:\n" + layout)
    return text + ("\n" + extra if extra else "")
