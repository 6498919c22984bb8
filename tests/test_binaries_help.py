"""Every binary's --help lists every flag it accepts and imports no TensorFlow (issue 17: a
fast --help; the time itself is measured in BUILD_NOTES, not asserted here)."""

import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARIES = sorted(
    os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "experiments", "*.py"))
    if "app.run(" in open(p).read())

_PROBE = r"""
import importlib, json, sys
from absl import flags
module = importlib.import_module("experiments." + sys.argv[1])
absl_own = {"flagfile", "undefok", "logtostderr", "alsologtostderr", "log_dir", "v",
            "verbosity", "stderrthreshold", "showprefixforinfo", "run_with_pdb",
            "pdb_post_mortem", "pdb", "run_with_profiling", "profile_file", "use_cprofile_for_profiling",
            "only_check_args", "logger_levels", "log_json", "showprefixforinfo", "helpshort",
            "help", "helpfull", "helpxml", "?"}
names = sorted(n for n in flags.FLAGS if n not in absl_own and not n.startswith("test_"))
print(json.dumps({"tf": "tensorflow" in sys.modules or "keras" in sys.modules,
                  "flags": names}))
"""


def test_binaries_are_found():
    assert {"train_tsgan", "train_enhancer", "eval_tsgan", "export_savedmodel"} <= set(BINARIES)


@pytest.mark.parametrize("binary", BINARIES)
def test_help_lists_every_flag_without_importing_tensorflow(binary):
    import json

    probe = subprocess.run([sys.executable, "-c", _PROBE, binary], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-2000:]
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    assert not info["tf"], f"experiments.{binary} imports TensorFlow/Keras at import time"
    helped = subprocess.run([sys.executable, "-m", f"experiments.{binary}", "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    text = helped.stdout + helped.stderr
    missing = [n for n in info["flags"] if f"--{n}:" not in text and f"--[no]{n}:" not in text]
    assert not missing, f"experiments.{binary} --help does not list {missing}"
