"""TS-GAN networks and the Algorithm 1 train step."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from depthlab.configs import ConfigError, tsgan_config
from depthlab.models import tsgan
from depthlab.schedules import LinearDecay


def _count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Published / reference counts: a Keras rebuild of the authors' layer config (original layer
# tables) and the issue. The paper D follows the text (l. 536-541), by hand: k4 convs
# 3->64, 64->128, 128->256, 256->256 without bias, each + IN (2 x filters): 3,072 + 128,
# 131,072 + 256, 524,288 + 512, 1,048,576 + 512; then the 1-map conv 4,096 + 1 bias
# = 1,712,513 (the code's bias-only first conv gave 1,712,449 = 1,712,513 - 64).
@pytest.mark.parametrize("preset, g_count, d_count", [
    ("code", 11_383_427, 2_765_633),
    ("paper", 7_841_411, 1_712_513),
])
def test_exact_parameter_counts(preset, g_count, d_count):
    assert _count(tsgan.build_generator(preset)) == g_count
    assert _count(tsgan.build_discriminator(preset)) == d_count


def test_paper_discriminator_layers():
    """IN after every one of the four convs (l. 538-539), none in the code's first conv; the
    1-map conv is k4 s2 in the paper ("the same parameters", l. 540-541), k4 s1 in the code.
    ``disc_final_norm`` (IN + LReLU on the 1-map conv too): 4,096 + 2 instead of 4,096 + 1."""
    def layout(net):
        convs = [l for l in net.layers if isinstance(l, keras.layers.Conv2D)]
        n_in = sum(type(l).__name__ == "InstanceNorm" for l in net.layers)
        return [(c.filters, c.kernel_size, c.strides, c.use_bias) for c in convs], n_in

    convs, n_in = layout(tsgan.build_discriminator("paper"))
    assert n_in == 4
    assert convs == [(64, (4, 4), (2, 2), False), (128, (4, 4), (2, 2), False),
                     (256, (4, 4), (2, 2), False), (256, (4, 4), (2, 2), False),
                     (1, (4, 4), (2, 2), True)]
    convs, n_in = layout(tsgan.build_discriminator("code"))
    assert n_in == 3 and convs[0][3] and convs[-1] == (1, (4, 4), (1, 1), True)
    literal = tsgan.build_discriminator(tsgan_config("paper", disc_final_norm=True))
    assert _count(literal) == 1_712_513 + 1
    assert layout(literal)[1] == 5


def test_discriminator_patch_output_shapes():
    assert tsgan.build_discriminator("code").output_shape == (None, 16, 16, 1)   # 70x70 PatchGAN
    assert tsgan.build_discriminator("paper").output_shape == (None, 4, 4, 1)   # five s2 convs


def test_generator_output_range_and_shape():
    g = tsgan.build_generator("demo")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    y = g(x).numpy()
    assert y.shape == (2, 64, 64, 3) and y.dtype == np.float32
    assert np.all(np.abs(y) <= 1.0)


def test_networks_serialize_round_trip(tmp_path):
    g = tsgan.build_generator("demo")
    d = tsgan.build_discriminator("demo")
    x = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    for net in (g, d):
        path = str(tmp_path / f"{net.name}.keras")
        net.save(path)
        clone = keras.saving.load_model(path)
        assert type(clone) is type(net)
        np.testing.assert_allclose(clone(x).numpy(), net(x).numpy(), atol=1e-6)


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="unknown TS-GAN preset"):
        tsgan_config("nope")
    with pytest.raises(ConfigError, match="image_size"):
        tsgan_config("code", image_size=30)
    with pytest.raises(ConfigError, match="lambda_nope"):
        tsgan_config("code", lambda_nope=1.0)
    with pytest.raises(ConfigError, match="gen_upsample"):
        tsgan_config("code", gen_upsample="nearest")
    kinds = [type(layer).__name__
             for layer in tsgan.build_generator(tsgan_config("demo", gen_upsample="resize")).layers]
    assert kinds.count("UpSampling2D") == 2 and "Conv2DTranspose" not in kinds
    with pytest.raises(ValueError, match="ablation"):
        tsgan.TSGAN("demo", ablation="student_only")


def _tiny_model(ablation="none", **overrides):
    overrides = {"mask_pixel_loss": False, **overrides}      # the code's unmasked L1 by default
    cfg = tsgan_config("demo", image_size=16, gen_filters=4, gen_blocks=1,
                       disc_filters=(4, 8), disc_strides=(2, 1), pool_size=2, **overrides)
    model = tsgan.TSGAN(cfg, ablation=ablation, seed=0)
    opts = [keras.optimizers.Adam(1e-3, name=n) for n in ("t", "s", "d")]
    model.compile(teacher_optimizer=opts[0], student_optimizer=opts[1], disc_optimizer=opts[2])
    return model


def _batch(b=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(-1, 1, (b, size, size, 1)).astype(np.float32)
    return {"rgb": rng.uniform(-1, 1, (b, size, size, 3)).astype(np.float32),
            "depth": depth, "mask": (depth > -0.5).astype(np.float32),
            "target_rgb": rng.uniform(-1, 1, (b, size, size, 3)).astype(np.float32)}


def _snapshot(net):
    return [w.numpy().copy() for w in net.trainable_weights]


def _changed(before, net):
    return any(not np.array_equal(a, w.numpy()) for a, w in zip(before, net.trainable_weights))


@pytest.mark.parametrize("ablation, updates", [
    ("none", {"g_a2b": True, "g_b2a": True, "d_depth": True, "d_rgb": True}),
    ("teacher_only", {"g_a2b": True, "g_b2a": False, "d_depth": True, "d_rgb": False}),
    ("a2b_only", {"g_a2b": True, "g_b2a": False, "d_depth": False, "d_rgb": False}),
])
def test_train_step_updates_exactly_the_right_networks(ablation, updates):
    model = _tiny_model(ablation)
    before = {name: _snapshot(getattr(model, name)) for name in updates}
    logs = model.train_step(_batch())
    for name, should_change in updates.items():
        assert _changed(before[name], getattr(model, name)) == should_change, name
    assert all(np.isfinite(float(v)) for v in logs.values())
    expected_keys = {"none": {"teacher_g_loss", "teacher_pixel_loss", "student_g_loss",
                              "cycle_loss", "disc_loss"},
                     "teacher_only": {"teacher_g_loss", "teacher_pixel_loss", "disc_loss"},
                     "a2b_only": {"teacher_g_loss", "teacher_pixel_loss"}}[ablation]
    assert set(logs) == expected_keys


def test_teacher_loss_equals_hand_assembled_formula():
    """L_T = lsgan_g(D_depth(G(A))) + lambda_pixel * L1(G(A), B), checked before the update."""
    model = _tiny_model()
    batch = _batch()
    fake = model.g_a2b(batch["rgb"], training=True).numpy()
    score = model.d_depth(fake, training=True).numpy()
    depth3 = np.repeat(batch["depth"], 3, axis=-1)
    want_pixel = np.abs(fake - depth3).mean()
    want = np.mean((score - 1.0) ** 2) + model.config.lambda_pixel * want_pixel
    logs = model.train_step(batch)
    assert float(logs["teacher_pixel_loss"]) == pytest.approx(want_pixel, rel=1e-5)
    assert float(logs["teacher_g_loss"]) == pytest.approx(want, rel=1e-5)


def test_teacher_loss_adds_the_gradient_term_when_asked():
    """lambda_gradient > 0 (not TS-GAN's: a measured option): L_T gains lambda_gradient x the
    mean |finite difference of (G(A) - B)| over pixel pairs, worked here in NumPy; the logged
    pixel loss stays eq. 3's L1 alone."""
    model = _tiny_model(lambda_gradient=7.0)
    batch = _batch()
    fake = model.g_a2b(batch["rgb"], training=True).numpy()
    score = model.d_depth(fake, training=True).numpy()
    residual = fake - np.repeat(batch["depth"], 3, axis=-1)
    grads = np.concatenate([np.abs(np.diff(residual, axis=2)).ravel(),
                            np.abs(np.diff(residual, axis=1)).ravel()])
    want = (np.mean((score - 1.0) ** 2) + model.config.lambda_pixel * np.abs(residual).mean()
            + 7.0 * grads.mean())
    logs = model.train_step(batch)
    assert float(logs["teacher_pixel_loss"]) == pytest.approx(np.abs(residual).mean(), rel=1e-5)
    assert float(logs["teacher_g_loss"]) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ConfigError, match="lambda_gradient"):
        tsgan_config("demo", lambda_gradient=-1.0)
    with pytest.raises(ConfigError, match="gradient_scales"):
        tsgan_config("demo", gradient_scales=0)


