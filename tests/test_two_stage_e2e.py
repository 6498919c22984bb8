"""End to end on an HDF5 fixture in sparse-to-dense's layout: stage 1, resume, stage 2,
evaluation and the SavedModel export of the whole pipeline (depthlab/runners/two_stage.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import sparse_to_dense_h5 as s2d
from depthlab.models import two_stage as ts
from depthlab.runners import two_stage as runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_stage")
    data = s2d.write_fixture(root / "nyudepthv2", (("train", "a", 2), ("val", "b", 2)),
                             height=120, width=160)
    s1 = runner.Stage1Options(model_dir=str(root / "s1"), dataset="sparse_to_dense_h5",
                              data_dir=data, preset="demo", num_samples=20, epochs=1,
                              steps_per_epoch=2, batch_size=2, crop_hw=(32, 32), log_every=1)
    first = runner.train_stage1(s1, verbose=False)
    return {"root": root, "data": data, "s1": s1, "first": first}


@pytest.mark.slow
def test_stage1_trains_writes_artifacts_and_resumes(runs, capsys):
    s1 = runs["s1"]
    final = runs["first"]["final"]
    for k in ("rmse", "abs_rel", "log10", "delta1", "delta2", "delta3"):
        assert np.isfinite(final[k])
    assert final["num_images"] == 2 and final["num_samples"] == 20
    for f in ("config.json", "stage1.keras", "metrics_final.json", "checkpoints/checkpoint"):
        assert os.path.exists(os.path.join(s1.model_dir, f)), f
    # Resume: the same flags with more epochs continue from epoch 1 (optimizer state too).
    import dataclasses

    more = dataclasses.replace(s1, epochs=2)
    out = runner.train_stage1(more, verbose=True)
    assert "resuming from epoch 1" in capsys.readouterr().out
    assert os.path.exists(os.path.join(s1.model_dir, "checkpoints", "ckpt-2.index"))
    assert int(out["trainer"].optimizer.iterations.numpy()) == 4      # 2 epochs x 2 steps
    with pytest.raises(ValueError, match="different run"):
        runner.train_stage1(dataclasses.replace(s1, num_samples=50, epochs=2), verbose=False)


def test_stage2_trains_evaluates_and_exports(runs):
    root = runs["root"]
    s2 = runner.Stage2Options(model_dir=str(root / "s2"), stage1_dir=runs["s1"].model_dir,
                              preset="demo", epochs=1, steps_per_epoch=2, batch_size=1)
    out = runner.train_stage2(s2, overrides={"n_res_blocks": 2}, verbose=False)
    assert np.isfinite(out["final"]["two_stage"]["rmse"])
    ev = runner.evaluate(s2.model_dir)
    # The reloaded pipeline reproduces the numbers written at the end of training.
    assert ev["stage1"]["rmse"] == pytest.approx(out["final"]["stage1"]["rmse"], rel=1e-5)
    assert ev["two_stage"]["rmse"] == pytest.approx(out["final"]["two_stage"]["rmse"], rel=1e-5)

    export_dir = str(root / "export")
    runner.export_pipeline(s2.model_dir, export_dir)
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (2, 72, 88, 3)).astype(np.uint8)
    sp = np.where(rng.uniform(size=(2, 72, 88, 1)) < 0.02, rng.uniform(1, 6, (2, 72, 88, 1)),
                  0).astype(np.float32)
    got = serve(rgb=tf.constant(rgb), sparse_depth=tf.constant(sp))
    stage1, gen, max_depth, _ = runner.load_pipeline(s2.model_dir)
    want, coarse = ts.predict_depth(stage1, rgb, sp, gen, max_depth, return_coarse=True)
    assert got["depth"].shape == (2, 72, 88, 1)
    # A 2-step stage 1 is far from trained (inference-mode BN statistics barely moved), so its
    # maps span a huge range; float32 agreement is judged relative to that range.
    for key, ref in (("depth", want.numpy()), ("coarse_depth", coarse.numpy())):
        scale = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(got[key].numpy(), ref, rtol=0, atol=1e-5 * scale)
    # Bad input: a sparse map of the wrong size is rejected with a message naming both.
    with pytest.raises(tf.errors.InvalidArgumentError, match="sparse depth"):
        serve(rgb=tf.constant(rgb), sparse_depth=tf.constant(sp[:, :60]))
    with pytest.raises(FileExistsError):
        runner.export_pipeline(s2.model_dir, export_dir)


def test_options_and_binary_flags_reject_bad_values(runs, tmp_path):
    with pytest.raises(ValueError, match="needs --data_dir"):
        runner.Stage1Options(model_dir=str(tmp_path), dataset="sparse_to_dense_h5")
    with pytest.raises(ValueError, match="--loss"):
        runner.Stage1Options(model_dir=str(tmp_path), loss="huber")
    with pytest.raises(FileNotFoundError, match="stage1.keras"):
        runner.Stage2Options(model_dir=str(tmp_path / "x"), stage1_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="backbone_weights"):
        runner.train_stage1(runner.Stage1Options(
            model_dir=str(tmp_path / "bb"), dataset="sparse_to_dense_h5", data_dir=runs["data"],
            num_samples=5, epochs=1, steps_per_epoch=1, batch_size=1, crop_hw=(64, 64),
            backbone_weights=str(tmp_path / "nope.weights.h5")), verbose=False)


def test_eval_binary_prints_table_beside_published(runs, tmp_path):
    out_json = str(tmp_path / "table.json")
    proc = subprocess.run([sys.executable, "-m", "experiments.eval_two_stage",
                           f"--model_dirs=mine={runs['s1'].model_dir}", f"--output_json={out_json}",
                           f"--data_dir={runs['data']}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ours stage 1, RGBd (20 samples) [mine]" in proc.stdout
    assert "sparse-to-dense RGBd (20 samples)" in proc.stdout and "0.351" in proc.stdout
    assert "Ma, Sertac Karaman" in proc.stdout
    assert os.path.exists(out_json)


def test_export_binary_detects_a_two_stage_run(runs, tmp_path):
    export_dir = tmp_path / "export"
    proc = subprocess.run([sys.executable, "-m", "experiments.export_savedmodel",
                           f"--model_dir={runs['s1'].model_dir}", f"--export_dir={export_dir}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "-> two_stage" in proc.stdout
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    assert set(serve.structured_outputs) == {"depth", "coarse_depth"}
