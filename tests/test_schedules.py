"""Learning-rate schedules against hand-worked values."""

import numpy as np
import pytest

from depthlab.schedules import LinearDecay, StepDecay


def test_linear_decay_hand_values():
    s = LinearDecay(2e-4, total_steps=100, decay_start=60)
    # constant before the start, then lr0 * (1 - (t - 60) / 40)
    for step, want in [(0, 2e-4), (59, 2e-4), (60, 2e-4), (70, 1.5e-4), (80, 1e-4), (100, 0.0)]:
        assert float(s(step)) == pytest.approx(want, rel=1e-6, abs=1e-12)


def test_step_decay_hand_values():
    s = StepDecay(0.01, every=5, factor=0.2)          # sparse-to-dense: x0.2 every 5 epochs
    got = [float(s(t)) for t in (0, 4, 5, 9, 10, 15)]
    np.testing.assert_allclose(got, [0.01, 0.01, 0.002, 0.002, 0.0004, 0.00008], rtol=1e-6)


def test_schedules_reject_bad_arguments():
    with pytest.raises(ValueError, match="every"):
        StepDecay(0.1, every=0)
    with pytest.raises(ValueError, match="total_steps"):
        LinearDecay(0.1, total_steps=0, decay_start=0)


def test_compound_epoch_decay_hand_values_and_round_trip():
    """TS-GAN Algorithm 1: x0.5 per epoch once the 0-based epoch index passes start (3 steps
    per epoch, start 2: epochs 0-2 at lr0, epoch 3 at lr0/2, epoch 4 at lr0/4)."""
    import keras
    from depthlab.schedules import CompoundEpochDecay

    s = CompoundEpochDecay(2e-4, steps_per_epoch=3, start_epoch=2, factor=0.5)
    got = [float(s(t)) for t in (0, 8, 9, 11, 12, 14, 15)]
    np.testing.assert_allclose(got, [2e-4, 2e-4, 1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5], rtol=1e-6)
    # exact epoch boundaries far beyond float32's integer range of step / steps_per_epoch
    big = CompoundEpochDecay(1.0, steps_per_epoch=10_000_019, start_epoch=0)
    assert float(big(10_000_019 * 3 - 1)) == 0.25 and float(big(10_000_019 * 3)) == 0.125
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(clone, CompoundEpochDecay) and clone.get_config() == s.get_config()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        CompoundEpochDecay(0.1, steps_per_epoch=0, start_epoch=1)
