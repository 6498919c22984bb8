"""Prepared TFDS copies follow their sources (issue 19) and the binaries' Middlebury / NYU readers
go through the TFDS builders, giving the raw readers' arrays (issue 17).

The fingerprint tests change one file at a time in a temporary folder and check the change is
named; the preparation tests count the builder's example generation (0 calls = the copy was
reused) on a copy of the tsgan_folders target fixture (3 RGB files).
"""

import os
import shutil

import numpy as np
import pytest

from data_pipelines import middlebury as mb
from data_pipelines import nyu_depth_v2 as nyu
from data_pipelines import registry, sources
from data_pipelines.datasets import prepared

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
TARGET = os.path.join(FIXTURES, "tsgan_folders", "target")
TARGET_NAME = f"{registry.TSGAN_FOLDERS}/target"


# -- the fingerprint -----------------------------------------------------------------------

def _tree(root):
    os.makedirs(os.path.join(root, "a"), exist_ok=True)
    for rel, data in (("a/1.png", b"xx"), ("a/2.png", b"yyy"), ("b.txt", b"z")):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        os.utime(os.path.join(root, rel), ns=(10**18, 10**18))
    return str(root)


def test_fingerprint_lists_relative_names_sizes_and_mtimes(tmp_path):
    root = _tree(tmp_path / "src")
    os.makedirs(os.path.join(root, ".git"))
    for hidden in (".DS_Store", ".git/HEAD"):
        open(os.path.join(root, hidden), "w").close()
    fp = prepared.fingerprint(root)
    assert fp.root == root
    assert fp.files == (("a/1.png", 2, 10**18), ("a/2.png", 3, 10**18), ("b.txt", 1, 10**18))
    assert prepared.fingerprint(root).digest == fp.digest
    assert prepared.fingerprint(root, exclude=[os.path.join(root, "a")]).files == (
        ("b.txt", 1, 10**18),)
    one = prepared.fingerprint(root, files=[os.path.join(root, "a", "2.png")])
    assert one.files == (("a/2.png", 3, 10**18),)
    assert prepared.Fingerprint.from_json(fp.to_json()) == fp


@pytest.mark.parametrize("change, expected", [
    ("add", "1 file added (a/3.png)"),
    ("remove", "1 file removed (a/1.png)"),
    ("size", "1 file modified (size or mtime: a/2.png)"),
    ("mtime", "1 file modified (size or mtime: b.txt)"),
])
def test_fingerprint_names_an_added_removed_or_modified_file(tmp_path, change, expected):
    root = _tree(tmp_path / "src")
    before = prepared.fingerprint(root)
    if change == "add":
        shutil.copy(os.path.join(root, "a", "1.png"), os.path.join(root, "a", "3.png"))
    elif change == "remove":
        os.remove(os.path.join(root, "a", "1.png"))
    elif change == "size":
        with open(os.path.join(root, "a", "2.png"), "wb") as f:
            f.write(b"yyyy")
        os.utime(os.path.join(root, "a", "2.png"), ns=(10**18, 10**18))   # size alone
    else:
        os.utime(os.path.join(root, "b.txt"), ns=(10**18 + 1, 10**18 + 1))    # mtime alone
    after = prepared.fingerprint(root)
    assert after.digest != before.digest
    assert prepared.describe_changes(before, after) == expected
    assert prepared.describe_changes(after, after) == ""


def test_many_changes_are_counted_and_the_first_names_shown(tmp_path):
    root = _tree(tmp_path / "src")
    before = prepared.fingerprint(root)
    for k in range(7):
        open(os.path.join(root, f"new{k}.png"), "w").close()
    text = prepared.describe_changes(before, prepared.fingerprint(root))
    assert text == "7 files added (new0.png, new1.png, new2.png, new3.png, new4.png, ...)"
    other = prepared.fingerprint(_tree(tmp_path / "other"))
    assert f"source folder {root} -> {other.root}" in prepared.describe_changes(before, other)


def test_default_data_dir_is_one_folder_per_source(tmp_path, monkeypatch):
    monkeypatch.setenv(prepared.ENV_DIR, str(tmp_path / "cache"))
    a, b = prepared.default_data_dir("/data/nyu"), prepared.default_data_dir("/other/nyu")
    assert os.path.dirname(a) == os.path.dirname(b) == str(tmp_path / "cache")
    assert a != b and os.path.basename(a).startswith("nyu-")
    assert prepared.default_data_dir("/data/nyu/") == a


# -- preparing: reuse, re-prepare, error ----------------------------------------------------

