"""Suarez et al. Table 1's contrastive rows: DCLGAN, SimDCL (Han et al. 2021) and HnegSRC
(Jung et al. 2022) as variants of ``CycleGANDepth``; their losses against NumPy."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab import losses
from depthlab.configs import ConfigError
from depthlab.nets.contrastive import (SimilarityProjector, hdce_gamma,
                                                     stack_patch_embeddings)
from depthlab.models.cyclegan_depth import (VARIANTS, CycleGANDepth, CycleGANDepthConfig,
                                            build_cyclegan_depth)

TINY = dict(image_size=16, gen_filters=8, gen_blocks=2, disc_filters=(8, 16),
            disc_strides=(2, 2), num_patches=16, nce_units=32)
NEW = ("dclgan", "simdcl", "hnegsrc")


def _unit(x):
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-7)


def _softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_patch_nce(q, k, t):
    total, count = 0.0, 0
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            logits = [q[b, i] @ k[b, i]] + [q[b, i] @ k[b, j] if j != i else -10.0
                                            for j in range(q.shape[1])]
            logits = np.array(logits) / t
            total += -(logits[0] - np.log(np.sum(np.exp(logits))))
            count += 1
    return total / count


def _np_weights(k, gamma):
    """hDCE weights, written from the definition: softmax_j(k_i.k_j / gamma), self -10, / max."""
    k = _unit(k.astype(np.float64))
    out = np.zeros((k.shape[0], k.shape[1], k.shape[1]))
    for b in range(k.shape[0]):
        s = k[b] @ k[b].T
        np.fill_diagonal(s, -10.0)
        w = _softmax(s / gamma)
        out[b] = w / w.max(axis=-1, keepdims=True)
    return out


def _np_hdce(q, k, w, t):
    total, count = 0.0, 0
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            pos = q[b, i] @ k[b, i]
            terms = []
            for j in range(q.shape[1]):
                neg = -10.0 if j == i else (1.0 if w is None else w[b, i, j]) * (q[b, i] @ k[b, j])
                terms.append((neg - pos) / t)
            terms = np.array(terms)
            total += np.log(np.sum(np.exp(terms)))
            count += 1
    return total / count


def _np_src(q, k):
    q, k = _unit(q.astype(np.float64)), _unit(k.astype(np.float64))
    total = 0.0
    for b in range(q.shape[0]):
        pq, pk = _softmax(q[b] @ q[b].T), _softmax(k[b] @ k[b].T)
        m = 0.5 * (pq + pk)
        total += 0.5 * np.sum(pq * np.log(pq / m)) + 0.5 * np.sum(pk * np.log(pk / m))
    return total / q.shape[0]


def _random_unit(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# -- pure losses -------------------------------------------------------------------------------

def test_hdce_hand_worked():
    # One image, 2 patches, q = k = (e_x, e_y), tau 0.5, no weights. Query 0: the positive is
    # decoupled; the sum holds the negative (0 - 1)/0.5 and the masked self (-10 - 1)/0.5.
    q = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    expected = math.log(math.exp(-2.0) + math.exp(-22.0))
    assert float(losses.hard_negative_dce_loss(q, q, None, 0.5)) == pytest.approx(expected,
                                                                                  rel=1e-5)


def test_hdce_and_weights_match_numpy():
    q, k = _random_unit((2, 6, 5), 0), _random_unit((2, 6, 5), 1)
    w = losses.hard_negative_weights(k, 0.3).numpy()
    want_w = _np_weights(k, 0.3)
    np.testing.assert_allclose(w, want_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w.max(axis=-1), 1.0, rtol=1e-6)     # hardest negative: weight 1
    got = float(losses.hard_negative_dce_loss(q, k, w, 0.07))
    assert got == pytest.approx(_np_hdce(q, k, want_w, 0.07), rel=1e-4)
    # a large gamma makes every off-diagonal weight ~1: plain decoupled PatchNCE
    w_flat = losses.hard_negative_weights(k, 1e6).numpy()
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(w_flat[:, off], 1.0, atol=1e-5)


def test_hdce_gradient_is_the_codes_surrogate():
    """The authors' code returns exp(v - stop(v)) - 1 + stop(CE): our value-true loss must have
    the same gradient with respect to the queries; the keys get none."""
    q = tf.Variable(_random_unit((1, 5, 4), 2))
    k = tf.Variable(_random_unit((1, 5, 4), 3))
    w = losses.hard_negative_weights(k, 0.5)
    with tf.GradientTape(persistent=True) as tape:
        ours = losses.hard_negative_dce_loss(q, k, w, 0.07)
        pos = tf.reduce_sum(q * tf.stop_gradient(k), -1, keepdims=True)
        neg = tf.matmul(q, tf.stop_gradient(k), transpose_b=True) * w
        neg = tf.where(tf.eye(5, dtype=tf.bool)[None], -10.0, neg)
        v = tf.reduce_logsumexp((neg - pos) / 0.07, axis=-1)
        surrogate = tf.reduce_mean(tf.exp(v - tf.stop_gradient(v))) - 1.0
    np.testing.assert_allclose(tape.gradient(ours, q).numpy(),
                               tape.gradient(surrogate, q).numpy(), rtol=1e-4, atol=1e-6)
    assert tape.gradient(ours, k) is None


def test_src_matches_numpy_and_vanishes_on_equal_relations():
    q, k = _random_unit((2, 7, 3), 4), _random_unit((2, 7, 3), 5)
    got = float(losses.semantic_relation_consistency_loss(q, k))
    assert got == pytest.approx(_np_src(q, k), rel=1e-4)
    assert got > 0
    assert float(losses.semantic_relation_consistency_loss(q, q)) == pytest.approx(0.0, abs=1e-6)
    # a rotation of every patch keeps all relations: SRC 0 though the features differ
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    assert float(losses.semantic_relation_consistency_loss(q @ rot, q)) == pytest.approx(
        0.0, abs=1e-6)


def test_src_hand_worked():
    # 2 patches: output patches identical (relations [[1, 1], [1, 1]] -> rows (1/2, 1/2));
    # source orthogonal (relations identity -> rows (e/(e+1), 1/(e+1)) and its mirror).
    q = np.array([[[1.0, 0.0], [1.0, 0.0]]], np.float32)
    k = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    a, b = math.e / (math.e + 1), 1 / (math.e + 1)
    m = ((0.5 + a) / 2, (0.5 + b) / 2)
    row = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) \
        + 0.5 * (a * math.log(a / m[0]) + b * math.log(b / m[1]))
    got = float(losses.semantic_relation_consistency_loss(q, k))
    assert got == pytest.approx(2 * row, rel=1e-5)          # summed over the 2 rows


def test_src_key_side_has_no_gradient():
    q = tf.Variable(_random_unit((1, 4, 3), 6))
    k = tf.Variable(_random_unit((1, 4, 3), 7))
    with tf.GradientTape() as tape:
        loss = losses.semantic_relation_consistency_loss(q, k)
    gq, gk = tape.gradient(loss, [q, k])
    assert gk is None and float(tf.reduce_sum(tf.abs(gq))) > 0


def test_similarity_loss_hand_worked():
    a = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
    b = np.array([[0.0, 1.0], [0.6, 0.8]], np.float32)
    # mean |a - b| over 2 x 2 entries: (1 + 1 + 0 + 0) / 4
    assert float(losses.dcl_similarity_loss(a, b)) == pytest.approx(0.5)


def test_hdce_gamma_curriculum_by_hand():
    """HnegSRC's code: gamma + (gamma_min - gamma) * epoch / E per 1-based epoch, E the run's
    epochs. By hand for gamma 50 -> 10 over a run of E = 4 epochs of 3 steps (12 steps):
    epoch 1 (steps 0-2) 50 - 40/4 = 40, epoch 2 (3-5) 30, epoch 3 (6-8) 20, epoch 4 (9-11)
    10, and 10 after the run (an extended run)."""
    want = [40.0] * 3 + [30.0] * 3 + [20.0] * 3 + [10.0] * 3 + [10.0] * 2
    got = [float(hdce_gamma(s, 50.0, 10.0, 12, steps_per_epoch=3)) for s in range(14)]
    assert got == pytest.approx(want)
    # one value per step (steps_per_epoch 1) over 4 steps: 40, 30, 20, 10
    assert [float(hdce_gamma(tf.constant(s, tf.int64), 50.0, 10.0, 4)) for s in range(4)] == \
        pytest.approx([40.0, 30.0, 20.0, 10.0])
    assert float(hdce_gamma(tf.constant(7, tf.int64), 50.0, 10.0, 0)) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="curriculum_steps"):
        hdce_gamma(0, 50.0, 10.0, -1)


def test_hdce_curriculum_spans_the_runs_total_steps_by_default():
    cfg = CycleGANDepthConfig(variant="hnegsrc", **TINY)
    assert cfg.hdce_curriculum_steps == -1
    model = CycleGANDepth(cfg, total_steps=12, steps_per_epoch=3)
    assert model.curriculum_steps == 12
    assert CycleGANDepth(cfg.replace(hdce_curriculum_steps=5), total_steps=12).curriculum_steps == 5
    with pytest.raises(ValueError, match="total_steps"):
        CycleGANDepth(cfg).curriculum_steps
    restored = CycleGANDepth.from_config(model.get_config())
    assert (restored.total_steps, restored.steps_per_epoch) == (12, 3)


def test_similarity_projector_and_stack():
    embs = [tf.math.l2_normalize(tf.random.normal((2, p, 8), seed=p), -1) for p in (9, 7, 12)]
    stack = stack_patch_embeddings(embs)
    assert stack.shape == (2, 7, 8, 3)
    np.testing.assert_array_equal(stack[..., 1].numpy(), embs[1].numpy())
    proj = SimilarityProjector(16)
    out = proj(stack)
    assert out.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=-1), 1.0, rtol=1e-5)
    assert SimilarityProjector.from_config(proj.get_config()).units == 16
    with pytest.raises(ValueError, match="smaller"):
        SimilarityProjector(4).build((None, 2, 8, 3))


# -- config -----------------------------------------------------------------------------------

def test_new_variant_defaults_and_rules():
    assert set(NEW) <= set(VARIANTS)
    dcl = CycleGANDepthConfig(variant="dclgan")
    assert dcl.lambdas == dict(lambda_gan=0.5, lambda_nce_x=1.0, lambda_nce_y=1.0,
                               lambda_identity=0.5, lambda_cycle=0.0)
    assert dcl.has_cycle and dcl.is_dual and dcl.effective_pool_size == 0
    sim = CycleGANDepthConfig(variant="simdcl")
    assert sim.lambdas["lambda_sim"] == 10.0 and sim.effective_pool_size == 0
    hneg = CycleGANDepthConfig(variant="hnegsrc")
    assert hneg.lambdas["lambda_src"] == 0.05 and hneg.lambdas["lambda_nce_x"] == 0.05
    assert not hneg.has_cycle and not hneg.is_dual and hneg.effective_pool_size == 0
    # the original rows keep their pools and lambdas
    assert CycleGANDepthConfig(variant="suarez").effective_pool_size == 50
    assert CycleGANDepthConfig(variant="cyclegan").effective_pool_size == 50
    assert "lambda_sim" not in CycleGANDepthConfig(variant="suarez").lambdas
    with pytest.raises(ConfigError, match="lambda_sim"):
        CycleGANDepthConfig(variant="dclgan", lambda_sim=1.0)
    with pytest.raises(ConfigError, match="lambda_src"):
        CycleGANDepthConfig(variant="cut", lambda_src=1.0)
    with pytest.raises(ConfigError, match="lambda_identity"):
        CycleGANDepthConfig(variant="hnegsrc", lambda_identity=1.0)
    with pytest.raises(ConfigError, match="hdce_curriculum_steps"):
        CycleGANDepthConfig(variant="hnegsrc", hdce_curriculum_steps=-2)
    with pytest.raises(ConfigError, match="identity_pairing"):
        CycleGANDepthConfig(variant="suarez", identity_pairing="both")


# -- models -----------------------------------------------------------------------------------

_EXPECTED = {
    "dclgan": {"gan_loss", "nce_x_loss", "nce_y_loss", "identity_loss"},
    "simdcl": {"gan_loss", "nce_x_loss", "nce_y_loss", "identity_loss", "sim_loss"},
    "hnegsrc": {"gan_loss", "hdce_x_loss", "hdce_y_loss", "src_loss"},
}


@pytest.mark.parametrize("variant", NEW)
def test_new_variant_one_train_step_and_checkpoint(variant, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_cyclegan_depth(variant, seed=1, total_steps=10, **TINY)
    model.compile(g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                  d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), run_eagerly=True)
    data = {"image": tf.random.stateless_uniform((2, 16, 16, 3), (3, 4), -1.0, 1.0),
            "depth": tf.random.stateless_uniform((2, 16, 16, 1), (5, 6), -1.0, 1.0)}
    heads = model.nce_heads_y or model.nce_heads
    before = heads[0].trainable_variables[0].numpy().copy()
    sim_before = {k: p.trainable_variables[0].numpy().copy()
                  for k, p in model.sim_projectors.items()}
    logs = model.train_step(data)
    assert set(logs) == _EXPECTED[variant] | {"g_loss", "d_loss"}
    assert set(model.loss_names) == set(logs)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert int(model.g_optimizer.iterations) == 1 and int(model.d_optimizer.iterations) == 1
    assert not np.allclose(before, heads[0].trainable_variables[0].numpy())   # heads train
    dual = variant in ("dclgan", "simdcl")
    assert (model.g2 is not None) == dual and (model.d_x is not None) == dual
    assert bool(model.nce_heads_y) == dual and bool(model.sim_projectors) == (variant == "simdcl")
    assert model.pool_x is None and model.pool_y is None
    # DCLGAN's nce_layers=4,8,12,16: no padded input; HnegSRC keeps CUT's 0,4,8,12,16
    assert len(model.nce_layers) == (4 if dual else 5)
    for key, proj in model.sim_projectors.items():          # SimDCL's light networks train
        assert not np.allclose(sim_before[key], proj.trainable_variables[0].numpy())

    # checkpoint: every network of the variant restores into a fresh model
    objects = model.checkpoint_objects()
    path = tf.train.Checkpoint(**objects).write(str(tmp_path / "ckpt"))
    clone = build_cyclegan_depth(variant, seed=1, total_steps=10, **TINY)
    clone.compile(g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                  d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    assert set(clone.checkpoint_objects()) == set(objects)
    tf.train.Checkpoint(**clone.checkpoint_objects()).read(path).assert_consumed()
    for name, obj in objects.items():
        if name.endswith("optimizer"):
            continue
        for a, b in zip(obj.weights, clone.checkpoint_objects()[name].weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())

    # get_config round trip
    restored = CycleGANDepth.from_config(model.get_config())
    assert restored.config == model.config and restored.loss_names == model.loss_names
    assert CycleGANDepthConfig.from_dict(model.config.to_dict()) == model.config


def test_dclgan_terms_are_the_dual_patchnce_and_weighted_sum():
    lam = dict(lambda_gan=0.3, lambda_nce_x=1.7, lambda_nce_y=0.9, lambda_identity=2.0,
               lambda_sim=4.0)
    model = build_cyclegan_depth("simdcl", seed=2, **TINY, **lam)
    x = tf.random.stateless_uniform((1, 16, 16, 3), (7, 8), -1.0, 1.0)
    y = tf.random.stateless_uniform((1, 16, 16, 3), (9, 10), -1.0, 1.0)
    step = tf.constant(3, tf.int64)
    terms = model.generator_losses(x, y, step, training=False)
    want = (0.3 * terms["gan_loss"] + 1.7 * terms["nce_x_loss"] + 0.9 * terms["nce_y_loss"]
            + 2.0 * terms["identity_loss"] + 4.0 * terms["sim_loss"])
    assert float(terms["g_loss"]) == pytest.approx(float(want), rel=1e-6)
    # eq. 4: queries from G2's encoder + H_Y on G1(x), keys from G1's encoder + H_X on x
    g1, g2 = model.g1, model.g2
    q = model.embed_patches(model.encoder_y, model.nce_heads_y, g1(x), step, False)
    k = model.embed_patches(model.encoder, model.nce_heads, x, step, False)
    nce_x = np.mean([_np_patch_nce(a.numpy(), b.numpy(), 0.07) for a, b in zip(q, k)])
    assert float(terms["nce_x_loss"]) == pytest.approx(nce_x, rel=1e-4)
    # eq. 7: |G2(x) - x| + |G1(y) - y|
    idt = np.mean(np.abs(g1(y).numpy() - y.numpy())) + np.mean(np.abs(g2(x).numpy() - x.numpy()))
    assert float(terms["identity_loss"]) == pytest.approx(idt, rel=1e-5)
    # eq. 6: real stacks at the NCE key locations, fake stacks at fresh ones, mean |.|
    salt = model._Y_SALT
    z_y = model.embed_patches(model.encoder_y, model.nce_heads_y, y, step + salt, False)
    fz_x = model.embed_patches(model.encoder, model.nce_heads, g2(y), step + 2 * salt, False)
    fz_y = model.embed_patches(model.encoder_y, model.nce_heads_y, g1(x), step + 3 * salt, False)
    p = model.sim_projectors
    sim = (np.mean(np.abs(p["xr"](stack_patch_embeddings(k)).numpy()
                          - p["xf"](stack_patch_embeddings(fz_x)).numpy()))
           + np.mean(np.abs(p["yr"](stack_patch_embeddings(z_y)).numpy()
                            - p["yf"](stack_patch_embeddings(fz_y)).numpy())))
    assert float(terms["sim_loss"]) == pytest.approx(sim, rel=1e-5)


def test_hnegsrc_terms_match_numpy_and_curriculum():
    model = build_cyclegan_depth("hnegsrc", seed=3, hdce_gamma=2.0, hdce_gamma_min=0.5,
                                 hdce_curriculum_steps=10, lambda_src=0.7, **TINY)
    x = tf.random.stateless_uniform((1, 16, 16, 3), (11, 12), -1.0, 1.0)
    y = tf.random.stateless_uniform((1, 16, 16, 3), (13, 14), -1.0, 1.0)
    step = tf.constant(5, tf.int64)               # 6th of 10 steps: 2 + (0.5 - 2) * 0.6 = 1.1
    terms = model.generator_losses(x, y, step, training=False)
    want = (terms["gan_loss"] + 0.05 * terms["hdce_x_loss"] + 0.05 * terms["hdce_y_loss"]
            + 0.7 * terms["src_loss"])
    assert float(terms["g_loss"]) == pytest.approx(float(want), rel=1e-6)
    enc, heads, g1 = model.encoder, model.nce_heads, model.g1
    k = [e.numpy() for e in model.embed_patches(enc, heads, x, step, False)]
    q = [e.numpy() for e in model.embed_patches(enc, heads, g1(x), step, False)]
    hdce = np.mean([_np_hdce(a, b, _np_weights(b, 1.1), 0.07) for a, b in zip(q, k)])
    assert float(terms["hdce_x_loss"]) == pytest.approx(hdce, rel=1e-4)
    src = np.mean([_np_src(a, b) for a, b in zip(q, k)])
    assert float(terms["src_loss"]) == pytest.approx(src, rel=1e-4)
    k_y = [e.numpy() for e in model.embed_patches(enc, heads, y, step, False)]
    q_y = [e.numpy() for e in model.embed_patches(enc, heads, g1(y), step, False)]
    hdce_y = np.mean([_np_hdce(a, b, _np_weights(b, 1.1), 0.07) for a, b in zip(q_y, k_y)])
    assert float(terms["hdce_y_loss"]) == pytest.approx(hdce_y, rel=1e-4)


def test_original_variants_checkpoint_names_unchanged():
    """checkpoint_objects() of the first four rows: exactly the names the runner writes."""
    model = build_cyclegan_depth("suarez", seed=0, **TINY)
    names = set(model.checkpoint_objects())
    assert names == {"g1", "d_y", "g2", "d_x", "pool_x", "pool_y"} | {
        f"nce_head_{i}" for i in range(5)}
    assert len(model.nce_layers) == 5 and not model.nce_heads_y and not model.sim_projectors
