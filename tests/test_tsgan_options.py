"""TS-GAN's options declared once (issue 17): the binary's --help lists every field of
TSGANOptions without importing TensorFlow, the TF-free constants equal the TF modules' ones,
config dicts become --config_override values, and run directories written before the
lifecycle (trainer 'experiments.train_tsgan') still load."""

import dataclasses
import os
import subprocess
import sys

import pytest

from depthlab.core import options as options_lib
from depthlab.runners import tsgan_options
from depthlab.runners.tsgan_options import TSGANOptions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")


def test_help_lists_every_field_and_imports_no_tensorflow():
    proc = subprocess.run([sys.executable, "-m", "experiments.train_tsgan", "--help"], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]     # absl --help exits 1
    for f in dataclasses.fields(TSGANOptions):
        assert f"--{f.name}" in proc.stdout or f"--[no]{f.name}" in proc.stdout, f.name
    code = ("import sys, experiments.train_tsgan, depthlab.runners.tsgan_options; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]


def test_tf_free_constants_equal_the_tf_modules():
    from data_pipelines import recognition_protocols as rp
    from data_pipelines import sources
    from depthlab.models import tsgan, tsgan_baselines

    assert tsgan_options.STUDENT_PROTOCOLS == rp.STUDENT_PROTOCOLS
    assert tsgan_options.IIITD_FOLDS == rp.IIITD_FOLDS
    assert tsgan.ABLATIONS == ("none", "teacher_only", "a2b_only")
    assert tsgan_baselines.METHODS == ("tsgan", "fcn", "cgan", "cyclegan")
    assert tsgan_options.DEFAULT_SOURCE == sources.SYNTHETIC
    assert tsgan_options.DEFAULT_TARGET == sources.SYNTHETIC_TARGET
    fields = {f.name: f for f in dataclasses.fields(TSGANOptions)}
    assert set(fields["dataset"].metadata["choices"]) == set(sources.PAIRED_SOURCES)
    assert set(fields["target_dataset"].metadata["choices"]) == set(sources.RGB_SOURCES)


def test_resume_fields_and_rules():
    opts = TSGANOptions(model_dir="x")
    assert options_lib.extendable_fields(opts) == ["epochs"]
    resume = set(options_lib.resume_fields(opts))
    assert {"steps_per_epoch", "synthetic_identities", "synthetic_images_per_identity",
            "method", "preset", "ablation", "seed", "dataset", "batch_size"} <= resume
    assert not resume & {"model_dir", "data_dir", "target_data_dir", "log_every", "export_dir",
                         "strategy", "collapse_guard", "eval_limit", "eval_split",
                         "config_override", "jit_compile"}
    with pytest.raises(options_lib.OptionsError, match="--method='unet'"):
        TSGANOptions(model_dir="x", method="unet")
    with pytest.raises(options_lib.OptionsError, match="--epochs=0"):
        TSGANOptions(model_dir="x", epochs=0)
    assert "synthetic_diffuse_light" in resume          # it changes the paired faces
    with pytest.raises(options_lib.OptionsError, match="--synthetic_diffuse_light=1.5"):
        TSGANOptions(model_dir="x", synthetic_diffuse_light=1.5)
    with pytest.raises(options_lib.OptionsError,
                       match="--synthetic_diffuse_light=0.3 .* --dataset=synthetic_faces"):
        TSGANOptions(model_dir="x", synthetic_diffuse_light=0.3, dataset="curtinfaces")


def test_overrides_become_config_override_values_and_the_config():
    from depthlab.configs import tsgan_config
    from depthlab.runners import tsgan as runner

    overrides = dict(runner.TINY, lambda_cycle=7.5, mask_pixel_loss=False, lr_teacher=1e-4)
    opts = TSGANOptions(model_dir="x", preset="demo", epochs=3,
                        config_override=runner._override_strings(overrides))
    experiment = runner.TSGANExperiment()
    assert experiment.config(opts) == tsgan_config("demo", epochs=3, **overrides)
    assert experiment.preset_config(opts) == tsgan_config("demo")
    record = experiment.record(opts, experiment.config(opts))
    assert record["trainer"] == runner.TRAINER == "tsgan"
    assert "epochs" not in record["model"] and record["epochs"] == 3


def test_a_run_directory_from_before_the_lifecycle_still_reads(tmp_path):
    from depthlab import training
    from depthlab.configs import tsgan_config
    from depthlab.runners import tsgan as runner

    record = {"trainer": runner.LEGACY_TRAINER, "model": tsgan_config("demo").to_dict(),
              "ablation": "none", "model_dir": str(tmp_path), "seed": 0}
    training.write_json(str(tmp_path / "config.json"), record)
    got = runner.read_run_config(str(tmp_path))
    assert got["method"] == "tsgan" and got["target_protocol"] == "all"


def test_landmark_head_is_refused_where_no_landmarks_are_marked():
    """lambda_landmark needs --method=tsgan on the embedded faces (the only source marking
    landmarks); anything else is refused before any data is read, naming both flags and the
    override that switches the demo preset's head off."""
    from depthlab.runners import tsgan as runner

    exp = runner.TSGANExperiment()
    over = ("lambda_landmark=5",)
    ok = TSGANOptions(model_dir="/tmp/x", preset="demo", config_override=over)
    assert exp.config(ok).lambda_landmark == 5.0
    off = TSGANOptions(model_dir="/tmp/x", preset="demo", method="cgan",
                       config_override=("lambda_landmark=0",))
    assert exp.config(off).lambda_landmark == 0.0        # the demo preset's head switched off
    for bad in (dict(dataset="curtinfaces"), dict(method="cgan")):
        opts = TSGANOptions(model_dir="/tmp/x", preset="demo", config_override=over, **bad)
        with pytest.raises(options_lib.OptionsError,
                           match="lambda_landmark.*--method=.*--dataset=.*lambda_landmark=0"):
            exp.config(opts)
