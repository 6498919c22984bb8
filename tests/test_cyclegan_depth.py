"""CycleGAN depth synthesis (Suarez et al.): PatchNCE loss/head, eq. 2, the four original
variants, config."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab import losses
from depthlab.configs import ConfigError
from depthlab.layers import PatchNCEHead
from depthlab.models.cyclegan_depth import (CycleGANDepth, CycleGANDepthConfig,
                                            build_cyclegan_depth)

TINY = dict(image_size=16, gen_filters=8, gen_blocks=2, disc_filters=(8, 16),
            disc_strides=(2, 2), num_patches=16, nce_units=32)


def _np_patch_nce(q, k, t):
    """Independent NumPy PatchNCE: per image, per query i, -log softmax([q_i.k_i, q_i.k_j (j != i)]/t)."""
    total, count = 0.0, 0
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            pos = float(q[b, i] @ k[b, i])
            neg = [float(q[b, i] @ k[b, j]) for j in range(q.shape[1]) if j != i]
            # CUT keeps the self-pair column filled with -10 (contributes exp(-10/t)).
            logits = np.array([pos] + neg + [-10.0]) / t
            total += -(logits[0] - np.log(np.sum(np.exp(logits))))
            count += 1
    return total / count


def test_patch_nce_loss_hand_worked():
    # One image, 2 patches, 2-D unit vectors; q_0 = k_0 = e_x, q_1 = k_1 = e_y.
    q = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    t = 0.5
    # Query 0: logits [1, 0 (k_1), -10 (self)] / 0.5 -> loss = -2 + log(e^2 + e^0 + e^-20).
    expected = -2.0 + math.log(math.exp(2.0) + 1.0 + math.exp(-20.0))
    got = float(losses.patch_nce_loss(q, q, temperature=t))
    assert got == pytest.approx(expected, rel=1e-5)


def test_patch_nce_loss_matches_numpy_on_random_features():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 5, 4)).astype(np.float32)
    k = rng.normal(size=(2, 5, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    got = float(losses.patch_nce_loss(q, k, 0.07))
    assert got == pytest.approx(_np_patch_nce(q, k, 0.07), rel=1e-4)


def test_patch_nce_key_side_has_no_gradient():
    q = tf.Variable(tf.math.l2_normalize(tf.random.normal((1, 4, 3), seed=1), -1))
    k = tf.Variable(tf.math.l2_normalize(tf.random.normal((1, 4, 3), seed=2), -1))
    with tf.GradientTape() as tape:
        loss = losses.patch_nce_loss(q, k, 0.07)
    gq, gk = tape.gradient(loss, [q, k])
    assert gk is None
    assert float(tf.reduce_sum(tf.abs(gq))) > 0


def test_patch_nce_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="patch_nce_loss"):
        losses.patch_nce_loss(np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 5), np.float32))


def test_patch_nce_head_unit_norm_and_config():
    head = PatchNCEHead(16)
    out = head(tf.random.normal((2, 7, 5), seed=3))
    assert out.shape == (2, 7, 16)
    np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=-1), 1.0, rtol=1e-5)
    assert len(head.trainable_variables) == 4        # two Dense layers with biases
    clone = PatchNCEHead.from_config(head.get_config())
    assert clone.units == 16


def test_patch_nce_falls_on_a_fixed_batch():
    model = build_cyclegan_depth("cut", seed=0, **TINY)
    x = tf.random.stateless_uniform((2, 16, 16, 3), (1, 2), -1.0, 1.0)
    variables = model.generator_variables()
    opt = keras.optimizers.Adam(3e-3)
    step = tf.constant(0, tf.int64)               # fixed patch locations

    def loss_fn():
        return model.patch_nce(x, model.g1(x, training=True), step)

    @tf.function
    def update():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))

    first = float(loss_fn())
    for _ in range(15):
        update()
    last = float(loss_fn())
    assert np.isfinite(first) and last < 0.7 * first, (first, last)


# The four original rows (the contrastive rows dclgan/simdcl/hnegsrc: test_cyclegan_variants.py).
@pytest.mark.parametrize("variant", ("cyclegan", "cut", "fastcut", "suarez"))
def test_each_variant_trains_two_steps(variant):
    keras.utils.set_random_seed(0)
    model = build_cyclegan_depth(variant, seed=1, **TINY)
    # eager: two steps run faster than tracing the step (the graph path is exercised by
    # tests/test_cyclegan_depth_e2e.py through the binaries)
    model.compile(g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                  d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), run_eagerly=True)
    data = {"image": tf.random.stateless_uniform((2, 16, 16, 3), (3, 4), -1.0, 1.0),
            "depth": tf.random.stateless_uniform((2, 16, 16, 1), (5, 6), -1.0, 1.0)}
    before = [v.numpy().copy() for v in model.g1.trainable_variables[:1]]
    history = model.fit(tf.data.Dataset.from_tensors(data).repeat(), epochs=1,
                        steps_per_epoch=2, verbose=0).history
    expected = {"cyclegan": {"gan_loss", "identity_loss", "cycle_loss"},
                "cut": {"gan_loss", "nce_x_loss", "nce_y_loss"},
                "fastcut": {"gan_loss", "nce_x_loss"},
                "suarez": {"gan_loss", "nce_x_loss", "nce_y_loss", "identity_loss",
                           "cycle_loss"}}[variant] | {"g_loss", "d_loss"}
    assert set(history) == expected
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert int(model.g_optimizer.iterations) == 2 and int(model.d_optimizer.iterations) == 2
    assert not np.allclose(before[0], model.g1.trainable_variables[0].numpy())
    assert (model.g2 is None) == (variant in ("cut", "fastcut"))
    assert bool(model.nce_heads) == (variant != "cyclegan")
    pred = model(data["image"][:1])
    assert pred.shape == (1, 16, 16, 3)


def test_variant_lambdas_and_overrides():
    assert CycleGANDepthConfig(variant="fastcut").lambdas["lambda_nce_x"] == 10.0
    assert CycleGANDepthConfig(variant="fastcut").lambdas["lambda_nce_y"] == 0.0
    assert CycleGANDepthConfig(variant="cyclegan").lambdas["lambda_nce_x"] == 0.0
    suarez = CycleGANDepthConfig(variant="suarez", lambda_cycle=3.0)
    assert suarez.lambdas["lambda_cycle"] == 3.0 and suarez.lambdas["lambda_identity"] == 5.0
    with pytest.raises(ConfigError, match="variant"):
        CycleGANDepthConfig(variant="pix2pix")
    with pytest.raises(ConfigError, match="lambda_cycle"):
        CycleGANDepthConfig(variant="cut", lambda_cycle=1.0)
    with pytest.raises(ConfigError, match="image_size"):
        CycleGANDepthConfig(image_size=30)


def test_config_round_trip():
    cfg = CycleGANDepthConfig(variant="suarez", lambda_nce_y=0.25, **TINY)
    assert CycleGANDepthConfig.from_dict(cfg.to_dict()) == cfg
    model = CycleGANDepth(cfg, seed=7)
    clone = CycleGANDepth.from_config(model.get_config())
    assert clone.config == cfg and clone.seed == 7
    assert clone.lambdas["lambda_nce_y"] == 0.25
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(restored, CycleGANDepth) and restored.config == cfg
    assert clone.g1.count_params() == model.g1.count_params()


def test_patch_locations_are_stateless():
    model = build_cyclegan_depth("fastcut", seed=3, **TINY)
    a = model._sample_ids(64, 0, tf.constant(5, tf.int64)).numpy()
    b = model._sample_ids(64, 0, tf.constant(5, tf.int64)).numpy()
    c = model._sample_ids(64, 0, tf.constant(6, tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert len(a) == 16 and len(set(a)) == 16 and not np.array_equal(a, c)


def test_suarez_generator_loss_is_eq6_weighted_sum():
    lam = dict(lambda_gan=0.7, lambda_nce_x=1.3, lambda_nce_y=0.4, lambda_identity=2.0,
               lambda_cycle=3.0)
    model = build_cyclegan_depth("suarez", seed=2, **TINY, **lam)
    x = tf.random.stateless_uniform((1, 16, 16, 3), (7, 8), -1.0, 1.0)
    y = tf.random.stateless_uniform((1, 16, 16, 3), (9, 10), -1.0, 1.0)
    terms = model.generator_losses(x, y, tf.constant(0, tf.int64), training=False)
    want = (0.7 * terms["gan_loss"] + 1.3 * terms["nce_x_loss"] + 0.4 * terms["nce_y_loss"]
            + 2.0 * terms["identity_loss"] + 3.0 * terms["cycle_loss"])
    assert float(terms["g_loss"]) == pytest.approx(float(want), rel=1e-6)
    # the cycle term, recomputed by hand: |x - G2(G1(x))| + |y - G1(G2(y))|, means
    g1, g2 = model.g1, model.g2
    cyc = (np.mean(np.abs(x.numpy() - g2(g1(x)).numpy()))
           + np.mean(np.abs(y.numpy() - g1(g2(y)).numpy())))
    assert float(terms["cycle_loss"]) == pytest.approx(cyc, rel=1e-5)
    idt = np.mean(np.abs(g1(y).numpy() - y.numpy())) + np.mean(np.abs(g2(x).numpy() - x.numpy()))
    assert float(terms["identity_loss"]) == pytest.approx(idt, rel=1e-5)


def test_eq2_identity_loss_hand_worked():
    """Eq. 2 on 1x1x2 images with G1(t) = 2t and G2(t) = t - 0.5 (G1: X -> Y, G2: Y -> X),
    each term an L1 mean over the 2 values.
    x = (0.2, -0.4), y = (0.6, 0.0):
      'target' |y - G1(y)| + |x - G2(x)|: |(0.6, 0) - (1.2, 0)| -> 0.3; |(0.2, -0.4) -
        (-0.3, -0.9)| -> 0.5; total 0.8.
      'source' (line 52 as printed) |x - G1(x)| + |y - G2(y)|: |(0.2, -0.4) - (0.4, -0.8)|
        -> 0.3; |(0.6, 0) - (0.1, -0.5)| -> 0.5; total 0.8 too.
    x = (1, 1), y = (0, 0) tells them apart: 'target' |0 - 0| + |1 - 0.5| = 0.5,
      'source' |1 - 2| + |0 + 0.5| = 1.5."""
    x = tf.constant([[[[0.2, -0.4]]]])
    y = tf.constant([[[[0.6, 0.0]]]])
    g1 = lambda t: 2.0 * t             # noqa: E731
    g2 = lambda t: t - 0.5             # noqa: E731
    assert float(losses.eq2_identity_loss(x, y, g1, g2, "target")) == pytest.approx(0.8)
    assert float(losses.eq2_identity_loss(x, y, g1, g2, "source")) == pytest.approx(0.8)
    ones, zeros = tf.ones((1, 1, 1, 2)), tf.zeros((1, 1, 1, 2))
    assert float(losses.eq2_identity_loss(ones, zeros, g1, g2, "target")) == pytest.approx(0.5)
    assert float(losses.eq2_identity_loss(ones, zeros, g1, g2, "source")) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="pairing"):
        losses.eq2_identity_loss(x, y, g1, g2, "both")


@pytest.mark.parametrize("pairing", ["target", "source"])
def test_model_identity_term_follows_the_pairing(pairing):
    """The trainer's identity_loss is eq. 2 with the configured pairs: G1, G2 applied by hand."""
    model = build_cyclegan_depth("suarez", seed=5, identity_pairing=pairing, **TINY)
    x = tf.random.stateless_uniform((2, 16, 16, 3), (21, 22), -1.0, 1.0)
    y = tf.random.stateless_uniform((2, 16, 16, 3), (23, 24), -1.0, 1.0)
    terms = model.generator_losses(x, y, tf.constant(0, tf.int64), training=False)
    g1, g2 = (lambda t: model.g1(t).numpy()), (lambda t: model.g2(t).numpy())
    xn, yn = x.numpy(), y.numpy()
    if pairing == "target":
        want = np.mean(np.abs(yn - g1(y))) + np.mean(np.abs(xn - g2(x)))
    else:                                   # eq. 2 as printed on line 52
        want = np.mean(np.abs(xn - g1(x))) + np.mean(np.abs(yn - g2(y)))
    assert float(terms["identity_loss"]) == pytest.approx(want, rel=1e-5)
    assert model.config.identity_pairing == pairing


def test_deployable_generator_converts_rgb_to_bt601_gray():
    from depthlab.models.cyclegan_depth import deployable_generator

    model = build_cyclegan_depth("fastcut", seed=4, **TINY)
    rgb = tf.random.stateless_uniform((2, 16, 16, 3), (11, 12), -1.0, 1.0)
    gray = np.tensordot(rgb.numpy(), np.array([0.299, 0.587, 0.114]), axes=([-1], [0]))
    want = model.g1(np.repeat(gray[..., None], 3, -1).astype(np.float32)).numpy()
    got = deployable_generator(model, "gray")(rgb).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert deployable_generator(model, "rgb") is model.g1
    with pytest.raises(ValueError, match="input_mode"):
        deployable_generator(model, "hsv")