def test_teacher_loss_adds_the_landmark_head_when_asked():
    """lambda_landmark > 0 (not TS-GAN's: a measured option): G_A2B gains a 4-map head beside
    depth (its output, the export's, stays depth alone); L_T gains lambda_landmark x the mean
    squared error of the head's maps to the batch's ``landmarks``, worked here in NumPy; the
    head trains with the teacher step; a batch without landmarks leaves the term out."""
    model = _tiny_model(lambda_landmark=3.0, landmark_foreground_weight=0.0)
    plain = _tiny_model(lambda_landmark=0.0)      # (the demo preset has the head)
    assert model.g_a2b.output_shape == plain.g_a2b.output_shape
    assert _count(model.g_a2b) == _count(plain.g_a2b) + 4 * (7 * 7 * 4 + 1)
    batch = _batch()
    rng = np.random.default_rng(1)
    batch["landmarks"] = rng.uniform(-1, 1, (2, 16, 16, 4)).astype(np.float32)
    fake, heat = (t.numpy() for t in model.g_a2b.with_aux(batch["rgb"], training=True))
    np.testing.assert_array_equal(fake, model.g_a2b(batch["rgb"], training=True).numpy())
    score = model.d_depth(fake, training=True).numpy()
    pixel = np.abs(fake - np.repeat(batch["depth"], 3, axis=-1)).mean()
    heat_mse = np.mean((heat - batch["landmarks"]) ** 2)
    head = [w.numpy().copy() for w in model.g_a2b.with_aux.get_layer("aux_conv").weights]
    logs = model.train_step(batch)
    assert float(logs["landmark_loss"]) == pytest.approx(heat_mse, rel=1e-5)
    assert float(logs["teacher_g_loss"]) == pytest.approx(
        np.mean((score - 1.0) ** 2) + model.config.lambda_pixel * pixel + 3.0 * heat_mse,
        rel=1e-5)
    assert all(not np.array_equal(a, w.numpy())
               for a, w in zip(head, model.g_a2b.with_aux.get_layer("aux_conv").weights))
    del batch["landmarks"]
    assert "landmark_loss" not in model.train_step(batch)
    with pytest.raises(ConfigError, match="lambda_landmark"):
        tsgan_config("demo", lambda_landmark=-1.0)
    with pytest.raises(ConfigError, match="reproduce_flip_bug"):
        tsgan_config("code", lambda_landmark=1.0, reproduce_flip_bug=True)
    with pytest.raises(ConfigError, match="landmark_sigma"):
        tsgan_config("demo", landmark_sigma=0.0)


