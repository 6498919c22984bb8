"""CycleGAN depth synthesis end to end: metrics vs skimage, unpaired streams, NYU domains,
resume after a kill, and train -> eval -> SavedModel through the binaries."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import nyu_depth_v2 as nyu
from depthlab import training
from depthlab.core import run as run_lib
from depthlab.models.cyclegan_depth import cyclegan_depth_config
from depthlab.runners import cyclegan_depth as runner
from depthlab.runners.cyclegan_depth_options import VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(image_size=16, gen_filters=8, gen_blocks=2, disc_filters=(8, 16),
            disc_strides=(2, 2), num_patches=8, nce_units=16)


def _opts(model_dir, **kw):
    base = dict(model_dir=str(model_dir), synthetic_identities=2,
                synthetic_images_per_identity=3, seed=5, log_every=1000, eval_limit=4,
                run_eagerly=True)
    base.update(kw)
    return runner.RunOptions(**base)


def test_image_metrics_match_skimage_at_data_range_255():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (3, 24, 20), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-40, 41, gt.shape), 0, 255).astype(np.uint8)
    got = runner.image_metrics(pred, gt)
    want_psnr = np.mean([peak_signal_noise_ratio(g, p, data_range=255) for p, g in zip(pred, gt)])
    want_ssim = np.mean([structural_similarity(p.astype(float), g.astype(float), data_range=255,
                                               gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False)
                         for p, g in zip(pred, gt)])
    assert got["psnr"] == pytest.approx(want_psnr, abs=1e-4)
    assert got["ssim"] == pytest.approx(want_ssim, abs=1e-4)
    assert got["num_images"] == 3
    # the quantisation used on G1's output: (o + 1) / 2 -> round(255 u)
    np.testing.assert_array_equal(runner.unit_to_uint8([0.0, 0.5, 1.0, 1.2, -0.1]),
                                  [0, 128, 255, 255, 0])


def test_constant_mean_baseline_by_hand():
    train = runner.DomainArrays(np.zeros((2, 16, 16, 3), np.uint8),
                                np.stack([np.full((16, 16), 10), np.full((16, 16), 30)]).astype(np.uint8))
    test = runner.DomainArrays(np.zeros((1, 16, 16, 3), np.uint8), np.full((1, 16, 16), 40, np.uint8))
    base = runner.mean_baselines(train, test)
    # constant 20 against 40 everywhere: MSE 400, PSNR = 10 log10(255^2 / 400)
    assert base["psnr_constant_mean"] == pytest.approx(10 * np.log10(255 ** 2 / 400))
    assert base["psnr_mean_image"] == pytest.approx(base["psnr_constant_mean"])


def test_training_stream_is_unpaired_seeded_and_resumable():
    n = 12
    # image i and depth i carry the index i, so pairing is visible
    image = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None] * 20, 3, -1)
    image = np.broadcast_to(image, (n, 4, 4, 3)).copy()
    depth = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None] * 20, (n, 4, 4)).copy()
    arrays = runner.DomainArrays(image, depth)

    def ids(ds, steps):
        out = []
        for b in ds.take(steps):
            i = np.round((b["image"].numpy()[:, 0, 0, 0] + 1) * 127.5 / 20).astype(int)
            d = np.round((b["depth"].numpy()[:, 0, 0, 0] + 1) * 127.5 / 20).astype(int)
            out.append((tuple(i), tuple(d)))
        return out

    a = ids(runner.make_train_dataset(arrays, 2, seed=1), 12)
    assert a == ids(runner.make_train_dataset(arrays, 2, seed=1), 12)     # seeded
    assert a[5:] == ids(runner.make_train_dataset(arrays, 2, seed=1, start_index=10), 7)
    first_epoch_images = sorted(i for img, _ in a[:6] for i in img)
    first_epoch_depths = sorted(i for _, dep in a[:6] for i in dep)
    assert first_epoch_images == first_epoch_depths == list(range(n))   # each seen once
    same = sum(i == d for img, dep in a for i, d in zip(img, dep))
    assert same < 6                            # of 24 draws; paired streams would give 24
    assert a != ids(runner.make_train_dataset(arrays, 2, seed=2), 12)


def test_nyu_domains_are_gray_images_and_8bit_depth(tmp_path):
    mat = nyu.write_labeled_fixture(tmp_path / "nyu_depth_v2_labeled.mat", num_frames=5,
                                    height=24, width=32, seed=1)
    opts = runner.RunOptions(model_dir=str(tmp_path / "run"), dataset="nyu_depth_v2",
                             data_dir=str(tmp_path))
    train = runner.load_domains(opts, "train", 16)
    frames = nyu.read_labeled(mat, "train", 16)
    assert len(train) == 4 and train.image.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(train.depth, nyu.depth_to_uint8(frames.depth))
    luma = frames.rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.max(np.abs(train.image[..., 1].astype(np.float64) - luma)) <= 0.5 + 1e-6
    assert (train.image[..., 0] == train.image[..., 2]).all()
    with pytest.raises(ValueError, match="data_dir"):
        runner.RunOptions(model_dir="x", dataset="nyu_depth_v2")


class _Kill(keras.callbacks.Callback):
    """Simulates a kill right after the first epoch's checkpoint was written."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt("simulated kill")


