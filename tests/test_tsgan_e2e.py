"""TS-GAN end to end on the embedded synthetic faces: learning, exact resume, export, flags."""

import dataclasses
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
    return runner.TSGANOptions(**base)


@pytest.mark.slow
def test_demo_visibly_learns(tmp_path):
    """Held-out RMSE after training < RMSE at step 0 and < predicting the mean depth (300 steps:
    0.041 vs 0.602 and 0.065 when measured on faces v1 with lambda_pixel 10)."""
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


@pytest.mark.slow
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
    with pytest.raises(ValueError, match="--seed: 3 -> 9"):
        runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=1, seed=9), preset="demo",
                     overrides=TINY, verbose=False)
    # the one rule: a field that changes the trained result is refused by name, the budget
    # flags included (train_tsgan used to accept these and rewrite config.json)
    for field, value in (("steps_per_epoch", 2), ("synthetic_identities", 9)):
        with pytest.raises(ValueError, match=f"--{field}: "):
            runner.train(_opts(tmp_path, **dict(dict(epochs=1, steps_per_epoch=1),
                                                **{field: value})),
                         preset="demo", overrides=TINY, verbose=False)
    with pytest.raises(ValueError, match="model config lambda_cycle: "):
        runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=1), preset="demo",
                     overrides=dict(TINY, lambda_cycle=7.0), verbose=False)


def test_export_round_trip_in_a_fresh_process(tmp_path):
    from depthlab.export import depth_to_input_size, export_depth_generator, \
        generator_output_to_depth, rgb_uint8_to_generator_input
    from depthlab.models.tsgan import build_generator
    from depthlab.configs import tsgan_config

    gen = build_generator(tsgan_config("demo", **TINY))
    export_dir = str(tmp_path / "saved_model")
    export_depth_generator(gen, export_dir, image_size=32)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 48, 40, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    want, _ = generator_output_to_depth(gen(rgb_uint8_to_generator_input(rgb, 32)))
    # issue 20: the signature returns depth at the caller's input size (48 x 40)
    want, want16 = depth_to_input_size(want, (48, 40))
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
    assert got.shape == (3, 48, 40, 1) and got16.dtype == np.uint16
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    assert np.max(np.abs(got16.astype(np.int64) - want16.numpy().astype(np.int64))) <= 1
    with pytest.raises(FileExistsError, match="export_dir"):
        export_depth_generator(gen, export_dir, image_size=32)


