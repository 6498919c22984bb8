"""Shared layers: reflection pad, instance norm, residual block, image pool, dropout."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from depthlab.layers import GlobalBatchDropout, ImagePool, InstanceNorm, ReflectionPad2D, ResnetBlock


def test_reflection_pad_matches_numpy_reflect():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    got = ReflectionPad2D(2)(x).numpy()
    want = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(got, want)


def test_instance_norm_is_per_sample_per_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(2, 6, 7, 4)).astype(np.float32)
    got = InstanceNorm()(x).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-3)          # gamma=1, beta=0 at init, eps 1e-3
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_resnet_block_params_and_identity_at_zero_weights():
    block = ResnetBlock(8)
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 8)).astype(np.float32)
    block(x)
    # 2 convs 3x3x8x8 without bias + 2 IN with gamma/beta: 2*576 + 2*16
    assert sum(int(np.prod(w.shape)) for w in block.trainable_weights) == 2 * 576 + 2 * 16
    # With the second IN's gamma and beta at 0 the residual branch vanishes: out == x.
    block.norm2.gamma.assign(np.zeros(8, np.float32))
    np.testing.assert_allclose(block(x).numpy(), x, atol=1e-6)


def test_resnet_block_channel_mismatch_is_clear():
    with pytest.raises(ValueError, match="4 channels"):
        ResnetBlock(8)(np.zeros((1, 4, 4, 4), np.float32))


def test_image_pool_semantics():
    pool = ImagePool(3, seed=5)
    step = tf.function(lambda x: pool(x))
    # Filling phase: the first 3 images are stored and returned unchanged.
    out = step(tf.constant([[[[1.0]]], [[[2.0]]]]))
    np.testing.assert_array_equal(out.numpy().ravel(), [1.0, 2.0])
    out = step(tf.constant([[[[3.0]]]]))
    np.testing.assert_array_equal(out.numpy().ravel(), [3.0])
    assert int(pool.count.numpy()) == 3
    np.testing.assert_array_equal(np.sort(pool.buffer.numpy().ravel()), [1.0, 2.0, 3.0])
    # Full: each returned image is either the new one or a stored one, which it replaces.
    seen_old = 0
    for k in range(4, 60):
        before = set(pool.buffer.numpy().ravel().tolist())
        got = float(step(tf.constant([[[[float(k)]]]])).numpy().ravel()[0])
        after = set(pool.buffer.numpy().ravel().tolist())
        if got == k:
            assert after == before
        else:
            seen_old += 1
            assert got in before and k in after and got not in after
    assert 10 < seen_old < 46  # p = 0.5 over 56 draws


def test_image_pool_state_is_checkpointed(tmp_path):
    pool = ImagePool(4, seed=2)
    for k in range(6):
        pool(tf.fill([1, 2, 2, 1], float(k)))
    path = tf.train.Checkpoint(pool=pool).save(str(tmp_path / "ckpt"))
    other = ImagePool(4, seed=2)
    other.build((None, 2, 2, 1))
    tf.train.Checkpoint(pool=other).restore(path).assert_consumed()
    x = tf.fill([1, 2, 2, 1], 99.0)
    np.testing.assert_array_equal(pool(x).numpy(), other(x).numpy())
    np.testing.assert_array_equal(pool.buffer.numpy(), other.buffer.numpy())


def test_layers_serialize():
    for layer in (ReflectionPad2D(3), InstanceNorm(), ResnetBlock(4), ImagePool(7, (2, 2, 1), seed=3),
                  GlobalBatchDropout(0.5, seed=9)):
        clone = layer.__class__.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        assert keras.saving.get_registered_name(layer.__class__).startswith("depthlab>")


def test_global_batch_dropout_mask_scaling_and_steps():
    """One device: the mask is stateless_uniform(shape, (seed, step)) >= rate, kept values are
    scaled by 1 / (1 - rate), the step counter advances per call; identity at inference.
    (Under MirroredStrategy: tests/test_mirrored_trainers.py, the stage-2 generator.)"""
    layer = GlobalBatchDropout(0.25, seed=11)
    x = tf.random.stateless_uniform((4, 6, 6, 3), (1, 2)) + 1.0
    for step in range(2):
        u = tf.random.stateless_uniform((4, 6, 6, 3), tf.constant([11, step], tf.int64))
        want = np.where(u.numpy() >= 0.25, x.numpy() / 0.75, 0.0)
        np.testing.assert_allclose(layer(x, training=True).numpy(), want, rtol=1e-6)
    assert int(layer.step.numpy()) == 2
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    big = layer(tf.ones((64, 32, 32, 1)), training=True).numpy()
    assert abs(np.mean(big == 0.0) - 0.25) < 0.01
    with pytest.raises(ValueError, match="rate"):
        GlobalBatchDropout(1.0)
