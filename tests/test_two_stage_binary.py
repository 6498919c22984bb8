"""experiments/train_two_stage.py on depthlab/core (issue 17): the union of both stages'
options as flags, listed by --help without importing TensorFlow; a flag of the other stage
is an error naming it; invalid values are usage errors before anything is written."""

import dataclasses
import os
import subprocess
import sys

from depthlab.runners import two_stage_options as tso

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _binary(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "experiments.train_two_stage", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_option_of_both_stages_without_tensorflow():
    proc = _binary("--help")                 # absl exits 1 after the usage
    assert "--stage:" in proc.stdout, proc.stderr[-2000:]
    fields = {f.name for cls in (tso.Stage1Options, tso.Stage2Options)
              for f in dataclasses.fields(cls)}
    missing = [n for n in sorted(fields | {"stage"}) if f"--{n}:" not in proc.stdout
               and f"--[no]{n}:" not in proc.stdout]
    assert not missing, missing
    code = ("import sys, experiments.train_two_stage; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_options_module_imports_no_tensorflow():
    code = ("import sys, depthlab.runners.two_stage_options; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shared_fields_mean_the_same_in_both_stages():
    one = {f.name: f for f in dataclasses.fields(tso.Stage1Options)}
    two = {f.name: f for f in dataclasses.fields(tso.Stage2Options)}
    for name in set(one) & set(two):
        a, b = one[name].metadata, two[name].metadata
        assert (a["help"], a["choices"], a["resume"], a["extends"]) == \
            (b["help"], b["choices"], b["resume"], b["extends"]), name


def test_a_flag_of_the_other_stage_is_an_error(tmp_path):
    proc = _binary("--stage=1", f"--model_dir={tmp_path / 'run'}", "--lambda_l1=5",
                   "--stage2_preset=paper")
    assert proc.returncode != 0
    assert "--stage=1 does not take --lambda_l1, --stage2_preset" in proc.stderr
    proc = _binary("--stage=2", f"--model_dir={tmp_path / 'run'}", "--num_samples=5")
    assert proc.returncode != 0 and "--stage=2 does not take --num_samples" in proc.stderr
    proc = _binary("--stage=2", f"--model_dir={tmp_path / 'run'}",
                   f"--stage1_dir={tmp_path}")
    assert proc.returncode != 0 and "holds no stage1.keras" in proc.stderr
    proc = _binary("--stage=1", f"--model_dir={tmp_path / 'run'}", "--input_type=d",
                   "--num_samples=0")
    assert proc.returncode != 0 and "--input_type=d needs --num_samples > 0" in proc.stderr
    assert not (tmp_path / "run").exists()