@pytest.fixture
def target(tmp_path, monkeypatch):
    """A copy of the tsgan_folders target fixture, its TFDS data dir and a count of the
    builder's example generation."""
    from data_pipelines.datasets import _common

    src = str(tmp_path / "target")
    shutil.copytree(TARGET, src)
    calls = []
    original = _common.FaceBuilder._generate_examples

    def counted(self, records, labels):
        calls.append(len(records))
        return original(self, records, labels)

    monkeypatch.setattr(_common.FaceBuilder, "_generate_examples", counted)
    return src, str(tmp_path / "tfds"), calls


def _load(src, data_dir):
    return sources.load_rgb(TARGET_NAME, "IMDB_new", 8, data_dir=data_dir, manual_dir=src)


def test_unchanged_sources_reuse_the_copy(target):
    src, data_dir, calls = target
    first = _load(src, data_dir)
    assert len(first) == 3 and calls == [3]
    stamp = os.path.join(prepared.prepare(TARGET_NAME, src, data_dir).data_dir,
                         prepared.FINGERPRINT_FILE)
    mtime = os.stat(stamp).st_mtime_ns
    np.testing.assert_array_equal(_load(src, data_dir), first)
    assert calls == [3] and os.stat(stamp).st_mtime_ns == mtime


def test_added_removed_and_modified_files_re_prepare(target, capsys):
    src, data_dir, calls = target
    assert len(_load(src, data_dir)) == 3
    new = os.path.join(src, "IMDB_new", "12", "2.png")
    shutil.copy(os.path.join(src, "IMDB_new", "7", "1.png"), new)
    assert len(_load(src, data_dir)) == 4 and calls == [3, 4]
    assert "1 file added (IMDB_new/12/2.png)" in capsys.readouterr().out
    os.remove(new)
    assert len(_load(src, data_dir)) == 3 and calls == [3, 4, 3]
    assert "1 file removed (IMDB_new/12/2.png)" in capsys.readouterr().out
    path = os.path.join(src, "IMDB_new", "7", "2.png")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _load(src, data_dir)
    assert calls == [3, 4, 3, 3]
    assert "modified (size or mtime: IMDB_new/7/2.png)" in capsys.readouterr().out


