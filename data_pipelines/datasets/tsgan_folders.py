"""The folder layout of the original TS-GAN repository (Uppal et al., ICCV 2021) as a TFDS builder.

``train_tsgan.py`` / ``data.py`` of hardik-uppal/teacher-student-gan (its data layout) read

- the **source** (paired) set from ``<datasets_dir>/RGB/{train,test}/<subject>/*`` and
  ``<datasets_dir>/depth/{train,test}/<subject>/*`` (jpg/bmp/png), e.g. ``CurtinFaces_crop``;
- the **target** (RGB-only) set from ``<datasets_dir_target>/<anything>/<label>/*``
  (``imbdface/IMDB_new/<label>/*``).

Configs:

- ``source`` (default): paired RGB-D, depth as **uint8**. TS-GAN decodes every depth file as an
  8-bit image (``tf.image.decode_png(..., channels=3)``), so its cropped datasets are 8-bit; a
  16-bit file is an error naming it. ``source_16bit``: the same layout with uint16 (mm) depth.
- ``target``: RGB only.

Splits are the folder names (``RGB/<split>`` for source, ``<anything>`` for target), turned into
TFDS split names (non-word characters -> '_'), e.g. ``train``, ``test``, ``IMDB_new``.

Differences from the original listing, on purpose: files are sorted, and RGB and depth are
paired by ``<split>/<subject>/<stem>`` (stem compared case-insensitively without extension, so
``a.jpg`` pairs with ``a.png``) instead of relying on two ``os.listdir`` calls returning the
same order. The modality folder names are matched case-insensitively (``RGB``/``rgb``,
``depth``/``DEPTH``/``Depth``: the authors' other scripts use ``DEPTH``).
"""

from __future__ import annotations

from typing import Dict, List

from etils import epath

from data_pipelines import registry
from data_pipelines.datasets import _common
from data_pipelines.datasets._common import FaceConfig, Record

SOURCE_LAYOUT = """\
  <manual_dir>/RGB/<split>/<subject>/*.{png,jpg,bmp}     (split: train, test, ...)
  <manual_dir>/depth/<split>/<subject>/*.{png,jpg,bmp}   (same split/subject/stem as the RGB)"""
TARGET_LAYOUT = """\
  <manual_dir>/<anything>/<label>/*.{png,jpg,bmp}        (RGB only; <anything> becomes the split)"""

_RGB_NAMES = ("RGB",)
_DEPTH_NAMES = ("depth",)


class TsganFolders(_common.FaceBuilder):
    """TS-GAN's own folder layout: paired source RGB-D (``source``) or RGB target (``target``)."""

    name = registry.TSGAN_FOLDERS
    LAYOUT = SOURCE_LAYOUT + "\n  or, for config 'target':\n" + TARGET_LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_instructions(
        LAYOUT, "These are the folders TS-GAN's train_tsgan.py reads (--datasets_dir, "
                "--datasets_dir_target).")
    HOMEPAGE = "https://github.com/hardik-uppal/teacher-student-gan"
    CITATION = """@inproceedings{uppal2021tsgan,
  title={Teacher-Student Adversarial Depth Hallucination to Improve Face Recognition},
  author={Uppal, Hardik and Sepas-Moghaddam, Alireza and Greenspan, Michael and Etemad, Ali},
  booktitle={IEEE/CVF International Conference on Computer Vision (ICCV)}, year={2021}}"""
    BUILDER_CONFIGS = [
        FaceConfig(name="source", depth_bits=8,
                   description="Paired RGB/<split>/<subject> + depth/<split>/<subject>, "
                               "uint8 depth (TS-GAN's 8-bit cropped datasets)."),
        FaceConfig(name="source_16bit", depth_bits=16,
                   description="Same layout with uint16 depth (millimetres)."),
        FaceConfig(name="target", depth_bits=None,
                   description="RGB-only <root>/<anything>/<label>/* (TS-GAN target domain)."),
    ]

    def _scan(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        if self.depth_bits is None:
            return self._scan_target(manual_dir)
        return self._scan_source(manual_dir)

    def _scan_target(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        splits: Dict[str, List[Record]] = {}
        origin: Dict[str, epath.Path] = {}
        for group in _common.list_dirs(manual_dir):
            split = _common.split_name(group.name)
            if split in origin:
                raise ValueError(f"{self.name}: folders {origin[split]} and {group} both give "
                                 f"split name {split!r}")
            origin[split] = group
            records = [Record(relpath=_common.relpath(f, manual_dir), subject=label.name,
                              rgb_path=f)
                       for label in _common.list_dirs(group) for f in _common.list_images(label)]
            if not records:
                raise _common.nothing_found(self.name, group,
                                            f"{group}/<label>/*.{{png,jpg,bmp}}")
            splits[split] = records
        if not splits:
            raise _common.nothing_found(self.name, manual_dir,
                                        "<manual_dir>/<anything>/<label>/*.{png,jpg,bmp}")
        return splits

    def _scan_source(self, manual_dir: epath.Path) -> Dict[str, List[Record]]:
        rgb_root = _common.child_dir(manual_dir, _RGB_NAMES)
        depth_root = _common.child_dir(manual_dir, _DEPTH_NAMES)
        missing = [f"{manual_dir}/{n}/<split>/<subject>/*" for n, d in
                   (("RGB", rgb_root), ("depth", depth_root)) if d is None]
        if missing:
            raise FileNotFoundError(f"{self.name}: expected {' and '.join(missing)}; found no "
                                    f"such folder in {manual_dir}. Expected layout:\n"
                                    f"{SOURCE_LAYOUT}")

        def index(modality_root: epath.Path):
            files = {}
            for split_dir in _common.list_dirs(modality_root):
                for subject_dir in _common.list_dirs(split_dir):
                    def key(f, split=split_dir.name, subject=subject_dir.name):
                        return (split, subject, _common.pairing_stem(f.name))

                    files.update(_common.index_files(_common.list_images(subject_dir), key,
                                                     self.name))
            return files

        rgb_index, depth_index = index(rgb_root), index(depth_root)
        if not rgb_index:
            raise _common.nothing_found(self.name, rgb_root,
                                        f"{rgb_root}/<split>/<subject>/*.{{png,jpg,bmp}}")
        pairs = _common.pair_files(rgb_index, depth_index, dataset=self.name,
                                   skip_unpaired=self.builder_config.skip_unpaired)
        splits: Dict[str, List[Record]] = {}
        origin: Dict[str, str] = {}
        for (split_dir_name, subject, _), rgb, depth in pairs:
            split = _common.split_name(split_dir_name)
            if origin.setdefault(split, split_dir_name) != split_dir_name:
                raise ValueError(f"{self.name}: folders {origin[split]!r} and {split_dir_name!r} "
                                 f"under {rgb_root} both give split name {split!r}")
            splits.setdefault(split, []).append(Record(
                relpath=_common.relpath(rgb, manual_dir), subject=subject, rgb_path=rgb,
                depth_path=depth))
        if not splits:
            raise _common.nothing_found(self.name, manual_dir, SOURCE_LAYOUT.strip())
        return splits