def test_landmark_foreground_weight_weights_the_head_error_on_the_blobs():
    """``landmark_foreground_weight`` w: the landmark term is sum((1 + w h) e^2) / sum(1 + w h)
    over the head's maps, h = (landmarks + 1) / 2 (``losses.heatmap_loss``), worked here in
    NumPy; a negative weight is refused."""
    model = _tiny_model(lambda_landmark=3.0, landmark_foreground_weight=9.0)
    batch = _batch()
    batch["landmarks"] = np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 4)).astype(np.float32)
    fake, heat = (t.numpy() for t in model.g_a2b.with_aux(batch["rgb"], training=True))
    score = model.d_depth(fake, training=True).numpy()
    pixel = np.abs(fake - np.repeat(batch["depth"], 3, axis=-1)).mean()
    w = 1.0 + 9.0 * (batch["landmarks"] + 1.0) / 2.0
    weighted = np.sum(w * (heat - batch["landmarks"]) ** 2) / np.sum(w)
    logs = model.train_step(batch)
    assert float(logs["landmark_loss"]) == pytest.approx(weighted, rel=1e-5)
    assert float(logs["teacher_g_loss"]) == pytest.approx(
        np.mean((score - 1.0) ** 2) + model.config.lambda_pixel * pixel + 3.0 * weighted,
        rel=1e-5)
    with pytest.raises(ConfigError, match="landmark_foreground_weight"):
        tsgan_config("demo", landmark_foreground_weight=-1.0)


def test_landmark_weight_follows_its_schedule_and_the_runner_builds_it():
    """``compile(landmark_weight=schedule)``: the term's weight is the schedule at the teacher
    optimizer's step (LinearDecay 3 -> 0 over 2 steps: 3 at step 0, 1.5 at step 1); the runner
    builds that schedule from ``landmark_decay_epoch`` (-1 = constant)."""
    from depthlab.runners import tsgan as runner
    from depthlab.schedules import LinearDecay

    model = _tiny_model(lambda_landmark=3.0, landmark_foreground_weight=0.0)
    model.compile(teacher_optimizer=keras.optimizers.Adam(1e-3, name="t"),
                  student_optimizer=keras.optimizers.Adam(1e-3, name="s"),
                  disc_optimizer=keras.optimizers.Adam(1e-3, name="d"),
                  landmark_weight=LinearDecay(3.0, 2, 0))
    batch = _batch()
    batch["landmarks"] = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 4)).astype(np.float32)
    for weight in (3.0, 1.5):
        fake, heat = (t.numpy() for t in model.g_a2b.with_aux(batch["rgb"], training=True))
        score = model.d_depth(fake, training=True).numpy()
        pixel = np.abs(fake - np.repeat(batch["depth"], 3, axis=-1)).mean()
        want = (np.mean((score - 1.0) ** 2) + model.config.lambda_pixel * pixel
                + weight * np.mean((heat - batch["landmarks"]) ** 2))
        model.reset_metrics()
        assert float(model.train_step(batch)["teacher_g_loss"]) == pytest.approx(want, rel=1e-5)
    cfg = tsgan_config("demo", image_size=16, gen_filters=4, gen_blocks=1, disc_filters=(4, 8),
                       disc_strides=(2, 1), epochs=4, lambda_landmark=2.0, landmark_decay_epoch=1)
    built = runner.build_model(cfg, "none", 0, steps_per_epoch=10)
    assert [float(built.landmark_weight(s)) for s in (0, 10, 25, 40)] == pytest.approx(
        [2.0, 2.0, 1.0, 0.0])
    assert runner.build_model(cfg.replace(landmark_decay_epoch=-1), "none", 0, 10).landmark_weight is None
    with pytest.raises(ConfigError, match="landmark_decay_epoch"):
        tsgan_config("demo", landmark_decay_epoch=-2)