def test_resume_after_kill_gives_the_same_next_epoch_losses(tmp_path):
    cfg = cyclegan_depth_config("demo", variant="suarez", pool_size=2, **TINY)
    kw = dict(epochs=2, steps_per_epoch=1)
    straight = training.BatchLossRecorder()
    runner.train(_opts(tmp_path / "a", **kw), cfg, extra_callbacks=[straight], verbose=False)

    with pytest.raises(KeyboardInterrupt):
        runner.train(_opts(tmp_path / "b", **kw), cfg, extra_callbacks=[_Kill()], verbose=False)
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints")).endswith("-1")
    resumed = training.BatchLossRecorder()
    runner.train(_opts(tmp_path / "b", **kw), cfg, extra_callbacks=[resumed], verbose=False)
    assert len(straight.history) == 2 and len(resumed.history) == 1   # only epoch 2 ran
    for got, want in zip(resumed.history, straight.history[1:]):
        assert set(got) == set(want)
        for key in want:
            assert np.isfinite(got[key])
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
    with pytest.raises(run_lib.ResumeError, match="--seed: 5 -> 9"):
        runner.train(_opts(tmp_path / "b", seed=9, **kw), cfg, verbose=False)
    # a model-config change is refused by the effective config's field
    other = cyclegan_depth_config("demo", variant="suarez", pool_size=3, **TINY)
    with pytest.raises(run_lib.ResumeError, match="model config pool_size: 2 -> 3"):
        runner.train(_opts(tmp_path / "b", **kw), other, verbose=False)


def _run_binary(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


def _paper_row(variant):
    from depthlab import reporting

    table = reporting.load_paper_table("cyclegan_depth_table1")
    return table["rows"][table["variant_rows"][variant][0]]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_train_eval_export_binaries_end_to_end(variant, tmp_path):
    """Each of Table 1's seven rows: one step of train_cyclegan_depth (tiny networks), then
    eval_cyclegan_depth printing the paper's row beside ours, and the exported SavedModel."""
    run, export_dir, out = tmp_path / "run", tmp_path / "saved_model", tmp_path / "eval.json"
    res = _run_binary("experiments.train_cyclegan_depth", f"--variant={variant}",
                      "--preset=demo", "--image_size=16", f"--model_dir={run}", "--epochs=1",
                      "--steps_per_epoch=1", "--seed=1", "--synthetic_identities=2",
                      "--synthetic_images_per_identity=2", "--eval_limit=4",
                      "--num_patches=8", "--config_override=gen_blocks=1",
                      "--config_override=nce_units=16", f"--export_dir={export_dir}",
                      "--lambda_gan=0.9")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{variant}, trained" in res.stdout and "predict constant mean" in res.stdout
    record = training.read_json(str(run / "config.json"))
    assert record["model"]["lambda_gan"] == 0.9 and record["model"]["variant"] == variant
    assert (record["epochs"], record["batch_size"]) == (1, 1)
    assert runner.latest_sample_grid(str(run)).endswith(".png")
    assert any(f.startswith("events") for _, _, fs in os.walk(run / "tensorboard") for f in fs)

    res = _run_binary("experiments.eval_cyclegan_depth", f"--model_dir={run}",
                      f"--output_json={out}", "--limit=4")
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(out.read_text())
    assert np.isfinite(result["psnr"]) and 0 < result["ssim"] <= 1
    assert result["data_range"] == 255 and result["num_images"] == 4
    assert f"{_paper_row(variant)['psnr']:.4f}" in res.stdout    # the paper's row beside ours
    final = training.read_json(str(run / "metrics_final.json"))
    assert result["psnr"] == pytest.approx(final["psnr"], rel=1e-6)

    # the SavedModel's output equals the Keras G1 (with gray conversion) restored from disk
    model, opts = runner.load_trained(str(run))
    from depthlab.export import generator_output_to_depth, rgb_uint8_to_generator_input
    from depthlab.models.cyclegan_depth import deployable_generator

    rgb = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    want, _ = generator_output_to_depth(
        deployable_generator(model, opts.input_mode)(rgb_uint8_to_generator_input(rgb, 16)))
    loaded = tf.saved_model.load(str(export_dir))
    got = loaded.signatures["serving_default"](rgb=tf.constant(rgb))["depth"].numpy()
    assert got.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


def test_train_binary_rejects_nyu_without_data_dir(tmp_path):
    nyu_no_dir = _run_binary("experiments.train_cyclegan_depth", "--dataset=nyu_depth_v2",
                             f"--model_dir={tmp_path}")
    assert nyu_no_dir.returncode != 0 and "data_dir" in nyu_no_dir.stderr


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dclgan", "simdcl", "hnegsrc"])
def test_contrastive_rows_train_resume_and_evaluate_through_the_runner(variant, tmp_path):
    """Table 1's DCLGAN / SimDCL / HnegSRC rows through the same trainer: a tiny run, its
    checkpoint holding every network of the variant, an exact resume, an evaluation."""
    import tensorflow as tf

    from depthlab.core import registry

    experiment = registry.get_experiment("cyclegan_depth")()
    d = str(tmp_path / variant)
    first = runner.train(experiment.tiny_options(d, variant=variant), verbose=False)
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(os.path.join(d, "checkpoints"))
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    names = {child.local_name for child in graph.nodes[0].children}   # the root's objects
    if variant in ("dclgan", "simdcl"):
        assert {"g2", "d_x", "nce_head_y_0"} <= names
    if variant == "simdcl":
        assert {"sim_xr", "sim_xf", "sim_yr", "sim_yf"} <= names
    more = runner.train(experiment.tiny_options(d, variant=variant, epochs=2), verbose=False)
    assert more["run"].status == "resume" and more["run"].initial_epoch == 1
    assert np.isfinite(more["final"]["psnr"]) and first["final"]["collapsed"] is not True