def test_a_corrupted_png_is_named_on_the_next_run_not_read_from_the_stale_copy(target):
    src, data_dir, _ = target
    _load(src, data_dir)
    bad = os.path.join(src, "IMDB_new", "7", "1.png")
    with open(bad, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(ValueError, match=r"cannot decode image .*7/1\.png"):
        _load(src, data_dir)
    with pytest.raises(ValueError, match=r"cannot decode image .*7/1\.png"):   # again, no copy
        _load(src, data_dir)


def test_on_change_error_says_what_changed_and_how_to_refresh(target, monkeypatch):
    src, data_dir, calls = target
    _load(src, data_dir)
    os.remove(os.path.join(src, "IMDB_new", "7", "2.png"))
    with pytest.raises(prepared.SourceChangedError,
                       match=r"1 file removed \(IMDB_new/7/2.png\).*To refresh, delete "):
        prepared.prepare(TARGET_NAME, src, data_dir, on_change="error")
    monkeypatch.setenv(prepared.ENV_ON_CHANGE, "error")
    with pytest.raises(prepared.SourceChangedError, match="DEPTHLAB_TFDS_ON_CHANGE=reprepare"):
        _load(src, data_dir)
    monkeypatch.setenv(prepared.ENV_ON_CHANGE, "sometimes")
    with pytest.raises(ValueError, match="must be one of"):
        _load(src, data_dir)
    monkeypatch.delenv(prepared.ENV_ON_CHANGE)
    assert len(_load(src, data_dir)) == 2 and calls == [3, 2]


def test_a_copy_without_fingerprint_is_prepared_again(target, capsys):
    src, data_dir, calls = target
    builder = prepared.prepare(TARGET_NAME, src, data_dir)
    os.remove(os.path.join(builder.data_dir, prepared.FINGERPRINT_FILE))
    prepared.prepare(TARGET_NAME, src, data_dir)
    assert calls == [3, 3] and f"no {prepared.FINGERPRINT_FILE}" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.*does not exist"):
        prepared.prepare(TARGET_NAME, os.path.join(src, "missing"), data_dir)


# -- Middlebury and NYU: the registry's readers through the builders equal the raw readers ----

def _assert_same(got, want):
    assert type(got) is type(want)
    if isinstance(got, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    elif isinstance(got, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want


def test_middlebury_records_through_the_builder_equal_the_raw_reader(tmp_path, monkeypatch):
    monkeypatch.setenv(prepared.ENV_DIR, str(tmp_path / "cache"))
    root = os.path.join(FIXTURES, "middlebury")
    for split in ("train", "test"):
        got = registry.read(registry.MIDDLEBURY, "rgbd_records", split=split, data_dir=root)
        _assert_same(got, mb.folder_rgbd_records(split, root, via_tfds=False))
    assert os.listdir(tmp_path / "cache") == [os.path.basename(prepared.default_data_dir(root))]
    # one scene: its columns split; a scene added to the folder is seen on the next read
    one = str(tmp_path / "one")
    shutil.copytree(os.path.join(root, "2014", "Tiny-perfect"), os.path.join(one, "Tiny-perfect"))
    for split in ("train", "test"):
        _assert_same(mb.folder_rgbd_records(split, one),
                     mb.folder_rgbd_records(split, one, via_tfds=False))
    mb.write_fixture_0506(os.path.join(one, "Added"), seed=5)
    got = mb.folder_rgbd_records("train", one)
    assert [r[0] for r in got] == ["Added"]
    _assert_same(got, mb.folder_rgbd_records("train", one, via_tfds=False))


@pytest.fixture(scope="module")
def nyu_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nyu")
    nyu.write_labeled_fixture(folder / "nyu_depth_v2_labeled.mat", num_frames=7, height=30,
                              width=40, seed=3)
    return str(folder)


@pytest.mark.parametrize("split", ["train", "test"])
def test_nyu_views_through_the_builder_equal_the_raw_readers(nyu_dir, split):
    from data_pipelines import depth_completion, unpaired_depth

    _assert_same(registry.read(registry.NYU_DEPTH_V2, "rgbd_records", split=split,
                               data_dir=nyu_dir),
                 nyu.rgbd_records(split, nyu_dir, via_tfds=False))
    _assert_same(registry.read(registry.NYU_DEPTH_V2, "rgbd_records", split=split,
                               data_dir=nyu_dir, limit=1),
                 nyu.rgbd_records(split, nyu_dir, limit=1, via_tfds=False))
    _assert_same(registry.read(registry.NYU_DEPTH_V2, "depth_completion_arrays", split=split,
                               data_dir=nyu_dir),
                 depth_completion.nyu_depth_v2_arrays(split, nyu_dir, via_tfds=False))
    for size in (24, 128):        # 24: no config of that size (full frames resized)
        _assert_same(registry.read(registry.NYU_DEPTH_V2, "unpaired_depth", split=split,
                                   image_size=size, data_dir=nyu_dir),
                     unpaired_depth.nyu_depth_v2(split, size, nyu_dir, via_tfds=False))


def test_nyu_copy_follows_the_mat_file(tmp_path, capsys):
    folder = tmp_path / "nyu"
    folder.mkdir()
    path = str(folder / "nyu_depth_v2_labeled.mat")
    nyu.write_labeled_fixture(path, num_frames=5, height=30, width=40, seed=1)
    tfds_dir = str(tmp_path / "tfds")
    assert len(nyu.load_labeled(path, "all", None, tfds_data_dir=tfds_dir)) == 5
    open(folder / "notes.txt", "w").close()          # another file beside it: not a source
    nyu.load_labeled(path, "all", None, tfds_data_dir=tfds_dir)
    assert "preparing it again" not in capsys.readouterr().out
    nyu.write_labeled_fixture(path, num_frames=6, height=30, width=40, seed=2)
    got = nyu.load_labeled(path, "all", None, tfds_data_dir=tfds_dir)
    assert "1 file modified (size or mtime: nyu_depth_v2_labeled.mat)" in capsys.readouterr().out
    _assert_same([got.rgb, got.depth, got.index],
                 [a for a in vars(nyu.read_labeled(path, "all", None)).values()])


# -- dataset names: one owner --------------------------------------------------------------

def test_dataset_names_are_defined_only_in_the_registry():
    """No module of data_pipelines/ but registry.py binds a dataset or builder name to a
    module-level or class-level constant (``DATASET = "middlebury"``, ``name = "lfw_faces"``):
    they import it from the registry."""
    import ast

    import data_pipelines

    names = set(registry.names()) | {registry.NYU_DEPTH_V2_TFDS}
    root = os.path.dirname(data_pipelines.__file__)
    found = []
    for folder, _, files in os.walk(root):
        for f in files:
            path = os.path.join(folder, f)
            if not f.endswith(".py") or path == registry.__file__:
                continue
            tree = ast.parse(open(path).read())
            bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
            for node in (n for body in bodies for n in body):
                if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                        and node.value.value in names):
                    found.append(f"{os.path.relpath(path, root)}:{node.lineno}")
    assert found == []
    assert len(names) >= 12          # the check saw the names it looks for