def test_masked_pixel_loss_ignores_holes():
    model = _tiny_model(mask_pixel_loss=True)
    batch = _batch()
    fake = model.g_a2b(batch["rgb"], training=True).numpy()
    m = np.repeat(batch["mask"], 3, axis=-1) > 0
    want = np.abs(fake - np.repeat(batch["depth"], 3, axis=-1))[m].mean()
    logs = model.train_step(batch)
    assert float(logs["teacher_pixel_loss"]) == pytest.approx(want, rel=1e-5)


def test_teacher_and_student_optimizers_have_separate_slots():
    model = _tiny_model()
    model.train_step(_batch())
    t_vars = {id(v) for v in model.teacher_optimizer.variables}
    s_vars = {id(v) for v in model.student_optimizer.variables}
    assert not t_vars & s_vars
    assert int(model.teacher_optimizer.iterations) == 1
    assert int(model.student_optimizer.iterations) == 1


def test_test_step_reports_table1_metrics():
    model = _tiny_model()
    logs = model.test_step(_batch())
    for key in ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3"):
        assert np.isfinite(float(logs[key]))
    assert 0.0 <= float(logs["delta1"]) <= float(logs["delta2"]) <= float(logs["delta3"]) <= 1.0


def test_checkpoint_round_trip_includes_optimizer_slots(tmp_path):
    model = _tiny_model()
    for k in range(2):
        model.train_step(_batch(seed=k))
    ckpt = tf.train.Checkpoint(model=model, t=model.teacher_optimizer, s=model.student_optimizer,
                               d=model.disc_optimizer)
    path = ckpt.save(str(tmp_path / "ckpt"))
    clone = _tiny_model()
    tf.train.Checkpoint(model=clone, t=clone.teacher_optimizer, s=clone.student_optimizer,
                        d=clone.disc_optimizer).restore(path).assert_consumed()
    for a, b in zip(model.teacher_optimizer.variables, clone.teacher_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Same next step from both: identical losses and weights (pool state restored too).
    batch = _batch(seed=7)
    for m in model.metrics + clone.metrics:      # loss trackers are running means
        m.reset_state()
    la, lb = model.train_step(batch), clone.train_step(batch)
    for key in la:
        assert float(la[key]) == pytest.approx(float(lb[key]), rel=1e-6)
    for a, b in zip(model.g_a2b.weights, clone.g_a2b.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_mixed_bfloat16_step_is_finite():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _tiny_model()
        logs = model.train_step(_batch())
        assert all(np.isfinite(float(v)) for v in logs.values())
        assert model.g_a2b(_batch()["rgb"]).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_runner_optimizers_follow_the_preset_schedules():
    from depthlab.runners.tsgan import build_optimizers

    opts = build_optimizers(tsgan_config("code", epochs=100), steps_per_epoch=10)
    assert set(opts) == {"teacher", "student", "disc"}       # one joint D optimizer
    # code preset: linear decay to 0 from epoch 10 (teacher, D) / 20 (student), beta_1 0.9
    for role, lr, start in (("teacher", 2e-4, 100), ("student", 2e-6, 200), ("disc", 2e-6, 100)):
        sched = opts[role].get_config()["learning_rate"]
        assert sched["class_name"] == "LinearDecay"
        assert sched["config"] == {"initial": lr, "total_steps": 1000, "decay_start": start}
        assert opts[role].get_config()["beta_1"] == 0.9
    # paper preset: x0.5 per epoch after epoch 25 (teacher, D_depth) / 50 (student, D_RGB);
    # the values are checked epoch by epoch in test_tsgan_algorithm1.py
    opts = build_optimizers(tsgan_config("paper"), steps_per_epoch=10)
    for role, lr, start in (("teacher", 2e-4, 25), ("disc", 2e-4, 25), ("student", 2e-6, 50),
                            ("d_rgb", 2e-6, 50)):
        sched = opts[role].get_config()["learning_rate"]
        assert sched["class_name"] == "CompoundEpochDecay"
        assert sched["config"] == {"initial": lr, "steps_per_epoch": 10, "start_epoch": start,
                                   "factor": 0.5}
