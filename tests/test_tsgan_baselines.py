"""TS-GAN Table 1 baselines (FCN [4], cGAN [33], CycleGAN [24]), the CurtinFaces 47/5 protocol
and eval_tsgan --model_dirs. Tiny networks (32 px, 1 residual block), a few steps each."""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

from data_pipelines import sources
from data_pipelines.datasets import curtinfaces
from depthlab import metrics, training
from depthlab.configs import tsgan_config
from depthlab.models import tsgan_baselines as tb
from depthlab.nets import PatchDiscriminator
from depthlab.runners import tsgan as runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
# lambda_landmark 0: the demo preset's landmark head is TS-GAN's teacher's (refused below)
TINY = dict(image_size=32, gen_filters=8, gen_blocks=1, disc_filters=(8, 16, 32),
            disc_strides=(2, 2, 1), pool_size=4, lambda_landmark=0.0)

_spec = importlib.util.spec_from_file_location(
    "make_face_fixtures", os.path.join(FIXTURES, "make_face_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
CURTIN_TINY = curtinfaces.CurtinFacesConfig(name="fixture_6x8", frame_height=6, frame_width=8)


def _batch(seed=0, n=3, size=32):
    rng = np.random.default_rng(seed)
    mask = np.ones((n, size, size, 1), np.float32)
    mask[:, :4] = 0.0                                # some invalid pixels
    return {"rgb": tf.constant(rng.uniform(-1, 1, (n, size, size, 3)), tf.float32),
            "depth": tf.constant(rng.uniform(-1, 1, (n, size, size, 1)), tf.float32),
            "mask": tf.constant(mask)}


def _model(method, **kw):
    model = tb.build_baseline(method, tsgan_config("demo", **TINY), seed=1, **kw)
    return tb.compile_baseline(model, keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))


def _masked_l1(pred, target, mask):
    """Mean |pred - target| over valid pixels, each counted once per channel."""
    diff = np.abs(pred - target)
    mask = np.broadcast_to(mask, diff.shape)
    return float(np.sum(diff * mask) / np.sum(mask))


def _bce(scores, label):
    s = scores.astype(np.float64)
    # -[label log sigmoid(s) + (1 - label) log(1 - sigmoid(s))], stable form
    return float(np.mean(np.maximum(s, 0) - s * label + np.log1p(np.exp(-np.abs(s)))))


# ----------------------------------------------------------------------------------------------
# models


def test_fcn_is_one_absolute_error_loss_without_discriminator():
    model, data = _model("fcn"), _batch()
    assert not any(isinstance(layer, PatchDiscriminator) for layer in model._flatten_layers())
    assert set(model.checkpoint_objects()) == {"g_a2b", "g_optimizer"}
    assert len(model.trainable_variables) == len(model.g_a2b.trainable_variables)
    before = [v.numpy().copy() for v in model.g_a2b.trainable_variables]
    want = _masked_l1(model.g_a2b(data["rgb"]).numpy(), data["depth"].numpy(),
                      data["mask"].numpy())           # demo preset masks the pixel loss
    logs = model.train_step(data)
    assert set(logs) == {"pixel_loss"}
    assert float(logs["pixel_loss"]) == pytest.approx(want, rel=1e-5)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, model.g_a2b.trainable_variables))