def _run_binary(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


@pytest.mark.slow
def test_binaries_reject_bad_flags_by_name(tmp_path):
    bad = _run_binary("experiments.train_tsgan", "--preset=huge", f"--model_dir={tmp_path}")
    assert bad.returncode != 0 and "preset" in bad.stderr
    missing = _run_binary("experiments.train_tsgan")
    assert missing.returncode != 0 and "model_dir" in missing.stderr
    neg = _run_binary("experiments.train_tsgan", "--epochs=0", f"--model_dir={tmp_path}")
    assert neg.returncode != 0 and "epochs" in neg.stderr
    empty = _run_binary("experiments.eval_tsgan", f"--model_dir={tmp_path}")
    assert empty.returncode != 0 and "config.json" in empty.stderr
    proto = _run_binary("experiments.eval_tsgan", f"--model_dir={tmp_path}", "--protocol=pixels")
    assert proto.returncode != 0 and "--protocol" in proto.stderr and "paper" in proto.stderr
    with pytest.raises(ValueError, match="protocol='pixels'"):
        runner.evaluate(str(tmp_path), protocol="pixels")


def _independent_paper_metrics(model_dir, limit):
    """Table 1 on the paper's scale recomputed with plain NumPy from the trained generator's
    predictions on the same held-out images (BUILD_NOTES.md, issue 16 section 2)."""
    model, record = runner.load_trained(str(model_dir))
    fields = {f.name for f in dataclasses.fields(runner.TSGANOptions)}
    opts = runner.TSGANOptions(**{k: v for k, v in record.items() if k in fields})
    test = runner.load_source(opts, model.config, opts.eval_split, limit=limit)
    preds, gts = [], []
    for batch in runner.make_eval_dataset(test, 4):
        out = model.g_a2b(batch["rgb"], training=False).numpy()
        preds.append((out[..., 0].astype(np.float64) + 1) / 2)
        gts.append((batch["depth"].numpy()[..., 0].astype(np.float64) + 1) / 2)
    p, g = np.concatenate(preds), np.concatenate(gts)
    e = p - g
    want = {"rmse": np.sqrt((e ** 2).mean(axis=(1, 2))).mean(),
            "l1_norm": np.abs(e).mean(axis=(1, 2)).mean(),
            "abs_diff": np.abs(p.mean(axis=(1, 2)) - g.mean(axis=(1, 2))).mean(),
            "l2_norm": 255.0 * np.sqrt((e ** 2).mean())}
    for key, thr in (("delta_1.25", 1.25), ("delta_1.25^2", 1.25 ** 2),
                     ("delta_1.25^3", 1.25 ** 3)):
        per = []
        for pi, gi in zip(p, g):
            v = gi > 0                        # holes: (-1 + 1) / 2 = 0 exactly
            pv, gv = pi[v], gi[v]
            safe = np.where(pv > 0, pv, 1.0)
            ratio = np.where(pv > 0, np.maximum(pv / gv, gv / safe), np.inf)
            per.append(100.0 * np.mean(ratio < thr))
        want[key] = np.mean(per)
    return want, e


def test_eval_binary_writes_json_with_table1_keys(tmp_path):
    """A real evaluation of a (barely) trained TS-GAN: the default --protocol=paper writes
    Table 1's row keys, equal to an independent NumPy recomputation, and reproduces the
    paper's relations (L2 norm / RMSE in [255, 257], L1 norm a per-pixel mean below the RMSE,
    Abs. Diff. a distinct, smaller quantity); --protocol=valid_pixels keeps the old keys."""
    runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=2), preset="demo", overrides=TINY,
                 verbose=False)
    out = tmp_path / "eval.json"
    res = _run_binary("experiments.eval_tsgan", f"--model_dir={tmp_path}", f"--output_json={out}",
                      "--limit=8")
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(out.read_text())
    keys = ("abs_diff", "l1_norm", "l2_norm", "rmse", "delta_1.25", "delta_1.25^2",
            "delta_1.25^3")
    for key in keys:
        assert np.isfinite(result[key]), key
    assert "fid" not in result                        # no --fid_weights
    assert result["num_images"] == 8 and result["protocol"] == "paper"
    assert "l2_norm" in res.stdout and "protocol: paper" in res.stdout

    want, err = _independent_paper_metrics(tmp_path, limit=8)
    for key in keys:
        assert result[key] == pytest.approx(want[key], rel=1e-4, abs=1e-4), key
    # the paper's relations (Table 1, lines 707-719)
    assert 255.0 <= result["l2_norm"] / result["rmse"] <= 257.0
    assert np.abs(err).min() <= result["l1_norm"] <= np.abs(err).max()
    assert result["l1_norm"] < result["rmse"]
    assert result["abs_diff"] < result["l1_norm"]
    assert abs(result["abs_diff"] - result["l1_norm"]) > 0.05 * result["l1_norm"]
    for key in keys[4:]:
        assert 0.0 <= result[key] <= 100.0

    # --protocol=valid_pixels: the binary's own function, in this process (the binary's flag
    # handling is covered above; one subprocess fewer keeps the default test set in budget)
    valid = runner.evaluate(str(tmp_path), limit=8, protocol="valid_pixels")
    assert valid["protocol"] == "valid_pixels" and valid["num_images"] == 8

    # export_savedmodel --model_kind=auto (default) recognises the train_tsgan run
    exp = _run_binary("experiments.export_savedmodel", f"--model_dir={tmp_path}",
                      f"--export_dir={tmp_path / 'saved_model'}")
    assert exp.returncode == 0, exp.stderr[-2000:]
    assert "-> tsgan" in exp.stdout
    assert os.path.exists(tmp_path / "saved_model" / "saved_model.pb")
    for key in ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3"):
        assert np.isfinite(valid[key]), key
    assert valid["l1"] > 1.0 > valid["delta1"]        # a sum over pixels; a fraction


def test_final_metrics_include_face_shape_on_both_domains(tmp_path):
    """Issue 20's numbers in every run's final metrics: the face-front RMSE against the best
    flat face on the paired held-out faces and on held-out target-domain faces (whose depth
    the student never reads), recomputed here with NumPy from the saved generator."""
    summary = runner.train(_opts(tmp_path, epochs=1, steps_per_epoch=2, eval_limit=6),
                           preset="demo", overrides=TINY, verbose=False)
    final = summary["final"]
    g = keras.models.load_model(tmp_path / "g_a2b.keras", compile=False)
    opts = _opts(tmp_path, eval_limit=6)
    cfg = runner.tsgan_config("demo", **TINY)
    from data_pipelines import sources

    domains = {"": runner.load_source(opts, cfg, "test", limit=6),
               "target_": sources.load_target_with_depth(
                   "synthetic_faces_target", "test", 32, seed=3,
                   synthetic_size=runner._synthetic_size(opts, "test"), limit=6)}
    for prefix, arrays in domains.items():
        rgb = arrays.rgb.astype(np.float32) / 127.5 - 1.0
        pred = (g(rgb, training=False).numpy()[..., 0] + 1.0) / 2.0
        rmse, flat, beats = [], [], []
        for p, d in zip(pred, arrays.depth.astype(np.float64)):
            valid = d > 0
            near = d[valid].min()
            gt = np.clip(1.0 - (d - near) / 250.0, 1 / 255, 1.0)
            region = valid & (d <= near + 60.0)            # within 60 mm of the nearest
            rmse.append(np.sqrt(np.mean((p[region] - gt[region]) ** 2)) * 250.0)
            flat.append(gt[region].std() * 250.0)
            beats.append(rmse[-1] < flat[-1])
        assert final[prefix + "face_rmse_mm"] == pytest.approx(np.mean(rmse), rel=1e-4)
        assert final[prefix + "face_flat_rmse_mm"] == pytest.approx(np.mean(flat), rel=1e-4)
        assert final[prefix + "face_beats_flat"] == pytest.approx(np.mean(beats))
    assert np.isfinite(final["target_rmse"])
    rows = runner.face_shape_rows(runner.summary_rows(str(tmp_path), final))
    assert set(rows) == {f"TS-GAN, {w}, {d} held-out" for w in ("step 0", "trained")
                         for d in ("source", "target")}


