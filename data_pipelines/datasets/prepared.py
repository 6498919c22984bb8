"""Prepared TFDS copies that follow their sources (issue 19).

:func:`prepare` runs a builder's ``download_and_prepare`` from a manual folder into a TFDS data
dir once, and stores beside the prepared copy (``<builder.data_dir>/depthlab_sources.json``,
written atomically) a fingerprint of the source files: their relative names, sizes and
modification times, sorted, and a SHA-256 of that list. A later call compares the sources with
it: unchanged -> the copy is reused as it is; changed (a file added, removed or modified, or
another source folder) -> the copy is deleted and prepared again, with a printed line naming
what changed, or, with ``on_change='error'`` (or ``DEPTHLAB_TFDS_ON_CHANGE=error``), a
:class:`SourceChangedError` that says what changed and how to refresh. A copy without a
fingerprint (prepared by older code or by hand) counts as changed.

One process at a time checks and prepares a copy (an ``flock`` on
``<data_dir>/.<builder>.lock``), so the workers of a run, or a trainer and an evaluation started
together, do not prepare one copy twice.

The fingerprint reads no file contents (a rewrite that keeps size and mtime is not seen) and
skips hidden names (``.git``, ``.DS_Store``: the builders skip them too).

Where copies go when the caller names no TFDS data dir (:func:`default_data_dir`):
``$DEPTHLAB_TFDS_DIR`` (default ``$XDG_CACHE_HOME/depthlab/tfds``, i.e.
``~/.cache/depthlab/tfds``), one sub-folder per source path
(``<source folder name>-<12 hex digits of its absolute path's SHA-1>``), so two source folders
never share, and never overwrite, one copy.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
from typing import Iterable, Optional, Sequence, Tuple

FINGERPRINT_FILE = "depthlab_sources.json"
ENV_DIR = "DEPTHLAB_TFDS_DIR"
ENV_ON_CHANGE = "DEPTHLAB_TFDS_ON_CHANGE"
ON_CHANGE = ("reprepare", "error")
_SHOWN = 5        # names listed per kind of change


class SourceChangedError(ValueError):
    """The sources of a prepared copy changed and ``on_change='error'`` was asked for."""


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """The source folder (absolute) and its files as sorted ``(relative name, bytes, mtime_ns)``."""

    root: str
    files: Tuple[Tuple[str, int, int], ...]

    @property
    def digest(self) -> str:
        text = json.dumps([self.root, [list(f) for f in self.files]])
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> dict:
        return {"root": self.root, "files": [list(f) for f in self.files],
                "sha256": self.digest}

    @classmethod
    def from_json(cls, data: dict) -> "Fingerprint":
        return cls(str(data["root"]), tuple((str(n), int(s), int(m)) for n, s, m in data["files"]))


def _relname(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def fingerprint(root, files: Optional[Sequence] = None, exclude: Iterable = ()) -> Fingerprint:
    """The fingerprint of ``files`` (paths; None: every non-hidden file under ``root``, walked
    recursively, skipping the folders in ``exclude``) with names relative to ``root``."""
    root = os.path.abspath(os.fspath(root))
    if files is None:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"source folder {root} does not exist")
        skip = {os.path.abspath(os.fspath(e)) for e in exclude}
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                                 and os.path.join(dirpath, d) not in skip)
            files += [os.path.join(dirpath, f) for f in filenames if not f.startswith(".")]
    rows = []
    for path in files:
        path = os.path.abspath(os.fspath(path))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"source file {path} does not exist")
        st = os.stat(path)
        rows.append((_relname(path, root), int(st.st_size), int(st.st_mtime_ns)))
    return Fingerprint(root, tuple(sorted(rows)))


def describe_changes(old: Fingerprint, new: Fingerprint, shown: int = _SHOWN) -> str:
    """What differs between two fingerprints, e.g. ``'1 file added (a/b.png); 2 files modified
    (size or mtime: c.png, d.png)'``; '' when they are equal."""
    parts = []
    if old.root != new.root:
        parts.append(f"source folder {old.root} -> {new.root}")
    before = {n: (s, m) for n, s, m in old.files}
    after = {n: (s, m) for n, s, m in new.files}

    def names(found, what):
        if found:
            listed = ", ".join(found[:shown]) + (", ..." if len(found) > shown else "")
            parts.append(f"{len(found)} file{'s' * (len(found) != 1)} {what}{listed})")

    names(sorted(set(after) - set(before)), "added (")
    names(sorted(set(before) - set(after)), "removed (")
    names(sorted(n for n in set(before) & set(after) if before[n] != after[n]),
          "modified (size or mtime: ")
    return "; ".join(parts)