def test_cgan_discriminator_sees_the_rgb_depth_pair():
    model, data = _model("cgan"), _batch(1)
    assert model.d_pair.input_shape[-1] == 3 + model.config.depth_channels
    rgb, depth, mask = (data[k].numpy() for k in ("rgb", "depth", "mask"))
    depth = np.repeat(depth, model.config.depth_channels, -1)   # as TS-GAN replicates it
    fake = model.g_a2b(rgb).numpy()
    d_real = model.d_pair(np.concatenate([rgb, depth], -1)).numpy()
    d_fake = model.d_pair(np.concatenate([rgb, fake], -1)).numpy()
    want_gan = _bce(d_fake, 1.0)
    want_l1 = _masked_l1(fake, depth, mask)
    want_d = 0.5 * (_bce(d_real, 1.0) + _bce(d_fake, 0.0))
    g_before = [v.numpy().copy() for v in model.g_a2b.trainable_variables]
    d_before = [v.numpy().copy() for v in model.d_pair.trainable_variables]
    logs = {k: float(v) for k, v in model.train_step(data).items()}
    assert logs["g_gan"] == pytest.approx(want_gan, rel=1e-4)
    assert logs["g_l1"] == pytest.approx(want_l1, rel=1e-5)
    assert logs["g_loss"] == pytest.approx(want_gan + 100.0 * want_l1, rel=1e-4)
    assert logs["disc_loss"] == pytest.approx(want_d, rel=1e-4)
    assert all(np.isfinite(v) for v in logs.values())
    for before, net in ((g_before, model.g_a2b), (d_before, model.d_pair)):
        assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, net.trainable_variables))
    # the LSGAN option: (D - 1)^2 for G
    lsgan = _model("cgan", gan_loss="lsgan")
    d_fake = lsgan.d_pair(np.concatenate([rgb, lsgan.g_a2b(rgb).numpy()], -1)).numpy()
    assert float(lsgan.train_step(data)["g_gan"]) == pytest.approx(
        float(np.mean((d_fake - 1.0) ** 2)), rel=1e-4)
    with pytest.raises(ValueError, match="gan_loss"):
        tb.build_baseline("cgan", tsgan_config("demo", **TINY), gan_loss="wgan")


def test_cyclegan_losses_are_the_two_cycles_and_both_gans():
    model, data = _model("cyclegan"), _batch(2)
    a, b = data["rgb"].numpy(), data["depth"].numpy()
    b3 = np.repeat(b, model.config.depth_channels, -1)
    fake_b, fake_a = model.g_a2b(a).numpy(), model.g_b2a(b3).numpy()
    want_cycle = (np.mean(np.abs(model.g_b2a(fake_b).numpy() - a))
                  + np.mean(np.abs(model.g_a2b(fake_a).numpy() - b3)))
    want_gan = (np.mean((model.d_depth(fake_b).numpy() - 1) ** 2)
                + np.mean((model.d_rgb(fake_a).numpy() - 1) ** 2))
    before = [v.numpy().copy() for v in model.g_a2b.trainable_variables]
    logs = {k: float(v) for k, v in model.train_step(data).items()}
    assert logs["cycle_loss"] == pytest.approx(want_cycle, rel=1e-4)
    assert logs["g_gan"] == pytest.approx(want_gan, rel=1e-4)
    assert logs["g_loss"] == pytest.approx(want_gan + 10.0 * want_cycle, rel=1e-4)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.allclose(x, y.numpy()) for x, y in zip(before, model.g_a2b.trainable_variables))


@pytest.mark.parametrize("method", tb.BASELINES)
def test_config_round_trip_and_unknown_method(method):
    model = tb.build_baseline(method, tsgan_config("demo", **TINY), seed=4)
    clone = type(model).from_config(model.get_config())
    assert clone.config == model.config and clone.seed == 4
    with pytest.raises(ValueError, match="--method"):
        tb.build_baseline("pix2pix")
    # the TS-GAN teacher's optional gradient term is refused, not silently dropped
    with pytest.raises(ValueError, match=f"lambda_gradient=2.0 .*--method={method}"):
        tb.build_baseline(method, tsgan_config("demo", lambda_gradient=2.0, **TINY))
    with pytest.raises(ValueError, match=f"lambda_landmark=1000.0 .*--method={method}"):
        tb.build_baseline(method, tsgan_config("demo"))


# ----------------------------------------------------------------------------------------------
# runner + binaries


def _opts(model_dir, method, **kw):
    base = dict(model_dir=str(model_dir), batch_size=4, synthetic_identities=4,
                synthetic_images_per_identity=3, seed=3, log_every=1000, epochs=1,
                steps_per_epoch=2, eval_limit=8, method=method)
    base.update(kw)
    return runner.TSGANOptions(**base)


