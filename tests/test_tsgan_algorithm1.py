"""TS-GAN 'paper' preset: Algorithm 1 (paper l. 480-511) step by step, against hand-computed
numbers: which optimizer moves which network, the order of the four sub-steps, the real and
fake inputs of each discriminator, the 1/2 LSGAN factors and the per-epoch decay."""

import os

import numpy as np
import pytest
import keras

from depthlab.configs import ConfigError, tsgan_config
from depthlab.models import tsgan
from depthlab.runners.tsgan import build_optimizers

SIZE = 32
NETS = ("g_a2b", "g_b2a", "d_depth", "d_rgb")
ROLES = ("teacher", "student", "disc", "d_rgb")


def _cfg(**overrides):
    return tsgan_config("paper", image_size=SIZE, gen_filters=4, gen_blocks=1,
                        disc_filters=(4, 8), disc_strides=(2, 2), **overrides)


def _model(lrs=None, ablation="none", **overrides):
    """Tiny paper-preset model; ``lrs`` maps a role to its (constant) Adam learning rate."""
    lrs = {r: 1e-2 for r in ROLES} if lrs is None else lrs
    keras.utils.set_random_seed(0)
    model = tsgan.TSGAN(_cfg(**overrides), ablation=ablation, seed=0)
    roles = ROLES if model.config.update_order == "algorithm1" else ROLES[:3]
    model.compile(**{f"{r}_optimizer": keras.optimizers.Adam(lrs.get(r, 0.0), name=r)
                     for r in roles})
    return model


def _batch(seed=0, b=2):
    rng = np.random.default_rng(seed)
    u = lambda c: rng.uniform(-1, 1, (b, SIZE, SIZE, c)).astype(np.float32)  # noqa: E731
    depth = u(1)
    return {"rgb": u(3), "depth": depth, "mask": np.ones_like(depth), "target_rgb": u(3)}


def _weights(model):
    return {n: [w.copy() for w in getattr(model, n).get_weights()] for n in NETS}


def _changed(model, before):
    return {n: any(not np.array_equal(a, b) for a, b in zip(before[n],
                                                             getattr(model, n).get_weights()))
            for n in NETS}


def _run(net, weights, x):
    """``net(x)`` with ``weights`` loaded, then the current weights put back."""
    current = net.get_weights()
    net.set_weights(weights)
    try:
        return net(x, training=True).numpy().astype(np.float64)
    finally:
        net.set_weights(current)


def _lsgan_g(scores):          # eqs. 1 and 4 as printed: 1/2 E[(D(fake) - 1)^2]
    return 0.5 * np.mean((scores - 1.0) ** 2)


def _lsgan_d(real, fake):      # eqs. 2 and 5 as printed: 1/2 E[(D(real) - 1)^2] + 1/2 E[D(fake)^2]
    return 0.5 * np.mean((real - 1.0) ** 2) + 0.5 * np.mean(fake ** 2)


def _far(a, b, rel=1e-3):
    return abs(a - b) > rel * max(abs(a), abs(b))


@pytest.mark.parametrize("role, moved", [
    ("teacher", {"g_a2b"}),                 # l. 493-495: "update G_A2B"
    ("disc", {"d_depth"}),                  # l. 496-498: "update D_Depth"
    ("student", {"g_a2b", "g_b2a"}),        # l. 500-502: "update G_A2B and G_B2A"
    ("d_rgb", {"d_rgb"}),                   # l. 503-505: "update D_RGB"
])
def test_each_optimizer_moves_only_its_networks(role, moved):
    model = _model({role: 1e-2})            # every other learning rate is 0
    before = _weights(model)
    model.train_step(_batch())
    changed = _changed(model, before)
    assert {n for n in NETS if changed[n]} == moved