def default_data_dir(source) -> str:
    """The TFDS data dir of ``source``'s prepared copies when none is given (module docstring)."""
    base = os.environ.get(ENV_DIR) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "depthlab", "tfds")
    source = os.path.abspath(os.fspath(source))
    tag = hashlib.sha1(source.encode()).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in os.path.basename(source))
    return os.path.join(base, f"{name or 'root'}-{tag}")


def _read_stamp(path: str) -> Optional[Fingerprint]:
    try:
        with open(path) as f:
            return Fingerprint.from_json(json.load(f))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_stamp(path: str, fp: Fingerprint) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(fp.to_json(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _on_change(on_change: Optional[str]) -> str:
    value = on_change or os.environ.get(ENV_ON_CHANGE) or "reprepare"
    if value not in ON_CHANGE:
        raise ValueError(f"on_change (or ${ENV_ON_CHANGE}) must be one of {ON_CHANGE}, "
                         f"got {value!r}")
    return value


def prepare(name: str, manual_dir, data_dir=None, *, files: Optional[Sequence] = None,
            on_change: Optional[str] = None):
    """The TFDS builder ``name`` (``'builder'`` or ``'builder/config'``, already registered)
    prepared from ``manual_dir`` into ``data_dir`` (None: :func:`default_data_dir` of
    ``manual_dir``), following the sources (module docstring).

    ``files``: the source files the builder reads (default: every non-hidden file under
    ``manual_dir``); ``on_change``: 'reprepare' (default) or 'error' (default from
    ``$DEPTHLAB_TFDS_ON_CHANGE``). Returns the prepared builder.
    """
    mode = _on_change(on_change)
    manual_dir = os.path.abspath(os.fspath(manual_dir))
    data_dir = os.path.abspath(os.fspath(data_dir or default_data_dir(manual_dir)))
    os.makedirs(data_dir, exist_ok=True)
    # one process at a time checks and prepares a copy (workers of one run, train beside eval)
    lock = os.path.join(data_dir, "." + name.replace("/", "--") + ".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            return _prepare_locked(name, manual_dir, data_dir, files, mode)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare_locked(name, manual_dir, data_dir, files, mode):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if files is None and not os.path.isdir(manual_dir):
        how = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or ""
        raise FileNotFoundError(f"{name}: the source folder {manual_dir} does not exist"
                                + (f". {how}" if how else ""))
    # the prepared copies themselves are not sources (a manual_dir that holds its data_dir)
    now = fingerprint(manual_dir, files,
                      exclude=[os.path.join(data_dir, builder.name),
                               os.path.join(data_dir, "downloads")])
    stamp = os.path.join(os.fspath(builder.data_dir), FINGERPRINT_FILE)
    if builder.is_prepared():
        old = _read_stamp(stamp)
        if old is not None and old.digest == now.digest:
            return builder
        what = (describe_changes(old, now) if old is not None
                else f"no {FINGERPRINT_FILE} (prepared by older code or another tool)")
        if mode == "error":
            raise SourceChangedError(
                f"{name}: the sources in {manual_dir} changed since the TFDS copy in "
                f"{builder.data_dir} was prepared: {what}. To refresh, delete {builder.data_dir} "
                f"(or run with {ENV_ON_CHANGE}=reprepare) and it is prepared again")
        print(f"{name}: the sources in {manual_dir} changed since the TFDS copy in "
              f"{builder.data_dir} was prepared ({what}); preparing it again", flush=True)
        shutil.rmtree(os.fspath(builder.data_dir))
        builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    _write_stamp(stamp, now)      # the sources as they were before preparing
    return builder

