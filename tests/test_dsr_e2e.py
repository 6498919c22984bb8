"""DSR binaries end to end on the embedded Middlebury sample (tiny), export and flags."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(os.path.dirname(__file__), "fixtures", "middlebury")


def _run(args, timeout=600):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m"] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_train_eval_export_end_to_end(tmp_path):
    model_dir, export_dir = tmp_path / "run", tmp_path / "sm"
    common = ["experiments.train_dsr_distill", f"--model_dir={model_dir}", "--scale=4",
              "--stage1_epochs=1", "--steps_per_epoch=2", "--batch_size=2", "--patch_size=32",
              "--seed=1", "--eval_every=0"]
    r = _run(common + ["--epochs=1"])                  # stage 1 only, then resume into stage 2
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run(common + ["--epochs=2", f"--export_dir={export_dir}"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming after epoch 1/2" in r.stdout
    assert "bicubic" in r.stdout and "DSRNet only (stage 1)" in r.stdout
    for name in ("config.json", "dsrnet.keras", "dsrnet_stage1.weights.h5", "metrics_final.json"):
        assert (model_dir / name).exists(), name
    assert any(f.endswith(".png") for f in os.listdir(model_dir / "samples"))
    assert any(f.startswith("events") for _, _, fs in os.walk(model_dir / "tensorboard") for f in fs)
    with open(model_dir / "roles.csv") as f:
        roles = list(csv.DictReader(f))
    assert [int(r["step"]) for r in roles] == [1, 2, 3, 4]
    assert [r["stage"] for r in roles] == ["1", "1", "2", "2"]
    assert all(float(r["role"]) == -1 for r in roles[:2])
    # epoch 2's teacher: the net with the lower mean error over epoch 1 (Algorithm 1)
    mean = lambda key: np.mean([float(r[key]) for r in roles[:2]])  # noqa: E731
    want = 1.0 if mean("e_dsr") < mean("e_de") else 0.0
    assert [float(r["role"]) for r in roles[2:]] == [want, want]

    out = tmp_path / "eval.json"
    r = _run(["experiments.eval_dsr", f"--model_dir={model_dir}", f"--output_json={out}"])
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())
    for key in ("rmse", "rmse_bicubic", "rmse_dsrnet_only", "rmse_x4", "units"):
        assert key in result, key
    assert result["units"] == "cm" and result["scale"] == 4
    train = json.loads((model_dir / "metrics_final.json").read_text())
    assert result["rmse"] == pytest.approx(train["rmse"], rel=1e-5)
    # the bicubic baseline, recomputed independently with OpenCV-free numpy on the same data
    from data_pipelines import depth_sr
    from depthlab.runners import dsr_distill as runner
    ex = runner.load_examples("middlebury_sample", "test", 4)[0]
    up = depth_sr.bicubic_upsample(ex.lr, 4)
    want = np.sqrt(np.mean(((up - ex.hr)[ex.mask] * 100.0) ** 2))
    assert result["rmse_bicubic"] == pytest.approx(want, rel=1e-5)

    r = _run(["experiments.compare_paper", "--table=dsr_nyu_table", f"--run_json={out}"])
    assert r.returncode == 0 and "CTKT (Sun et al. 2021)" in r.stdout and "1.49" in r.stdout

    # the SavedModel in a fresh process: metres in, metres out, equal to the library's DSRNet
    np.save(tmp_path / "lr.npy", ex.lr[None, ..., None])
    code = (f"import numpy as np, tensorflow as tf; m = tf.saved_model.load({str(export_dir)!r}); "
            f"lr = np.load({str(tmp_path / 'lr.npy')!r}); "
            "out = m.signatures['serving_default'](depth=tf.constant(lr))['depth'].numpy(); "
            "mm = m.signatures['serve_uint16'](depth_mm=tf.constant(np.round(lr * 1000).astype(np.uint16)))['depth_mm'].numpy(); "
            f"np.save({str(tmp_path / 'out.npy')!r}, out); np.save({str(tmp_path / 'mm.npy')!r}, mm)")
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    served = np.load(tmp_path / "out.npy")[0, ..., 0]
    model, _ = runner.load_trained(str(model_dir))
    np.testing.assert_allclose(served, runner.predict_dsrnet(model.dsrnet, ex.lr), atol=1e-4)
    assert served.shape == ex.hr.shape
    mm = np.load(tmp_path / "mm.npy")[0, ..., 0]
    assert mm.dtype == np.uint16 and np.abs(mm.astype(float) - served * 1000).max() < 2.0


def test_flags_and_bad_input_are_reported(tmp_path):
    r = _run(["experiments.train_dsr_distill", f"--model_dir={tmp_path}", "--scale=8",
              "--patch_size=36"])
    assert r.returncode != 0 and "--patch_size must be a multiple of --scale" in r.stderr
    r = _run(["experiments.train_dsr_distill", f"--model_dir={tmp_path}", "--dataset=middlebury"])
    assert r.returncode != 0 and "--data_dir is required" in r.stderr
    r = _run(["experiments.train_dsr_distill", f"--model_dir={tmp_path}", "--epochs=2",
              "--stage1_epochs=3"])
    assert r.returncode != 0 and "--stage1_epochs must be <= --epochs" in r.stderr


def test_help_lists_every_option_without_tensorflow():
    """--help lists each field of DSROptions (the flags are made from it) and the binary's
    import pulls in no TensorFlow (issue 17)."""
    import dataclasses

    from depthlab.runners.dsr_options import DSROptions

    r = _run(["experiments.train_dsr_distill", "--help"], timeout=120)   # absl exits 1
    assert "--model_dir" in r.stdout, r.stderr[-3000:]
    for f in dataclasses.fields(DSROptions):
        assert f"--{f.name}" in r.stdout, f.name
    for name in ("middlebury_sample", "nyu_depth_v2", "middlebury"):
        assert name in r.stdout
    code = ("import sys, experiments.train_dsr_distill, depthlab.runners.dsr_options; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["False", "False"], r.stdout + r.stderr


def test_datasets_come_from_the_registry():
    """The three datasets are registered once, with an 'rgbd_records' reader each, and the
    options' --dataset choices are the registry's names of that view."""
    import dataclasses

    from data_pipelines import registry
    from depthlab.runners.dsr_options import DATA_VIEW, DSROptions

    names = registry.names(view=DATA_VIEW)
    assert {"middlebury_sample", "nyu_depth_v2", "middlebury"} <= set(names)
    field = {f.name: f for f in dataclasses.fields(DSROptions)}["dataset"]
    assert list(field.metadata["choices"]) == names
    assert not registry.get("middlebury_sample").needs_data_dir
    assert registry.get("nyu_depth_v2").needs_data_dir and registry.get("middlebury").needs_data_dir
    records = registry.read("middlebury", DATA_VIEW, split="test", data_dir=FIX)
    assert [r[0] for r in records] == ["Tiny-perfect"]


def test_options_rules_name_the_flags(tmp_path):
    from depthlab.core.options import OptionsError
    from depthlab.runners.dsr_options import DSROptions

    with pytest.raises(OptionsError, match="--patch_size must be a multiple of --scale"):
        DSROptions(model_dir=str(tmp_path), scale=8, patch_size=36)
    with pytest.raises(OptionsError, match="--stage1_epochs must be <= --epochs"):
        DSROptions(model_dir=str(tmp_path), epochs=2, stage1_epochs=3)
    with pytest.raises(OptionsError, match="--data_dir is required for --dataset=nyu_depth_v2"):
        DSROptions(model_dir=str(tmp_path), dataset="nyu_depth_v2")
    with pytest.raises(OptionsError, match="--scale=3 is not one of"):
        DSROptions(model_dir=str(tmp_path), scale=3, patch_size=48)
    assert DSROptions(model_dir=str(tmp_path)).eval_every == 1      # the binary's default


def test_middlebury_folder_dataset_loads_fixtures():
    from depthlab.runners import dsr_distill as runner

    train = runner.load_examples("middlebury", "train", 4, FIX)
    test = runner.load_examples("middlebury", "test", 4, FIX)
    assert [e.name for e in train] == ["TinyMV", "Tiny"] and [e.name for e in test] == ["Tiny-perfect"]
    assert test[0].hr.shape == (32, 48) and test[0].lr.shape == (8, 12)


def test_nyu_records_through_the_registry(tmp_path):
    """nyu_depth_v2's 'rgbd_records' reader on a fixture .mat: native size, file indices as
    names, the train/test split and the limit."""
    from data_pipelines import nyu_depth_v2 as nyu
    from data_pipelines import registry

    path = tmp_path / "nyu_depth_v2_labeled.mat"
    nyu.write_labeled_fixture(str(path), num_frames=6, height=48, width=64)
    train = registry.read("nyu_depth_v2", "rgbd_records", split="train", data_dir=str(tmp_path))
    test = registry.read("nyu_depth_v2", "rgbd_records", split="test", data_dir=str(path),
                         limit=1)
    assert [r[0] for r in train] == [f"nyu_{i:04d}" for i in range(5)]
    assert [r[0] for r in test] == ["nyu_0005"]
    name, rgb, depth, valid = test[0]
    assert rgb.shape == (48, 64, 3) and depth.shape == (48, 64) and valid.all()
