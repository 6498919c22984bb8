"""TS-GAN end to end on the embedded synthetic faces: learning, exact resume, export, flags."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

from depthlab import training
from depthlab.runners import tsgan as runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(image_size=32, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
            disc_strides=(2, 2, 1), pool_size=8)


def _opts(model_dir, **kw):
    base = dict(model_dir=str(model_dir), batch_size=4, synthetic_identities=8,
                synthetic_images_per_identity=5, seed=3, log_every=1000)
    base.update(kw)
    return runner.RunOptions(**base)


def test_demo_visibly_learns(tmp_path):
    """Held-out RMSE after training < RMSE at step 0 and < predicting the mean depth (300 steps:
    0.041 vs 0.602 and 0.065 when measured)."""
    summary = runner.train(_opts(tmp_path, epochs=3, steps_per_epoch=100), preset="demo",
                           overrides=TINY, verbose=False)
    step0 = training.read_json(os.path.join(tmp_path, "metrics_step0.json"))
    final = summary["final"]
    assert final["rmse"] < step0["rmse"]
    assert final["rmse"] < step0["rmse_mean_depth"]
    # artefacts a researcher expects
    assert os.path.exists(tmp_path / "g_a2b.keras")
    assert os.path.exists(tmp_path / "config.json")
    assert runner.latest_sample_grid(str(tmp_path)).endswith(".png")
    assert any(f.startswith("events") for _, _, fs in os.walk(tmp_path / "tensorboard") for f in fs)


class _Kill(keras.callbacks.Callback):
    """Simulates a kill right after the first epoch's checkpoint was written."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt("simulated kill")


def test_resume_after_kill_gives_the_same_next_step_losses(tmp_path):
    kw = dict(epochs=2, steps_per_epoch=3)
    straight = training.BatchLossRecorder()
    runner.train(_opts(tmp_path / "a", **kw), preset="demo", overrides=TINY,
                 extra_callbacks=[straight], verbose=False)

    with pytest.raises(KeyboardInterrupt):
        runner.train(_opts(tmp_path / "b", **kw), preset="demo", overrides=TINY,
                     extra_callbacks=[_Kill()], verbose=False)
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints")).endswith("-1")
    resumed = training.BatchLossRecorder()
    runner.train(_opts(tmp_path / "b", **kw), preset="demo", overrides=TINY,
                 extra_callbacks=[resumed], verbose=False)
    assert len(resumed.history) == 3                 # only epoch 2 ran
    for got, want in zip(resumed.history, straight.history[3:]):
        assert set(got) == set(want)
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), key


def test_resume_refuses_a_different_config(tmp_path):
    runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=1), preset="demo", overrides=TINY,
                 verbose=False)
    with pytest.raises(ValueError, match="config.json"):
        runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=1, seed=9), preset="demo",
                     overrides=TINY, verbose=False)


def test_export_round_trip_in_a_fresh_process(tmp_path):
    from depthlab.export import export_depth_generator, generator_output_to_depth, \
        rgb_uint8_to_generator_input
    from depthlab.models.tsgan import build_generator
    from depthlab.configs import tsgan_config

    gen = build_generator(tsgan_config("demo", **TINY))
    export_dir = str(tmp_path / "saved_model")
    export_depth_generator(gen, export_dir, image_size=32)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 48, 40, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    want, want16 = generator_output_to_depth(gen(rgb_uint8_to_generator_input(rgb, 32)))
    code = (
        "import numpy as np, tensorflow as tf, sys\n"
        f"m = tf.saved_model.load({export_dir!r})\n"
        f"out = m.signatures['serving_default'](rgb=tf.constant(np.load({str(tmp_path / 'rgb.npy')!r})))\n"
        f"np.save({str(tmp_path / 'depth.npy')!r}, out['depth'].numpy())\n"
        f"np.save({str(tmp_path / 'depth16.npy')!r}, out['depth_uint16'].numpy())\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(tmp_path),
                   env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    got = np.load(tmp_path / "depth.npy")
    got16 = np.load(tmp_path / "depth16.npy")
    assert got.shape == (3, 32, 32, 1) and got16.dtype == np.uint16
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    assert np.max(np.abs(got16.astype(np.int64) - want16.numpy().astype(np.int64))) <= 1
    with pytest.raises(FileExistsError, match="export_dir"):
        export_depth_generator(gen, export_dir, image_size=32)


def _run_binary(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


def test_binaries_reject_bad_flags_by_name(tmp_path):
    bad = _run_binary("experiments.train_tsgan", "--preset=huge", f"--model_dir={tmp_path}")
    assert bad.returncode != 0 and "preset" in bad.stderr
    missing = _run_binary("experiments.train_tsgan")
    assert missing.returncode != 0 and "model_dir" in missing.stderr
    neg = _run_binary("experiments.train_tsgan", "--epochs=0", f"--model_dir={tmp_path}")
    assert neg.returncode != 0 and "epochs" in neg.stderr
    empty = _run_binary("experiments.eval_tsgan", f"--model_dir={tmp_path}")
    assert empty.returncode != 0 and "config.json" in empty.stderr


def test_eval_binary_writes_json_with_table1_keys(tmp_path):
    runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=2), preset="demo", overrides=TINY,
                 verbose=False)
    out = tmp_path / "eval.json"
    res = _run_binary("experiments.eval_tsgan", f"--model_dir={tmp_path}", f"--output_json={out}",
                      "--limit=8")
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(out.read_text())
    for key in ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3"):
        assert np.isfinite(result[key])
    assert result["num_images"] == 8
    assert "rmse" in res.stdout
