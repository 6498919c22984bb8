"""mixed_bfloat16 training of every depthlab network (issue 8): one train step of a tiny
configuration per trainer gives finite losses, and the network output stays float32 (the
last layer runs in float32). TS-GAN's check is in test_tsgan_models.py. The three-optimizer
DSR trainer also runs under mixed_float16, where each optimizer must be a LossScaleOptimizer
(and none under bf16); CycleGAN-depth's float16 step passed the same check once (20 s, left
out of the suite for time: the wrapping is the same three lines).

On CPUs without bf16 units the backward convolutions are emulated (slow), hence the tiny
sizes; the check is about dtypes and finiteness, not speed. Even so, one emulated step costs
minutes on an AVX2-only CPU (DL-Delta batch 1: 135 s; a width-1/16 SE-ResNet fusion: >5 min
under load), so those two, and the CycleGAN-depth and stage-1 bf16 steps, are in the slow
end-to-end set (``pytest --slow``, run by ``.ci/run`` after the default set)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab import training

slow_on_cpu = pytest.mark.slow  # the slow end-to-end set (.ci/run; pytest --slow)


@pytest.fixture
def bf16():
    training.set_precision("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(params=["mixed_bfloat16", "mixed_float16"])
def policy(request):
    """Both mixed policies; under float16 every GAN optimizer must be a LossScaleOptimizer
    (Keras auto-scales only ``self.optimizer``)."""
    training.set_precision(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _loss_scaled(policy, *optimizers):
    for opt in optimizers:
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")


def _finite(recorder):
    assert recorder.history, "no training step was recorded"
    for step in recorder.history:
        for name, value in step.items():
            assert np.isfinite(value), (name, value)


@slow_on_cpu
def test_enhancer_bf16_step(bf16):
    from depthlab.losses import FaceAreaLoss
    from depthlab.models.enhancers import build_enhancer

    model = build_enhancer("delta")
    assert model.layers[-1].compute_dtype == "float32"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=FaceAreaLoss())
    rng = np.random.default_rng(0)
    x = rng.random((1, 256, 256, 1)).astype(np.float32)
    y = np.where(rng.random((1, 256, 256, 1)) < 0.3, 1.0, x).astype(np.float32)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss) and loss > 0
    assert model(x).dtype == tf.float32


@slow_on_cpu
@pytest.mark.parametrize("fusion", ["feature", "depth_guided_attention"])
def test_recognition_bf16_step(bf16, fusion):
    from depthlab.recognition.models import build_classifier

    model = build_classifier("rgbd", fusion, num_classes=3, backbone="se_resnet50",
                             image_size=32, embedding_dim=4, width=0.0625)["fused"]
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {"rgb": tf.random.uniform((3, 32, 32, 3), seed=1),
         "depth": tf.random.uniform((3, 32, 32, 3), seed=2)}
    loss = model.train_on_batch(x, tf.constant([0, 1, 2]))
    assert np.all(np.isfinite(loss))
    assert model(x).dtype == tf.float32


@pytest.mark.slow
def test_cyclegan_depth_bf16_step(bf16, tmp_path):
    from depthlab.models.cyclegan_depth import cyclegan_depth_config
    from depthlab.runners import cyclegan_depth as runner

    cfg = cyclegan_depth_config("demo", variant="suarez", image_size=16, gen_filters=4,
                                gen_downsamplings=1, gen_blocks=1, disc_filters=(4, 8),
                                disc_strides=(2, 1), num_patches=16, nce_units=8)
    opts = runner.RunOptions(model_dir=str(tmp_path), epochs=1, steps_per_epoch=1, batch_size=2,
                             synthetic_identities=2, synthetic_images_per_identity=2,
                             eval_limit=2, seed=5, log_every=1000,
                             mixed_precision="mixed_bfloat16")
    recorder = training.BatchLossRecorder()
    summary = runner.train(opts, cfg, extra_callbacks=[recorder], verbose=False)
    _finite(recorder)
    assert summary["model"].g1.outputs[0].dtype == "float32"
    _loss_scaled("mixed_bfloat16", summary["model"].g_optimizer, summary["model"].d_optimizer)


@pytest.mark.slow
def test_two_stage_stage1_bf16_step(bf16, tmp_path):
    from depthlab.runners import two_stage as runner

    opts = runner.Stage1Options(model_dir=str(tmp_path), preset="demo", num_samples=50,
                                loss="berhu", epochs=1, steps_per_epoch=1, batch_size=2,
                                crop_hw=(64, 64), base_filters=4, seed=2, log_every=1000,
                                mixed_precision="mixed_bfloat16")
    recorder = training.BatchLossRecorder()
    net = runner.train_stage1(opts, extra_callbacks=[recorder], verbose=False)["net"]
    _finite(recorder)
    assert net.outputs[0].dtype == "float32"


def test_dsr_mixed_precision_steps_of_both_stages(policy, tmp_path):
    from depthlab.runners import dsr_distill as runner

    tiny = dict(filters=4, n_blocks=1, spnet_filters=4, spnet_layers=1, affinity_grid=4)
    opts = runner.DSROptions(model_dir=str(tmp_path), scale=4, preset="demo", epochs=2,
                             stage1_epochs=1, steps_per_epoch=1, batch_size=2, patch_size=16,
                             seed=4, log_every=1000, eval_every=0, mixed_precision=policy)
    recorder = training.BatchLossRecorder()
    model = runner.train(opts, overrides=tiny, extra_callbacks=[recorder], verbose=False)["model"]
    assert len(recorder.history) == 2          # stage 1 and stage 2 (role exchange)
    _finite(recorder)
    _loss_scaled(policy, model.dsr_optimizer, model.de_optimizer, model.sp_optimizer)
