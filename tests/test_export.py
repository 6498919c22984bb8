"""SavedModel and LiteRT export of the depth generator and the face-depth enhancers.

LiteRT runs the same float32 graph through XNNPACK kernels, whose summation order differs
from TF's: outputs (in [0, 1]) must agree with the SavedModel within 1e-4 absolute.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from depthlab import export, training
from depthlab.configs import tsgan_config
from depthlab.models.enhancers import build_enhancer
from depthlab.models.tsgan import build_generator

LITERT_TOLERANCE = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def delta():
    return build_enhancer("delta")


def test_generator_savedmodel_returns_depth_at_the_input_size(tmp_path):
    gen = build_generator(tsgan_config("demo", image_size=32, gen_filters=8, gen_blocks=2))
    sig = tf.saved_model.load(export.export_depth_generator(gen, str(tmp_path / "sm"), 32)
                              ).signatures["serving_default"]
    rng = np.random.default_rng(1)
    for h, w in ((32, 32), (96, 80), (20, 24)):
        rgb = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        out = sig(rgb=tf.constant(rgb))
        assert out["depth"].shape == (2, h, w, 1) and out["depth_uint16"].shape == (2, h, w, 1)
        # Independently: the generator at its 32x32 resolution, then TF's bilinear resize
        # back to (h, w) (antialiased when shrinking).
        x = tf.image.resize(tf.cast(rgb, tf.float32), (32, 32), antialias=True) / 127.5 - 1.0
        unit = np.clip((gen(x, training=False).numpy()[..., :1] + 1.0) / 2.0, 0.0, 1.0)
        want = np.clip(tf.image.resize(unit, (h, w), antialias=True).numpy(), 0.0, 1.0)
        np.testing.assert_allclose(out["depth"].numpy(), want, atol=1e-5)
        np.testing.assert_array_equal(out["depth_uint16"].numpy(),
                                      np.round(out["depth"].numpy() * 65535).astype(np.uint16))


def test_generator_litert_matches_the_savedmodel(tmp_path):
    gen = build_generator(tsgan_config("demo", image_size=32, gen_filters=8, gen_blocks=2))
    rgb = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    saved = tf.saved_model.load(export.export_depth_generator(gen, str(tmp_path / "sm"), 32))
    want = saved.signatures["serving_default"](rgb=tf.constant(rgb))["depth"].numpy()
    path = export.export_depth_generator_litert(gen, str(tmp_path / "lite"), 32)
    got = export.run_litert(path, {"rgb": rgb})["depth"]
    assert got.shape == (1, 32, 32, 1) and got.dtype == np.float32
    assert np.abs(got - want).max() < LITERT_TOLERANCE
    # The output is a real function of the input, not a constant.
    other = export.run_litert(path, {"rgb": 255 - rgb})["depth"]
    assert np.abs(other - got).max() > 1e-3
    with open(tmp_path / "lite" / "signature.json") as f:
        assert json.load(f)["inputs"] == {"rgb": "uint8 (1, 32, 32, 3)"}


def test_enhancer_savedmodel_takes_paper_codes_and_litert_matches(tmp_path, delta):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 65535, (2, 256, 256, 1)).astype(np.uint16)
    codes[:, :40] = 65535                                   # a band of holes
    saved = tf.saved_model.load(export.export_enhancer(delta, str(tmp_path / "sm")))
    out = saved.signatures["serving_default"](depth_uint16=tf.constant(codes))
    keras_out = delta(codes.astype(np.float32) / 65535.0).numpy()
    np.testing.assert_allclose(out["depth"].numpy(), keras_out, atol=1e-6)
    unit = out["depth"].numpy()                       # float32, as the graph computes it
    np.testing.assert_array_equal(out["depth_uint16"].numpy(),
                                  np.round(np.clip(unit, 0, 1) * np.float32(65535)).astype(np.uint16))
    path = export.export_enhancer_litert(delta, str(tmp_path / "lite"))
    lite = export.run_litert(path, {"depth": codes[:1].astype(np.float32) / 65535.0})["depth"]
    assert np.abs(lite - out["depth"].numpy()[:1]).max() < LITERT_TOLERANCE


def test_bad_export_and_litert_inputs_are_named(tmp_path, delta):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "file").write_text("x")
    with pytest.raises(FileExistsError, match="export_dir"):
        export.export_enhancer(delta, str(target))
    with pytest.raises(FileNotFoundError, match="no LiteRT model"):
        export.run_litert(str(tmp_path / "missing"), {"depth": np.zeros((1, 256, 256, 1))})
    path = export.export_enhancer_litert(delta, str(tmp_path / "lite"))
    with pytest.raises(ValueError, match="float32 of shape"):
        export.run_litert(path, {"depth": np.zeros((1, 128, 128, 1), np.float32)})
    with pytest.raises(ValueError, match="takes inputs"):
        export.run_litert(path, {"rgb": np.zeros((1, 256, 256, 1), np.float32)})


def test_export_binary_writes_an_enhancer_litert_model(tmp_path, delta):
    run = tmp_path / "run"
    training.write_json(str(run / "config.json"), {"variant": "delta"})
    delta.save_weights(str(run / "best.weights.h5"))
    out_dir = tmp_path / "lite"
    proc = subprocess.run(       # --model_kind=auto (default): config.json says enhancer
        [sys.executable, "-m", "experiments.export_savedmodel",
         "--format=litert", f"--model_dir={run}", f"--export_dir={out_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--model_kind=auto: " in proc.stdout and "-> enhancer" in proc.stdout
    x = np.random.default_rng(2).random((1, 256, 256, 1)).astype(np.float32)
    got = export.run_litert(str(out_dir), {"depth": x})["depth"]
    assert np.abs(got - delta(x).numpy()).max() < LITERT_TOLERANCE
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.export_savedmodel", "--model_kind=gan",
         f"--model_dir={run}", f"--export_dir={tmp_path / 'x'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "model_kind" in bad.stderr


def _config(tmp_path, name, record):
    run = tmp_path / name
    training.write_json(str(run / "config.json"), record)
    return str(run)


def test_detect_kind_reads_each_trainers_config(tmp_path):
    import dataclasses

    from depthlab.models.cyclegan_depth import CycleGANDepthConfig
    from depthlab.models.dsr_distill import DSRConfig
    from depthlab.runners import cyclegan_depth, dsr_distill, enhancer, exporters, recognition
    from depthlab.runners import tsgan as tsgan_runner

    def opts(cls):
        return dataclasses.asdict(cls(model_dir="x"))

    records = {
        "tsgan": {"trainer": "experiments.train_tsgan", "model": {}},
        "tsgan_old": {"model": tsgan_config("demo").to_dict(), "ablation": "none",
                      **opts(tsgan_runner.RunOptions)},
        "cyclegan_depth": {"model": CycleGANDepthConfig().to_dict(),
                           **opts(cyclegan_depth.RunOptions)},
        "dsr": {"model": DSRConfig().to_dict(), **opts(dsr_distill.RunOptions)},
        "two_stage": {"stage": 2, "model": {}, "stage1_dir": "s1"},
        "enhancer": opts(enhancer.EnhancerRunOptions),
        "recognition": opts(recognition.RunOptions),
    }
    for trainer, kind in (("experiments.train_dsr_distill", "dsr"), ("enhancer", "enhancer"),
                          ("two_stage_stage2", "two_stage"), ("dsr_distill", "dsr")):
        assert exporters.kind_of_trainer(trainer) == kind, trainer
    for name, record in records.items():
        assert exporters.detect_kind(_config(tmp_path, name, record)) == name.split("_old")[0]
    with pytest.raises(ValueError, match="cannot tell which trainer.*--model_kind=one of: "
                                         "tsgan"):
        exporters.detect_kind(_config(tmp_path, "odd", {"something": 1}))
    with pytest.raises(ValueError, match="trainer 'experiments.train_x', which has no export"):
        exporters.detect_kind(_config(tmp_path, "x", {"trainer": "experiments.train_x"}))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        exporters.detect_kind(str(tmp_path / "none"))
    rec = str(tmp_path / "recognition")
    with pytest.raises(FileNotFoundError, match="model.keras does not exist; the run has not "
                                                "finished"):
        exporters.export_run(rec, str(tmp_path / "out"))
    with pytest.raises(ValueError, match="--format=litert is not available for "
                                         "--model_kind=dsr"):
        exporters.export_run(rec, str(tmp_path / "out"), kind="dsr", fmt="litert")
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.export_savedmodel", f"--model_dir={tmp_path / 'odd'}",
         f"--export_dir={tmp_path / 'out'}"], cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    assert bad.returncode != 0 and "--model_kind=one of" in bad.stderr
    assert "Traceback" not in bad.stderr


# -- issue 19: "any batch" includes N = 0 --------------------------------------------------

def _saved_signatures(path):
    return tf.saved_model.load(path).signatures


def _assert_empty_like_one(signature, empty_inputs, one_inputs):
    """The empty batch's outputs: the names, dtypes and per-image shapes of a one-image call
    on the same H x W, with N = 0."""
    got = signature(**{k: tf.constant(v) for k, v in empty_inputs.items()})
    want = signature(**{k: tf.constant(v) for k, v in one_inputs.items()})
    assert set(got) == set(want)
    for name, value in got.items():
        assert value.dtype == want[name].dtype, name
        assert tuple(value.shape) == (0,) + tuple(want[name].shape[1:]), (name, value.shape)


def _generator_signatures(tmp_path):
    gen = build_generator(tsgan_config("demo", image_size=32, gen_filters=8, gen_blocks=2))
    return {"tsgan generator": _saved_signatures(
        export.export_depth_generator(gen, str(tmp_path / "gen"), 32))}


def _enhancer_signatures(tmp_path):
    model = build_enhancer("delta", image_size=128)
    return {"enhancer": _saved_signatures(export.export_enhancer(model, str(tmp_path / "enh")))}


def _cyclegan_signatures(tmp_path):
    from depthlab.models.cyclegan_depth import build_cyclegan_depth
    from depthlab.runners import cyclegan_depth as runner

    model = build_cyclegan_depth("fastcut", image_size=16, gen_filters=4, gen_downsamplings=1,
                                 gen_blocks=1, disc_filters=(4, 8), disc_strides=(2, 1),
                                 nce_units=8, num_patches=8)
    model(np.zeros((1, 16, 16, 3), np.float32))
    return {"cyclegan G1": _saved_signatures(runner.export(model, str(tmp_path / "cg"), "gray"))}


def _dsr_signatures(tmp_path):
    from depthlab.models.dsr_distill import build_dsrnet, dsr_config
    from depthlab.runners.dsr_distill import export_dsrnet

    net = build_dsrnet(dsr_config("demo", filters=8, n_blocks=1))
    net(np.ones((1, 8, 8, 1), np.float32))
    return {"dsr": _saved_signatures(export_dsrnet(net, str(tmp_path / "dsr")))}


def _two_stage_signatures(tmp_path):
    from depthlab.models import two_stage as ts
    from depthlab.runners import two_stage as runner

    s1 = tmp_path / "s1"
    s1.mkdir()
    ts.build_stage1("demo", 4, input_hw=(32, 32), base_filters=4).save(str(s1 / "stage1.keras"))
    training.write_json(str(s1 / "config.json"), {"trainer": "two_stage_stage1", "stage": 1})
    s2 = tmp_path / "s2"
    s2.mkdir()
    gen, _ = ts.build_stage2(ts.stage2_config("demo", gen_filters=4, n_res_blocks=1,
                                              disc_filters=(4, 8), disc_strides=(2, 1)))
    gen.save(str(s2 / "generator.keras"))
    training.write_json(str(s2 / "config.json"), {"trainer": "two_stage_stage2", "stage": 2,
                                                  "stage1_dir": str(s1),
                                                  "model": {"max_depth": 10.0}})
    return {"two-stage stage 1": _saved_signatures(runner.export_pipeline(str(s1),
                                                                         str(tmp_path / "p1"))),
            "two-stage stage 1+2": _saved_signatures(runner.export_pipeline(str(s2),
                                                                           str(tmp_path / "p2")))}


#: signature name -> inputs of one image (the empty batch: the same with N = 0)
_ONE_IMAGE = {
    "tsgan generator": {"serving_default": {"rgb": np.full((1, 20, 24, 3), 128, np.uint8)}},
    "cyclegan G1": {"serving_default": {"rgb": np.full((1, 20, 24, 3), 128, np.uint8)}},
    "enhancer": {"serving_default": {"depth_uint16": np.full((1, 128, 128, 1), 30000,
                                                             np.uint16)}},
    "dsr": {"serving_default": {"depth": np.full((1, 8, 8, 1), 1.5, np.float32)},
            "serve_uint16": {"depth_mm": np.full((1, 8, 8, 1), 1500, np.uint16)}},
    "two-stage stage 1": {"serving_default": {
        "rgb": np.full((1, 40, 48, 3), 100, np.uint8),
        "sparse_depth": np.zeros((1, 40, 48, 1), np.float32)}},
}
_ONE_IMAGE["two-stage stage 1+2"] = _ONE_IMAGE["two-stage stage 1"]


@pytest.mark.parametrize("family", [_generator_signatures, _enhancer_signatures,
                                    _cyclegan_signatures, _dsr_signatures,
                                    _two_stage_signatures])
def test_every_exported_signature_serves_an_empty_batch(tmp_path, family):
    """Issue 19: the signatures promise any batch; N = 0 returns empty outputs of the shape
    and dtype of a real call (one image on the same H x W) instead of an error."""
    for model, signatures in family(tmp_path).items():
        for name, one in _ONE_IMAGE[model].items():
            empty = {k: v[:0] for k, v in one.items()}
            _assert_empty_like_one(signatures[name], empty, one)


def test_empty_batch_still_gets_the_input_checks(tmp_path):
    """An empty batch of the wrong size / channels is still refused naming the input."""
    (sig,) = _enhancer_signatures(tmp_path).values()
    serve = sig["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected 128x128 images"):
        serve(depth_uint16=tf.zeros((0, 64, 64, 1), tf.uint16))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected 1 channel"):
        serve(depth_uint16=tf.zeros((0, 128, 128, 3), tf.uint16))