def _run_binary(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A tiny FCN run and a tiny cGAN run (2 steps each)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for method in ("fcn", "cgan"):
        summary = runner.train(_opts(root / method, method), preset="demo", overrides=TINY,
                               verbose=False)
        out[method] = (str(root / method), summary)
    return out


def test_runs_record_their_method_and_train_finite(two_runs):
    for method, (model_dir, summary) in two_runs.items():
        record = training.read_json(os.path.join(model_dir, "config.json"))
        assert record["method"] == method and record["trainer"] == runner.TRAINER
        assert all(np.isfinite(summary["final"][k]) for k in runner.EVAL_KEYS)
        assert "collapsed" in summary["final"]          # the collapse guard's verdict
        assert isinstance(summary["model"], tb.CGANBaseline if method == "cgan"
                          else tb.FCNBaseline)


def test_eval_model_dirs_writes_rows_keyed_by_method(two_runs, tmp_path):
    out = tmp_path / "table1.json"
    dirs = [two_runs["fcn"][0], two_runs["cgan"][0]]
    res = _run_binary("experiments.eval_tsgan", f"--model_dirs={','.join(dirs)}",
                      f"--output_json={out}", "--limit=8")   # the runs' eval_limit
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"fcn", "cgan"}
    for method, (model_dir, _) in two_runs.items():
        assert set(metrics.PAPER_TABLE1_KEYS) <= set(rows[method])
        # The restored generator of each run reproduces the metrics its trainer measured.
        final = training.read_json(os.path.join(model_dir, "metrics_final.json"))
        again = runner.evaluate(model_dir, limit=8, protocol="valid_pixels")
        for key in runner.EVAL_KEYS:
            assert again[key] == pytest.approx(final[key], rel=1e-4, abs=1e-6), (method, key)
    # The paper's Table 1 in its own layout (methods as columns) with our runs beside it.
    header = next(line for line in res.stdout.splitlines() if line.startswith("| Metric"))
    assert "cGAN [33]" in header and "ours: FCN" in header and "ours: cGAN" in header
    l1_row = next(line for line in res.stdout.splitlines() if line.startswith("| L1 Norm"))
    assert "0.2201" in l1_row and f"{rows['fcn']['l1_norm']:.5f}" in l1_row


def test_eval_refuses_directories_of_other_kinds(tmp_path, two_runs):
    from depthlab.models.cyclegan_depth import CycleGANDepthConfig
    from depthlab.runners import cyclegan_depth

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"{empty}: no config.json"):
        runner.evaluate_runs([two_runs["fcn"][0], str(empty)])
    # what train_cyclegan_depth writes (depthlab/runners/cyclegan_depth.py: 'model' + options)
    other = tmp_path / "cyclegan_depth_run"
    other.mkdir()
    opts = cyclegan_depth.RunOptions(model_dir=str(other))
    training.write_json(str(other / "config.json"),
                        {"model": CycleGANDepthConfig().to_dict(), **dataclasses.asdict(opts)})
    with pytest.raises(ValueError, match=rf"{other}: config.json is not from "
                                         rf"experiments.train_tsgan: found .*'variant'"):
        runner.evaluate(str(other))
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    training.write_json(str(tagged / "config.json"), {"trainer": "experiments.train_enhancer"})
    with pytest.raises(ValueError, match=rf"{tagged}: config.json was written by trainer "
                                         "'experiments.train_enhancer'"):
        runner.load_trained(str(tagged))
    with pytest.raises(ValueError, match="both method 'fcn'"):
        runner.evaluate_runs([two_runs["fcn"][0], two_runs["fcn"][0]])
    # --model_dirs label=dir: labels name the rows, so two runs of one method can be compared
    fcn = two_runs["fcn"][0]
    rows = runner.evaluate_runs([fcn, fcn], labels=["first", None], limit=2)
    assert list(rows) == ["first", "fcn"] and rows["first"] == rows["fcn"]
    with pytest.raises(ValueError, match="both label 'x'"):
        runner.evaluate_runs([fcn, two_runs["cgan"][0]], labels=["x", "x"])


