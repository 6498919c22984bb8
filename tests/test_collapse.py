"""Collapse guard (depthlab/collapse.py): hand-computed numbers, a model forced to collapse
(zero last layer) is reported, a healthy one is not, the stall criterion, the record file,
TensorBoard and --collapse_guard=stop."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab import collapse


def test_probe_stats_by_hand():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[0.0, 2.0], [4.0, 6.0]])
    s = collapse.probe_stats(pred, target)
    # all elements: pred 1,2,3,4 (mean 2.5), target 0,2,4,6 (mean 3)
    assert s["output_var"] == pytest.approx((2.25 + 0.25 + 0.25 + 2.25) / 4)      # 1.25
    assert s["target_var"] == pytest.approx((9 + 1 + 1 + 9) / 4)                 # 5
    assert s["loss"] == pytest.approx((1 + 0 + 1 + 4) / 4)                       # 1.5
    assert s["constant_loss"] == pytest.approx(5.0)     # MSE of predicting the mean 3
    assert s["zero_loss"] == pytest.approx((0 + 4 + 16 + 36) / 4)     # MSE of predicting 0
    # across the two examples per position: pred (1,3), (2,4) -> 1; target (0,4), (2,6) -> 4
    assert s["batch_output_var"] == pytest.approx(1.0)
    assert s["batch_target_var"] == pytest.approx(4.0)


def test_probe_stats_with_a_mask_by_hand():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[0.0, 2.0], [4.0, 6.0]])
    mask = np.array([[True, False], [True, True]])
    s = collapse.probe_stats(pred, target, mask)
    # valid: pred 1,3,4 (mean 8/3), target 0,4,6 (mean 10/3)
    assert s["output_var"] == pytest.approx(((5 / 3) ** 2 + (1 / 3) ** 2 + (4 / 3) ** 2) / 3)
    assert s["target_var"] == pytest.approx(((10 / 3) ** 2 + (2 / 3) ** 2 + (8 / 3) ** 2) / 3)
    assert s["constant_loss"] == pytest.approx(s["target_var"])
    assert s["loss"] == pytest.approx((1 + 1 + 4) / 3)
    # only position 0 is valid in both examples: pred (1, 3), target (0, 4)
    assert s["batch_output_var"] == pytest.approx(1.0)
    assert s["batch_target_var"] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="differ in shape"):
        collapse.probe_stats(pred, target[:1])
    with pytest.raises(ValueError, match="no valid element"):
        collapse.probe_stats(pred, target, np.zeros_like(mask))


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [1.5]], np.float32) + 0.3).astype(np.float32)
    return x, y


def _model(zero_last: bool):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1, name="last")])
    if zero_last:                        # forced collapse: output == 0 for every input
        last = model.get_layer("last")
        last.set_weights([np.zeros_like(w) for w in last.get_weights()])
        last.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


def _probe(x, y):
    return lambda model: (model(x, training=False).numpy(), y, None)


class _Lines:
    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)


@pytest.mark.parametrize("zero_last", [True, False])
def test_forced_collapse_is_reported_and_a_healthy_model_is_not(tmp_path, zero_last):
    x, y = _regression()
    model = _model(zero_last)
    log = _Lines()
    guard = collapse.CollapseGuard(_probe(x[:16], y[:16]), name="toy", every=2,
                                   model_dir=str(tmp_path), summary_dir=str(tmp_path / "tb"),
                                   log=log)
    model.fit(x, y, batch_size=16, epochs=10, verbose=0, callbacks=[guard])   # 40 steps
    record = json.loads((tmp_path / collapse.RECORD).read_text())
    assert record["collapsed"] is zero_last
    assert guard.collapsed is zero_last
    if zero_last:
        # exactly constant: reported at the first check (step 2, epoch 1), in plain words
        assert record["step"] == 2 and record["epoch"] == 1
        assert "output variance 0 << target variance" in record["reason"]
        assert any(line.startswith("COLLAPSE: toy: output is constant: output variance 0 << "
                                   "target variance") and "at epoch 1 step 2" in line
                   for line in log.lines)
        assert record["last"]["target_var"] == pytest.approx(float(np.var(y[:16])), rel=1e-5)
        # constant output 0: MSE = var(y) + mean(y)^2 >= the constant predictor's var(y)
        assert record["last"]["loss"] == pytest.approx(float(np.mean(y[:16] ** 2)), rel=1e-5)
    else:
        assert log.lines == []
        last = record["last"]
        assert last["loss"] < 0.1 * last["constant_loss"]
        assert last["output_var"] > 0.5 * last["target_var"]
    tags = set()
    for root, _, files in os.walk(tmp_path / "tb"):
        for f in files:
            for e in tf.compat.v1.train.summary_iterator(os.path.join(root, f)):
                tags |= {v.tag for v in e.summary.value}
    assert {"collapse/collapsed", "collapse/variance_ratio", "collapse/loss",
            "collapse/constant_loss"} <= tags
    marked = collapse.mark({}, [guard])
    assert marked["collapsed"] is zero_last
    assert (marked["collapse_reason"] is not None) is zero_last


def test_stop_mode_ends_training(tmp_path):
    x, y = _regression()
    model = _model(zero_last=True)
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    guard = collapse.CollapseGuard(_probe(x[:16], y[:16]), mode="stop", every=1,
                                   model_dir=str(tmp_path), log=_Lines())
    model.fit(x, y, batch_size=16, epochs=10, verbose=0, callbacks=[guard, counter])
    assert guard.collapsed and len(steps) < 40
    assert collapse.read_record(str(tmp_path))["collapsed"] is True
    # a collapse stays recorded when the run resumes, and 'stop' does not train on
    again = collapse.CollapseGuard(_probe(x[:16], y[:16]), mode="stop", model_dir=str(tmp_path),
                                   log=_Lines())
    steps.clear()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[again, counter])
    assert again.collapsed and len(steps) <= 1


def test_input_independent_output_is_reported():
    """The same (non-constant) image for every input: total variance is fine, the variance
    across the probe's examples is zero."""
    target = np.stack([np.linspace(0, 1, 16) * k for k in (1.0, 2.0, 3.0)])
    same = np.broadcast_to(target.mean(0), target.shape)
    guard = collapse.CollapseGuard(lambda m: (same, target, None), every=1, log=_Lines())
    guard.check(), guard.check()
    assert guard.collapsed and guard.reason.startswith("output does not depend on the input")