def test_sub_step_order_and_losses_by_hand_teacher_then_d_depth_then_student():
    """Student LR 0, so G_A2B after the step is G_A2B after the teacher sub-step (G1).

    L_teach uses G0, D_depth0; L_D_depth uses G1 (teacher step first) and D_depth0;
    L_student uses G1, D_depth1 (D_depth step before the student) and D_RGB0 (D_RGB after)."""
    model = _model({"teacher": 1e-2, "disc": 1e-2, "student": 0.0, "d_rgb": 1e-2})
    batch = _batch()
    a_t, a_r = batch["rgb"], batch["target_rgb"]
    b_t = np.repeat(batch["depth"], 3, axis=-1).astype(np.float64)
    w0 = _weights(model)
    logs = {k: float(v) for k, v in model.train_step(batch).items()}
    w1 = _weights(model)
    g, f, dd, dr = model.g_a2b, model.g_b2a, model.d_depth, model.d_rgb

    # (1) eq. 7 = eq. 1 + 10 * eq. 3 with the initial networks.
    fake0 = _run(g, w0["g_a2b"], a_t)
    want_t = _lsgan_g(_run(dd, w0["d_depth"], fake0)) + 10.0 * np.mean(np.abs(fake0 - b_t))
    assert logs["teacher_g_loss"] == pytest.approx(want_t, rel=1e-5)

    # (2) eq. 2: real B_t, fake = the teacher-updated G_A2B(A_t) (the pool's first call
    # returns its input), judged by the D_depth of before its update.
    fake1 = _run(g, w1["g_a2b"], a_t)
    real_score = _run(dd, w0["d_depth"], b_t)
    want_dd = _lsgan_d(real_score, _run(dd, w0["d_depth"], fake1))
    stale_dd = _lsgan_d(real_score, _run(dd, w0["d_depth"], fake0))
    assert logs["d_depth_loss"] == pytest.approx(want_dd, rel=1e-5)
    assert _far(want_dd, stale_dd)

    # (3) eq. 8: 1/2 (D_depth(G(A_r)) - 1)^2 + 1/2 (D_RGB(F(G(A_r))) - 1)^2 + 5 L1(A_r, F(G(A_r)))
    def student(d_depth_w, g_w):
        fake = _run(g, g_w, a_r)
        rec = _run(f, w0["g_b2a"], fake)
        return (_lsgan_g(_run(dd, d_depth_w, fake)) + _lsgan_g(_run(dr, w0["d_rgb"], rec))
                + 5.0 * np.mean(np.abs(a_r - rec)))

    want_s = student(w1["d_depth"], w1["g_a2b"])
    assert logs["student_g_loss"] == pytest.approx(want_s, rel=1e-5)
    assert _far(want_s, student(w0["d_depth"], w1["g_a2b"]))     # D_depth moved before it
    assert _far(want_s, student(w1["d_depth"], w0["g_a2b"]))     # teacher moved G before it

    # (4) eq. 5 with G_B2A(G_A2B(A_r)) of the current generators and real = A_r.
    rec1 = _run(f, w1["g_b2a"], _run(g, w1["g_a2b"], a_r))
    want_dr = _lsgan_d(_run(dr, w0["d_rgb"], a_r), _run(dr, w0["d_rgb"], rec1))
    assert logs["d_rgb_loss"] == pytest.approx(want_dr, rel=1e-5)
    assert not any(_changed(model, w1).values())


def test_d_rgb_step_after_the_student_with_target_rgb_as_real():
    """Teacher and D_depth LR 0: D_RGB's fakes come from the student-updated generators,
    its real class is the target RGB A_r (eq. 5), not the source RGB A_t."""
    model = _model({"teacher": 0.0, "disc": 0.0, "student": 1e-2, "d_rgb": 1e-2})
    batch = _batch(seed=1)
    a_t, a_r = batch["rgb"], batch["target_rgb"]
    w0 = _weights(model)
    logs = {k: float(v) for k, v in model.train_step(batch).items()}
    w1 = _weights(model)
    g, f, dr = model.g_a2b, model.g_b2a, model.d_rgb

    def d_rgb_loss(real, gen_w):
        rec = _run(f, gen_w["g_b2a"], _run(g, gen_w["g_a2b"], a_r))
        return _lsgan_d(_run(dr, w0["d_rgb"], real), _run(dr, w0["d_rgb"], rec))

    want = d_rgb_loss(a_r, w1)
    assert logs["d_rgb_loss"] == pytest.approx(want, rel=1e-5)
    assert _far(want, d_rgb_loss(a_r, w0))       # the student step ran before D_RGB's
    assert _far(want, d_rgb_loss(a_t, w1))       # the real class is not the source RGB


def test_d_depth_never_sees_student_fakes():
    """Two steps that differ only in the target RGB end with the same D_depth (eq. 2 has no
    A_r term; a second step would differ through the student's G_A2B update); in the code
    order D_depth also trains on student fakes, so it differs. The student pool stays empty."""
    def after(order_overrides, target_seed):
        model = _model(**order_overrides)
        batch = _batch()
        batch["target_rgb"] = _batch(seed=target_seed)["target_rgb"]
        model.train_step(batch)
        assert int(model.student_pool.count) == (0 if not order_overrides else 2)
        return model.d_depth.get_weights(), model.d_rgb.get_weights()

    for overrides, same_depth in (({}, True),
                                  (dict(update_order="code", d_depth_student_fakes=True,
                                        regenerate_fakes=False), False)):
        (dd_a, dr_a), (dd_b, dr_b) = after(overrides, 5), after(overrides, 6)
        assert all(np.array_equal(a, b) for a, b in zip(dd_a, dd_b)) == same_depth
        assert not all(np.array_equal(a, b) for a, b in zip(dr_a, dr_b))


# Hand-computed: alpha * 0.5^k with k the number of epochs n > start already finished.
TEACHER_LR = {24: 2e-4, 25: 2e-4, 26: 1e-4, 27: 5e-5, 28: 2.5e-5, 29: 1.25e-5, 30: 6.25e-6}
STUDENT_LR = {49: 2e-6, 50: 2e-6, 51: 1e-6, 52: 5e-7, 53: 2.5e-7, 54: 1.25e-7, 55: 6.25e-8}