def test_binaries_name_an_unknown_method_and_a_foreign_directory(tmp_path):
    bad = _run_binary("experiments.train_tsgan", "--method=pix2pix", f"--model_dir={tmp_path}")
    assert bad.returncode != 0 and "method" in bad.stderr and "cyclegan" in bad.stderr
    (tmp_path / "config.json").write_text(json.dumps({"trainer": "experiments.train_dsr"}))
    res = _run_binary("experiments.eval_tsgan", f"--model_dirs={tmp_path}")
    assert res.returncode != 0
    assert f"{tmp_path}: config.json was written by trainer 'experiments.train_dsr'" in res.stderr


def test_run_options_validate_method_and_protocol(tmp_path):
    with pytest.raises(ValueError, match="--method='unet'"):
        runner.TSGANOptions(model_dir=str(tmp_path), method="unet")
    with pytest.raises(ValueError, match="--ablation=teacher_only"):
        runner.TSGANOptions(model_dir=str(tmp_path), method="fcn", ablation="teacher_only")
    with pytest.raises(ValueError, match="--curtin_protocol=paper_47_5 needs --dataset=curtinfaces"):
        runner.TSGANOptions(model_dir=str(tmp_path), curtin_protocol="paper_47_5")


# ----------------------------------------------------------------------------------------------
# CurtinFaces paper protocol


def test_protocol_subjects_are_the_last_five_in_natural_order():
    ids = [str(i) for i in range(1, 53)]          # unpadded names sort naturally, not as text
    split = curtinfaces.protocol_subjects(reversed(ids), "paper_47_5")
    assert split["test"] == ("48", "49", "50", "51", "52")
    assert split["train"] == tuple(ids[:47])
    with pytest.raises(ValueError, match="needs the 52 CurtinFaces subjects; this build holds 3"):
        curtinfaces.protocol_subjects(["01", "02", "03"], "paper_47_5")
    with pytest.raises(ValueError, match="--curtin_protocol='all_52'"):
        curtinfaces.protocol_subjects(ids, "all_52")


def test_protocol_on_a_52_subject_tree_in_the_real_layout(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    root = tmp_path / "manual" / "CurtinFaces"
    for subject in range(1, 53):
        fx.write_curtin_mat(str(root / f"{subject:02d}" / "01.mat"), 4 * subject + 1)
    fx.write_curtin_mat(str(root / "52" / "02.mat"), 4 * 52 + 2)   # codes < 256: uint8 R
    original = tfds.builder
    monkeypatch.setattr(tfds, "builder",
                        lambda name, **kw: original(name, config=CURTIN_TINY, **kw))
    load = lambda split: sources.load_paired(  # noqa: E731
        "curtinfaces", split, 8, data_dir=str(tmp_path / "data"),
        manual_dir=str(tmp_path / "manual"), protocol="paper_47_5")
    test, train = load("test"), load("train")
    # R = identity code everywhere (fixture pattern), so any resize keeps it per image.
    codes = lambda arrays: sorted(int(c) for c in np.unique(arrays.rgb[..., 0]))  # noqa: E731
    assert codes(test) == [4 * s + 1 for s in range(48, 53)] + [210]
    assert codes(train) == [4 * s + 1 for s in range(1, 48)]
    assert sorted(set(test.labels.tolist())) == [47, 48, 49, 50, 51]   # index in the 52 ids
    with pytest.raises(ValueError, match="only applies to --dataset=curtinfaces"):
        sources.load_paired("synthetic_faces", "test", 8, protocol="paper_47_5")


def test_protocol_refuses_the_three_subject_fixture(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    original = tfds.builder
    monkeypatch.setattr(tfds, "builder",
                        lambda name, **kw: original(name, config=CURTIN_TINY, **kw))
    with pytest.raises(ValueError, match=r"this build holds 3: \['01', '02', '03'\]"):
        sources.load_paired("curtinfaces", "test", 8, data_dir=str(tmp_path),
                            manual_dir=os.path.join(FIXTURES, "curtinfaces"),
                            protocol="paper_47_5")