def _orthogonal_noise(rng, target, fraction):
    """Zero-mean noise uncorrelated with ``target`` (projected out), variance ``fraction`` x the
    target's: the MSE of ``target.mean() + noise`` is exactly (1 + fraction) x var(target)."""
    t = target - target.mean()
    noise = rng.normal(size=target.shape)
    noise -= noise.mean()
    noise -= (noise * t).sum() / (t * t).sum() * t
    return noise / noise.std() * np.sqrt(fraction) * target.std()


def test_stall_at_the_constant_predictor_level():
    """Output = target mean + k x noise independent of the target (variance 0.02 k^2 x the
    target's, so not 'constant'): MSE = (1 + 0.02 k^2) x the constant predictor's. k = 3, 2
    (1.18x, 1.08x) are outside the +-5 % band, k = 1 (1.02x) inside: reported after
    STALL_PATIENCE flat checks in the band, not before."""
    rng = np.random.default_rng(0)
    target = rng.normal(size=(8, 64))
    noise = _orthogonal_noise(rng, target, 0.02)
    outputs = iter([target.mean() + noise * k for k in (3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0)])
    guard = collapse.CollapseGuard(lambda m: (next(outputs), target, None), every=1,
                                   log=_Lines())
    # checks 1-2 are outside the band, checks 3-6 inside and flat
    for i in range(5):
        guard.check()
        assert not guard.collapsed, i
    guard.check()               # the 4th flat check in a row
    assert guard.collapsed and guard.reason.startswith("loss stalls at the constant predictor")
    assert guard.at == {"epoch": 0, "step": 0}
    assert guard.history[-1]["loss"] == pytest.approx(1.02 * guard.history[-1]["constant_loss"],
                                                      rel=1e-9)
    assert guard.history[0]["loss"] == pytest.approx(1.18 * guard.history[0]["constant_loss"],
                                                     rel=1e-9)


