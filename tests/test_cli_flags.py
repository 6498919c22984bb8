"""One CLI vocabulary (issue 17) for the evaluation / table / export binaries: every flag they
accept is listed by --help, the unified names are there, old spellings are marked DEPRECATED
(and map onto the new flag), --model_dirs takes label=dir entries, --data_dir takes a directory.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from absl import app

from experiments import cli_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = tuple(os.path.join(REPO, d) + os.sep for d in ("experiments", "depthlab",
                                                         "data_pipelines"))

# binary -> (unified flags it must list, old spellings that must be absent or DEPRECATED)
BINARIES = {
    "eval_tsgan": ({"model_dir", "model_dirs", "table", "output_json"},
                   {"paper_table"}),
    "eval_cyclegan_depth": ({"model_dir", "table", "output_json"}, {"paper_table"}),
    "eval_dsr": ({"model_dir", "model_dirs", "data_dir", "output_json"}, set()),
    "eval_two_stage": ({"model_dir", "model_dirs", "table", "data_dir", "output_json"},
                       {"paper_table"}),
    "eval_enhancers": ({"model_dir", "model_dirs", "table", "output_json"},
                       {"models", "tables"}),
    "eval_recognition": ({"model_dir", "model_dirs", "table", "block", "output_json"},
                         {"paper_table", "paper_block"}),
    "ablation_table": ({"runs_dir", "data_dir", "output_json", "log_every"}, {"model_dir"}),
    "compare_paper": ({"table", "block"}, {"paper_table", "tables"}),
    "export_savedmodel": ({"model_dir", "export_dir", "model_kind", "format"}, set()),
}


def _helpxml(binary):
    proc = subprocess.run([sys.executable, "-m", f"experiments.{binary}", "--helpxml"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES=""))
    root = ET.fromstring(proc.stdout[proc.stdout.index("<?xml"):])
    return {f.findtext("name"): f for f in root.iter("flag")}


@pytest.mark.parametrize("binary", sorted(BINARIES))
def test_help_lists_every_flag_with_the_unified_names(binary):
    flags_xml = _helpxml(binary)
    ours = {name: f for name, f in flags_xml.items()
            if (f.findtext("file") or "").startswith(PROJECT)
            or (f.findtext("file") or "").startswith(("experiments.", "depthlab.",
                                                      "data_pipelines."))}
    hidden = sorted(n for n, f in ours.items() if f.findtext("key") != "yes")
    assert not hidden, f"{binary} --help does not list {hidden}"
    unified, old = BINARIES[binary]
    assert unified <= set(ours), f"{binary} lacks {sorted(unified - set(ours))}"
    for name in old & set(ours):
        assert ours[name].findtext("meaning").startswith("DEPRECATED: use --"), name


def test_help_text_shows_the_unified_flags():
    proc = subprocess.run([sys.executable, "-m", "experiments.eval_tsgan", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=REPO))
    for flag in ("--model_dir:", "--model_dirs:", "--table:", "--output_json:"):
        assert flag in proc.stdout
    assert "--paper_table: DEPRECATED: use --table." in proc.stdout


def test_model_dirs_labels():
    assert cli_flags.parse_model_dirs(["runs/a", "best=runs/b", " ", "x=runs/c=d"]) == [
        (None, "runs/a"), ("best", "runs/b"), ("x", "runs/c=d")]
    assert cli_flags.parse_model_dirs(
        ["runs/a", "b=runs/b"], default_label=os.path.basename) == [("a", "runs/a"),
                                                                    ("b", "runs/b")]
    for bad, match in ((["=runs/a"], "expected dir or label=dir"),
                       (["a="], "expected dir or label=dir"),
                       (["a=x", "a=y"], "label 'a' given twice")):
        with pytest.raises(app.UsageError, match=match):
            cli_flags.parse_model_dirs(bad)
    assert cli_flags.one_or_several("runs/a", None) == [(None, "runs/a")]
    assert cli_flags.one_or_several(None, ["l=runs/a"]) == [("l", "runs/a")]
    with pytest.raises(app.UsageError, match="--model_dirs=runs/a,runs/b"):
        cli_flags.one_or_several("runs/a,runs/b", None)
    with pytest.raises(app.UsageError, match="exactly one of"):
        cli_flags.one_or_several("runs/a", ["runs/b"])
    with pytest.raises(app.UsageError, match="pass --model_dir"):
        cli_flags.one_or_several(None, [])


def test_data_dir_is_a_directory(tmp_path):
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    mat.write_bytes(b"")
    assert cli_flags.check_data_dir(str(tmp_path)) == str(tmp_path)
    assert cli_flags.check_data_dir(None) is None
    with pytest.raises(app.UsageError, match=f"--data_dir={mat} is a file.*"
                                             f"--data_dir={tmp_path}"):
        cli_flags.check_data_dir(str(mat))
    with pytest.raises(app.UsageError, match="does not exist"):
        cli_flags.check_data_dir(str(tmp_path / "missing"))


def test_eval_binaries_refuse_a_data_file_and_several_runs_in_model_dir(tmp_path):
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    mat.write_bytes(b"")
    env = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, "-m", "experiments.eval_two_stage",
                        f"--model_dir={tmp_path}", f"--data_dir={mat}"], cwd=REPO,
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and "takes a directory" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "experiments.eval_cyclegan_depth",
                        f"--model_dir={tmp_path},{tmp_path}"], cwd=REPO,
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and "--model_dirs=" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run([sys.executable, "-m", "experiments.eval_dsr", f"--model_dir={empty}"],
                       cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and f"--model_dir: {empty}/config.json does not exist" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "experiments.eval_dsr",     # deprecated spelling
                        f"--model_dir={empty},{tmp_path}"], cwd=REPO, capture_output=True,
                       text=True, timeout=120, env=env)
    assert "several runs in --model_dir are deprecated; use --model_dirs" in r.stderr
    assert f"--model_dirs: {empty}/config.json does not exist" in r.stderr