def test_sample_grid_shows_the_prediction_over_every_pixel():
    """The preview row: "predicted" on the ground truth's valid pixels (black elsewhere, like
    the ground truth) and "predicted, all pixels" everywhere, so a background predicted near
    shows (issue 20). A stand-in G_A2B predicts the nearest value (tanh 1 -> depth 1) on the
    left half and the farthest (-1 -> 0) on the right: with the ground truth's colour range,
    its left half is the range's warm end and its right half the cool end, valid or not."""
    import cv2

    from data_pipelines import synthetic_faces as sf
    from data_pipelines.paired import PairedArrays
    from depthlab import visualize

    ex = [sf.generate_face(i, 0, sf.FaceConfig(image_size=32)) for i in range(2)]
    arrays = PairedArrays(np.stack([e["rgb"] for e in ex]), np.stack([e["depth"] for e in ex]))

    class HalfNearModel:
        @staticmethod
        def g_a2b(rgb, training=False):
            shape = tf.shape(rgb)
            left = tf.cast(tf.range(shape[2]) < shape[2] // 2, tf.float32)
            return tf.broadcast_to((2.0 * left - 1.0)[None, None, :, None],
                                   tf.concat([shape[:3], [3]], 0))

    rows = runner._preview_rows(HalfNearModel(), arrays, None, n=2)
    assert len(rows) == 2 and all(len(r) == 6 for r in rows)
    assert len(runner.TSGANExperiment.preview_labels) == 6
    ends = visualize.colorize_depth(np.array([[1.0, 0.0]]), mask=np.ones((1, 2), bool),
                                    vmin=0.0, vmax=1.0, near_is_small=False)
    warm, cool = ends[:, :1], ends[:, 1:]
    for e, row in zip(ex, rows):
        valid = cv2.resize((e["depth"] > 0).astype(np.uint8), row[2].shape[1::-1],
                           interpolation=cv2.INTER_NEAREST).astype(bool)
        half = row[2].shape[1] // 2
        masked, full = row[2], row[3]
        assert (masked[~valid] == 0).all() and (masked[valid] != 0).any()
        assert (full[:, :half] == warm[0, 0]).all() and (full[:, half:] == cool[0, 0]).all()
        assert (masked[valid & (np.arange(masked.shape[1]) < half)[None]] == warm[0, 0]).all()


@pytest.mark.slow
def test_landmark_head_run_resumes_and_exports_depth_alone(tmp_path):
    """--config_override=lambda_landmark=... end to end on the embedded faces: the run logs the
    landmark loss, a run killed after its first epoch resumes to the same next-step losses as
    an uninterrupted one (the maps ride in the resumable stream), the saved G_A2B keeps its
    head, and the export returns depth alone. Other datasets / methods are refused by name."""
    over = dict(TINY, lambda_landmark=50.0)
    kw = dict(epochs=2, steps_per_epoch=2, synthetic_identities=4,
              synthetic_images_per_identity=1, export_dir=str(tmp_path / "a" / "saved_model"))
    straight = training.BatchLossRecorder()
    summary = runner.train(_opts(tmp_path / "a", **kw), preset="demo", overrides=over,
                           extra_callbacks=[straight], verbose=False)
    assert straight.history[-1]["landmark_loss"] > 0
    kw["export_dir"] = None
    with pytest.raises(KeyboardInterrupt):
        runner.train(_opts(tmp_path / "b", **kw), preset="demo", overrides=over,
                     extra_callbacks=[_Kill()], verbose=False)
    resumed = training.BatchLossRecorder()
    runner.train(_opts(tmp_path / "b", **kw), preset="demo", overrides=over,
                 extra_callbacks=[resumed], verbose=False)
    assert len(resumed.history) == 2 and set(resumed.history[0]) == set(straight.history[2])
    for got, want in zip(resumed.history, straight.history[2:]):
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), key
    g = keras.models.load_model(str(tmp_path / "a" / "g_a2b.keras"))
    assert g.with_aux is not None and g.output_shape[-1] == 3
    m = tf.saved_model.load(str(tmp_path / "a" / "saved_model"))
    out = m.signatures["serving_default"](rgb=tf.zeros((1, 40, 40, 3), tf.uint8))
    assert out["depth"].shape == (1, 40, 40, 1)
    assert summary["final"]["rmse"] > 0