def test_a_loss_far_above_the_constant_predictor_is_not_a_stall():
    """An untrained model (MSE 1.4 x the constant predictor's, flat): no collapse."""
    rng = np.random.default_rng(1)
    target = rng.normal(size=(8, 64))
    out = target.mean() + _orthogonal_noise(rng, target, 0.4)
    guard = collapse.CollapseGuard(lambda m: (out, target, None), every=1, log=_Lines())
    for _ in range(10):
        guard.check()
    assert not guard.collapsed


def test_divergence_is_reported():
    """MSE 2000 x var(target) on two checks in a row (the target's mean is 0, so predicting 0
    has the same MSE as predicting the mean): diverged; a NaN output at once."""
    rng = np.random.default_rng(2)
    target = rng.normal(size=(4, 32))
    target -= target.mean()
    far = _orthogonal_noise(rng, target, 1999.0)                     # MSE = 2000 x var
    guard = collapse.CollapseGuard(lambda m: (far, target, None), every=1, log=_Lines())
    guard.check()
    assert not guard.collapsed
    guard.check()
    assert guard.collapsed and guard.reason.startswith("diverged: probe MSE")
    assert "= 2e+03 x max(MSE of predicting the target's mean, of predicting 0)" in guard.reason
    assert guard.history[-1]["zero_loss"] == pytest.approx(float(np.var(target)))
    nan = np.full_like(target, np.nan)
    guard = collapse.CollapseGuard(lambda m: (nan, target, None), every=1, log=_Lines())
    guard.check()
    assert guard.collapsed and "not finite" in guard.reason
    json.dumps(guard.summary(), allow_nan=False)      # strict JSON: NaN written as null


def test_a_nearly_constant_output_needs_patience_checks():
    """Variance ratio 1e-4 (< VAR_RATIO, > VAR_RATIO ** 2): reported at the 2nd check only."""
    rng = np.random.default_rng(3)
    target = rng.normal(size=(4, 32))
    small = target.mean() + _orthogonal_noise(rng, target, 1e-4)
    guard = collapse.CollapseGuard(lambda m: (small, target, None), every=1, log=_Lines())
    guard.check()
    assert not guard.collapsed
    guard.check()
    assert guard.collapsed and "(ratio 1.00e-04 < 0.001)" in guard.reason


def test_a_nearly_constant_output_that_is_still_learning_is_not_a_collapse():
    """A network started at the best constant (the enhancer's head bias, issue 21): output
    variance 1e-4 x the target's but its probe MSE falls by 2 % per check (> STALL_MIN_DELTA):
    no collapse, however many checks; once the loss goes flat it is reported after PATIENCE."""
    rng = np.random.default_rng(4)
    target = rng.normal(size=(4, 32))
    mean, centred = target.mean(), target - target.mean()
    # output = mean + a * (target - mean) + tiny orthogonal noise: MSE = (1 - a)^2 x var
    noise = _orthogonal_noise(rng, target, 1e-5)
    alphas = [0.0, 0.0101, 0.0202, 0.0303]       # MSE ratio ~1.0, 0.980, 0.960, 0.940
    outputs = [mean + a * centred + noise for a in alphas] + [mean + 0.0303 * centred + noise] * 2
    it = iter(outputs)
    guard = collapse.CollapseGuard(lambda m: (next(it), target, None), every=1, log=_Lines())
    for i in range(len(alphas)):
        s = guard.check()
        assert s["output_var"] < collapse.VAR_RATIO * s["target_var"], i
        assert not guard.collapsed, i
    guard.check()                       # flat for the first time: streak 2 from the last fall
    assert guard.collapsed and guard.reason.startswith("output is constant")