def test_paper_learning_rates_compound_per_epoch_after_25_and_50():
    """0-based epoch index e: teacher (and D_depth) 2e-4 * 0.5^max(0, e - 25), student (and
    D_RGB) 2e-6 * 0.5^max(0, e - 50), read through each optimizer's iteration counter."""
    steps = 7
    opts = build_optimizers(tsgan_config("paper"), steps_per_epoch=steps)
    assert set(opts) == set(ROLES)
    for role, table in (("teacher", TEACHER_LR), ("disc", TEACHER_LR),
                        ("student", STUDENT_LR), ("d_rgb", STUDENT_LR)):
        opt = opts[role]
        for epoch, lr in table.items():
            for step in (epoch * steps, epoch * steps + steps - 1):
                opt.iterations.assign(step)
                assert float(opt.learning_rate) == pytest.approx(lr, rel=1e-6), (role, epoch)
        assert opt.get_config()["beta_1"] == 0.5


def test_learning_rate_advances_once_per_train_step():
    """Each optimizer applies once per train_step: with 1 step per epoch and decay after epoch
    1 (teacher) / 2 (student), the rates used by steps 0..4 are lr0 * 0.5^max(0, step - start)."""
    cfg = _cfg(decay_epoch_teacher=1, decay_epoch_student=2)
    keras.utils.set_random_seed(0)
    model = tsgan.TSGAN(cfg)
    model.compile(**{f"{r}_optimizer": o for r, o in build_optimizers(cfg, 1).items()})
    seen = {r: [] for r in ROLES}
    for step in range(5):
        for r in ROLES:
            seen[r].append(float(getattr(model, f"{r}_optimizer").learning_rate))
        model.train_step(_batch(seed=step))
    teacher = [2e-4, 2e-4, 1e-4, 5e-5, 2.5e-5]
    student = [2e-6, 2e-6, 2e-6, 1e-6, 5e-7]
    for r, want in (("teacher", teacher), ("disc", teacher), ("student", student),
                    ("d_rgb", student)):
        np.testing.assert_allclose(seen[r], want, rtol=1e-6, err_msg=r)


@pytest.mark.parametrize("ablation, moved, keys", [
    ("teacher_only", {"g_a2b", "d_depth"}, {"teacher_g_loss", "teacher_pixel_loss",
                                            "d_depth_loss"}),
    ("a2b_only", {"g_a2b"}, {"teacher_g_loss", "teacher_pixel_loss"}),
])
def test_paper_order_ablations(ablation, moved, keys):
    model = _model(ablation=ablation)
    before = _weights(model)
    batch = _batch()
    del batch["target_rgb"]                  # the ablations read no target data
    logs = model.train_step(batch)
    assert {n for n, c in _changed(model, before).items() if c} == moved
    assert set(logs) == keys


def test_paper_config_and_compile_checks():
    with pytest.raises(ConfigError, match="d_depth_student_fakes"):
        tsgan_config("paper", d_depth_student_fakes=True)
    with pytest.raises(ConfigError, match="regenerate_fakes"):
        tsgan_config("code", regenerate_fakes=True)
    model = tsgan.TSGAN(_cfg())
    with pytest.raises(ValueError, match="d_rgb_optimizer is required"):
        model.compile(**{f"{r}_optimizer": keras.optimizers.Adam(name=r) for r in ROLES[:3]})
    code = tsgan.TSGAN(tsgan_config("demo", image_size=SIZE, gen_filters=4, gen_blocks=1,
                                    disc_filters=(4, 8), disc_strides=(2, 2)))
    with pytest.raises(ValueError, match="only used with"):
        code.compile(**{f"{r}_optimizer": keras.optimizers.Adam(name=r) for r in ROLES})


def test_runner_checkpoint_holds_the_d_rgb_optimizer(tmp_path):
    """The runner's checkpoint saves all four optimizers of the paper order: a restored copy
    takes the same next step (losses and all four networks)."""
    from depthlab import training
    from depthlab.runners.tsgan import build_model, checkpoint_objects

    def checkpoint_state(model, model_dir):
        return training.ResumableCheckpoint(os.path.join(model_dir, "checkpoints"),
                                            **checkpoint_objects(model))

    cfg = _cfg()
    keras.utils.set_random_seed(0)
    model = build_model(cfg, "none", seed=0, steps_per_epoch=2)
    for k in range(2):
        model.train_step(_batch(seed=k))
    state = checkpoint_state(model, str(tmp_path))
    assert state.checkpoint.d_rgb_optimizer is model.d_rgb_optimizer
    state.save(1)
    keras.utils.set_random_seed(1)
    clone = build_model(cfg, "none", seed=0, steps_per_epoch=2)
    assert checkpoint_state(clone, str(tmp_path)).restore_latest() == 1
    assert int(clone.d_rgb_optimizer.iterations) == 2
    for m in model.metrics + clone.metrics:
        m.reset_state()
    la, lb = model.train_step(_batch(seed=9)), clone.train_step(_batch(seed=9))
    for key in la:
        assert float(la[key]) == pytest.approx(float(lb[key]), rel=1e-6), key
    for n in NETS:
        for a, b in zip(getattr(model, n).get_weights(), getattr(clone, n).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
