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
