"""DSR cross-task distillation: DBPN units, networks, losses and the role exchange step."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from depthlab import losses
from depthlab.layers import DBPN_SETTINGS, DownProjection, UpProjection
from depthlab.models.dsr_distill import (CrossTaskDistiller, DENet, DSRNet, SPNet, dsr_config,
                                         from_normalized, normalize_depth)


@pytest.mark.parametrize("scale", [2, 4, 8, 16])
def test_dbpn_units_shapes_and_parameters(scale):
    k, s, p = DBPN_SETTINGS[scale]
    assert s == scale and k == scale + 4 and p == 2        # 6/2/2, 8/4/2, 12/8/2, (20/16/2)
    c = 4
    up, down = UpProjection(c, scale), DownProjection(c, scale)
    x = tf.random.normal((2, 3, 5, c))
    hr = up(x)
    assert hr.shape == (2, 3 * scale, 5 * scale, c)
    assert down(hr).shape == (2, 3, 5, c)
    # 3 (de)convs of k*k*c*c weights + c biases, and 3 PReLUs of c slopes each
    assert up.count_params() == down.count_params() == 3 * (k * k * c * c + c) + 3 * c


def test_dbpn_rejects_unknown_scale_and_bad_sizes():
    with pytest.raises(ValueError, match="scale must be one of"):
        UpProjection(4, 3)
    with pytest.raises(ValueError, match="not a multiple of the scale"):
        DownProjection(4, 4)(tf.zeros((1, 10, 8, 4)))


def test_up_projection_equals_the_back_projection_equations():
    """H0 = a(deconv1 L), L0 = a(conv H0), H1 = a(deconv2 (L0 - L)), out = H0 + H1, with the
    PyTorch padding convention (transpose conv then crop p; pad p then conv)."""
    up = UpProjection(2, 2)
    x = tf.random.normal((1, 3, 3, 2))
    out = up(x).numpy()

    def deconv(layer, v):
        full = tf.nn.conv2d_transpose(v, layer.kernel, (1, (3 - 1) * 2 + 6, (3 - 1) * 2 + 6, 2),
                                      strides=2, padding="VALID") + layer.bias
        return full[:, 2:-2, 2:-2, :]

    def conv(layer, v):
        return tf.nn.conv2d(tf.pad(v, [[0, 0], [2, 2], [2, 2], [0, 0]]), layer.kernel, 2,
                            "VALID") + layer.bias

    def prelu(layer, v):
        return tf.where(v > 0, v, v * layer.alpha)

    h0 = prelu(up.act1, deconv(up.up1, x))
    l0 = prelu(up.act2, conv(up.down, h0))
    h1 = prelu(up.act3, deconv(up.up2, l0 - x))
    np.testing.assert_allclose(out, (h0 + h1).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [4, 8, 16])
def test_networks_align_stage_by_stage(scale):
    dsr = DSRNet(scale, filters=4, n_blocks=3)
    de = DENet(filters=4, n_blocks=3)
    a = dsr(tf.random.uniform((1, 2, 3, 1)))
    b = de(tf.random.uniform((1, 2 * scale, 3 * scale, 3)))
    assert a["depth"].shape == b["depth"].shape == (1, 2 * scale, 3 * scale, 1)
    assert len(a["features"]) == len(b["features"]) == 3
    for fa, fb in zip(a["features"], b["features"]):
        assert fa.shape == fb.shape == (1, 2 * scale, 3 * scale, 4)


def test_residual_dsrnet_at_init_is_close_to_bicubic_and_normalisation_round_trip():
    lr = tf.constant(np.random.default_rng(0).uniform(1, 3, (2, 4, 4, 1)), tf.float32)
    x, lo, hi = normalize_depth(lr)
    np.testing.assert_allclose(tf.reduce_min(x, [1, 2, 3]), 0, atol=1e-6)
    np.testing.assert_allclose(tf.reduce_max(x, [1, 2, 3]), 1, atol=1e-6)
    np.testing.assert_allclose(from_normalized(x, lo, hi), lr, atol=1e-6)


def test_affinity_matrix_symmetric_unit_diagonal_and_hand_value():
    f = tf.random.normal((2, 8, 8, 5))
    a = losses.affinity_matrix(f, grid=4).numpy()
    assert a.shape == (2, 16, 16)
    np.testing.assert_allclose(a, np.transpose(a, (0, 2, 1)), atol=1e-6)
    np.testing.assert_allclose(np.diagonal(a, axis1=1, axis2=2), 1.0, atol=1e-5)
    # two positions with features (1, 0) and (1, 1): cosine 1/sqrt(2)
    g = tf.constant([[[[1.0, 0.0], [1.0, 1.0]]]])
    np.testing.assert_allclose(losses.affinity_matrix(g, grid=4)[0, 0, 1], 2 ** -0.5, rtol=1e-6)


def test_structure_target_on_a_step_edge():
    h = 0.8
    d = np.zeros((1, 5, 6, 1), np.float32)
    d[:, :, 3:] = h                                   # step between columns 2 and 3
    g, valid = losses.depth_gradient_magnitude(d)
    want = np.zeros((5, 6))
    want[:, 2] = want[:, 3] = h / 2                   # central differences / 2
    np.testing.assert_allclose(g[0, ..., 0], want, atol=1e-7)
    assert bool(tf.reduce_all(valid))
    mask = np.ones_like(d)
    mask[0, 2, 0] = 0                                 # a hole removes its 4-neighbourhood
    _, valid = losses.depth_gradient_magnitude(d, mask)
    v = valid[0, ..., 0].numpy()
    assert not v[2, 0] and not v[1, 0] and not v[3, 0] and not v[2, 1] and v[0, 0] and v[2, 2]
    # L_struc of the exact target is 0, of zeros is the mean target
    assert float(losses.structure_loss(tf.constant(want[None, ..., None], tf.float32), d)) < 1e-7
    assert float(losses.structure_loss(tf.zeros_like(d), d)) == pytest.approx(want.mean(), rel=1e-5)


def test_distillation_gradient_reaches_only_the_student():
    s_out, t_out = tf.Variable(tf.random.normal((1, 4, 4, 1))), tf.Variable(tf.zeros((1, 4, 4, 1)))
    s_f, t_f = tf.Variable(tf.random.normal((1, 4, 4, 3))), tf.Variable(tf.random.normal((1, 4, 4, 3)))
    with tf.GradientTape() as tape:
        loss = losses.cross_task_distillation_loss([s_out], [t_out], [s_f], [t_f])
    gs = tape.gradient(loss, [s_out, s_f, t_out, t_f])
    assert gs[0] is not None and gs[1] is not None and float(tf.reduce_sum(tf.abs(gs[0]))) > 0
    assert gs[2] is None and gs[3] is None


def test_spnet_fusion_weights_follow_the_lower_uncertainty():
    w_sr, w_de = SPNet.fusion_weights(tf.zeros((1, 2, 2, 1)), tf.ones((1, 2, 2, 1)), 0.05)
    np.testing.assert_allclose(w_sr + w_de, 1.0, atol=1e-6)
    assert float(tf.reduce_min(w_sr)) > 0.99


# ---------------------------------------------------------------------------------------
# Role exchange
# ---------------------------------------------------------------------------------------

def _batch(seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    hr = np.stack([1.0 + 0.05 * xx + 0.03 * yy + rng.uniform(0, 0.01, (16, 16))
                   for _ in range(2)])[..., None].astype(np.float32)
    lr = tf.image.resize(hr, (4, 4), "bicubic", antialias=True).numpy()
    return {"lr": lr, "hr": hr, "mask": np.ones_like(hr),
            "rgb": rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)}


def _model(teacher_mode="frozen", run_eagerly=False, role_granularity="epoch"):
    cfg = dsr_config("demo", scale=4, filters=4, n_blocks=2, spnet_filters=4, spnet_layers=2,
                     affinity_grid=4, teacher_mode=teacher_mode,
                     role_granularity=role_granularity)
    m = CrossTaskDistiller(cfg)
    adam = lambda n: keras.optimizers.Adam(1e-2, name=n)  # noqa: E731
    m.compile(dsr_optimizer=adam("a"), de_optimizer=adam("b"), sp_optimizer=adam("c"),
              run_eagerly=run_eagerly)
    return m


def _snap(vs):
    return [v.numpy().copy() for v in vs]


def _changed(before, vs):
    return any(not np.array_equal(a, v.numpy()) for a, v in zip(before, vs))


def _step(m, data):
    ds = tf.data.Dataset.from_tensors(data)
    return m.fit(ds, epochs=1, steps_per_epoch=1, verbose=0).history


def test_stage1_updates_both_nets_and_not_spnet():
    m = _model(run_eagerly=True)
    before = _snap(m.dsr_variables()), _snap(m.de_variables()), _snap(m.spnet.trainable_variables)
    h = _step(m, _batch())
    assert h["role"] == [-1.0] and h["stage"] == [1.0]
    assert _changed(before[0], m.dsr_variables()) and _changed(before[1], m.de_variables())
    assert not _changed(before[2], m.spnet.trainable_variables)


def test_role_exchange_in_graph_mode_both_directions():
    """With role_granularity='batch' the compiled step (one trace) picks the teacher from
    this batch's e_dsr vs e_de and leaves the teacher's variables untouched (the per-epoch
    default: tests/test_dsr_roles.py)."""
    m = _model(role_granularity="batch")
    m.stage.assign(2)
    data = _batch()
    # 1. A residual DSRNet starts at bicubic quality: far better than a random DENet.
    dsr_b, de_b, sp_b = _snap(m.dsr_variables()), _snap(m.de_variables()), _snap(m.spnet.trainable_variables)
    h = _step(m, data)
    assert h["step_e_dsr"][0] < h["step_e_de"][0]
    assert h["role"] == [1.0] and h["dsr_teacher_fraction"] == [1.0]
    assert not _changed(dsr_b, m.dsr_variables())       # the teacher is fixed
    assert _changed(de_b, m.de_variables())             # the student learns
    assert _changed(sp_b, m.spnet.trainable_variables)
    # 2. Make DSRNet clearly wrong everywhere: DENet becomes the teacher.
    m.dsrnet.out_conv.bias.assign([5.0])
    dsr_b, de_b = _snap(m.dsr_variables()), _snap(m.de_variables())
    h = _step(m, data)
    assert h["step_e_dsr"][0] > h["step_e_de"][0] and h["role"] == [0.0]
    assert _changed(dsr_b, m.dsr_variables())
    assert not _changed(de_b, m.de_variables())


def test_teacher_mode_task_steps_the_teacher_on_its_own_loss_only():
    m = _model("task", run_eagerly=True)
    m.stage.assign(2)
    dsr_b, de_b = _snap(m.dsr_variables()), _snap(m.de_variables())
    h = _step(m, _batch())
    assert h["role"] == [1.0]
    assert _changed(dsr_b, m.dsr_variables()) and _changed(de_b, m.de_variables())
    # the distillation term carries no gradient into the teacher (DSRNet here)
    with tf.GradientTape() as tape:
        f = m._forward(_batch(), with_spnet=False)
        distill = m._distill(f, dsr_teaches=True)
    grads = tape.gradient(distill, m.dsr_variables())
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0.0 for g in grads)
