"""The two-stage experiments on the one lifecycle (issue 17): run records written before it
still pass the resume rule (depthlab/runners/two_stage.py)."""

import dataclasses
import json

import pytest

from depthlab.core import options as options_lib
from depthlab.core import run as run_lib
from depthlab.runners import two_stage as runner


def test_runs_recorded_before_the_lifecycle_still_resume(tmp_path):
    """A stage-2 config.json written before issue 17 (no 'trainer', the preset as 'preset',
    no config_override / export_dir) passes the resume rule with the same flags; a changed
    field is refused by name."""
    s1_dir = tmp_path / "s1"
    (s1_dir).mkdir()
    (s1_dir / "stage1.keras").write_bytes(b"")
    (s1_dir / "config.json").write_text(json.dumps(
        {"stage": 1, "dataset": "middlebury_sample", "data_dir": None, "num_samples": 20,
         "crop_hw": [32, 32], "sample_downscale": 4, "train_limit": None, "eval_limit": None,
         "seed": 0}))
    opts = runner.Stage2Options(model_dir=str(tmp_path / "s2"), stage1_dir=str(s1_dir),
                                stage2_preset="paper", epochs=3)
    experiment = runner.Stage2Experiment()
    record = json.loads(json.dumps(experiment.record(opts, experiment.config(opts))))
    old = {k: v for k, v in record.items()
           if k not in ("trainer", "stage2_preset", "config_override", "export_dir")}
    old.update(preset="paper", epochs=2)
    (tmp_path / "s2" / "checkpoints").mkdir(parents=True)
    (tmp_path / "s2" / "checkpoints" / "checkpoint").write_text("")
    (tmp_path / "s2" / "config.json").write_text(json.dumps(old))
    keys = experiment.resume_keys(opts)
    assert run_lib.check_resume(opts.model_dir, record, keys) == "resume"
    changed = dataclasses.replace(opts, lambda_l1=10.0)
    with pytest.raises(run_lib.ResumeError, match="--lambda_l1: 100.0 -> 10.0"):
        run_lib.check_resume(opts.model_dir, experiment.record(changed, experiment.config(changed)),
                             keys)
    other = dataclasses.replace(opts, stage2_preset="demo")
    with pytest.raises(run_lib.ResumeError, match="model config preset: 'paper' -> 'demo'"):
        run_lib.check_resume(opts.model_dir, experiment.record(other, experiment.config(other)),
                             keys)


def test_options_rules_name_the_flags(tmp_path):
    with pytest.raises(options_lib.OptionsError, match="--dataset=sparse_to_dense_h5 needs "
                       "--data_dir"):
        runner.Stage1Options(model_dir=str(tmp_path), dataset="sparse_to_dense_h5")
    with pytest.raises(options_lib.OptionsError, match="--crop_hw=16,16"):
        runner.Stage1Options(model_dir=str(tmp_path), crop_hw=(16, 16))
    with pytest.raises(options_lib.OptionsError, match="--input_type=d needs --num_samples"):
        runner.Stage1Options(model_dir=str(tmp_path), input_type="d", num_samples=0)
    with pytest.raises(options_lib.OptionsError, match="needs --stage1_dir"):
        runner.Stage2Options(model_dir=str(tmp_path / "x"))
    assert runner.Stage1Options(model_dir="x", clip_norm=0.0).clip_norm is None      # 0: off
    assert runner.Stage1Options(model_dir="x").crop_hw == (96, 128)
    assert runner.Stage1Options(model_dir="x", dataset="sparse_to_dense_h5",
                                data_dir="d").crop_hw == (228, 304)
