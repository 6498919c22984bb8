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


def test_chunk_plan_hand_worked_stages():
    """Two stages (5 examples in chunks of 2, then 3 in chunks of 3, 2 and 1 epochs per chunk):
    chunks [0,2) [2,4) [4,5) at epochs 0-1, 2-3, 4-5, then [10,13) at epoch 6; an empty stage
    between them is skipped and does not count."""
    from depthlab.schedules import Stage, chunk_plan

    plan = chunk_plan([Stage("a", 5, ("x",), 2, 2), Stage("empty", 0, ("x",), 1, 1),
                       Stage("b", 3, ("y", "z"), 3, 1, first=10)])
    got = [(c.stage.name, c.start, c.stop, c.first_epoch, c.last_epoch, c.index,
            c.index_in_stage, c.stage_index, c.chunks_in_stage) for c in plan]
    assert got == [("a", 0, 2, 0, 2, 0, 0, 0, 3), ("a", 2, 4, 2, 4, 1, 1, 0, 3),
                   ("a", 4, 5, 4, 6, 2, 2, 0, 3), ("b", 10, 13, 6, 7, 3, 0, 2, 1)]
    with pytest.raises(ValueError, match="stage 'a'.*chunk_size"):
        chunk_plan([Stage("a", 5, ("x",), 0, 2)])
    with pytest.raises(ValueError, match="every stage is empty"):
        chunk_plan([Stage("a", 0, ("x",), 1, 1)])
