"""Enhancer training data: the network convention, the Delta interleave, fixed degradations."""

import numpy as np
import pytest

from data_pipelines import face_enhancement as fe
from data_pipelines.degradation import DegradationConfig

# Hole sizes for 32x32 test faces (the defaults are sized for 256x256).
SMALL = DegradationConfig(outline_count_range=(2, 6), outline_size_range=(1.0, 2.5),
                          random_count_range=(1, 3), random_size_range=(1.0, 3.0))


def _gt(n=3, size=32):
    depth = np.zeros((n, size, size), np.uint16)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.4) ** 2
    for i in range(n):
        depth[i][disc] = 600 + 10 * i + (xx[disc] % 5)
    return fe.FaceDepthSet(depth)


def test_pairs_follow_the_paper_convention():
    gt = _gt()
    x, y = next(iter(fe.make_enhancer_dataset(gt, 3, seed=1, training=False, variants=("none",),
                                              repeat=False, config=SMALL)))
    x, y = x.numpy()[..., 0], y.numpy()[..., 0]
    for i in range(3):
        valid = gt.depth_mm[i] > 0
        # ground truth: (d - near) / 250 on the face, holes (background) = 1.0
        near = gt.depth_mm[i][valid].min()
        np.testing.assert_allclose(y[i][valid], (gt.depth_mm[i][valid] - near) / 250.0, atol=1e-5)
        assert np.all(y[i][~valid] == 1.0)
        # degraded input: same window; holes 1.0 include at least the background
        assert np.all(x[i][~valid] == 1.0)
        assert 0 < np.mean(x[i][valid] == 1.0) < 1          # some face holes, not all


def test_delta_interleaves_three_variants_of_each_ground_truth():
    gt = _gt(n=2)
    xs, ys = [], []
    for x, y in fe.make_enhancer_dataset(gt, 6, seed=2, training=False, variants=fe.DELTA_VARIANTS,
                                         repeat=False, config=SMALL):
        xs.append(x.numpy()[..., 0]), ys.append(y.numpy()[..., 0])
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert len(x) == 6
    np.testing.assert_array_equal(y[0], y[1]), np.testing.assert_array_equal(y[1], y[2])
    bg = gt.depth_mm[0] == 0
    assert np.all(x[0][bg] == 1.0)                   # 'none': holes stay holes
    assert np.mean(x[1][bg] < 1.0) > 0.9             # 'random': hole values randomised
    assert np.std(x[2][bg]) < np.std(x[1][bg])       # 'blurred': randomised then blurred


def test_degradation_is_fixed_per_pair_across_epochs():
    gt = _gt(n=2)
    ds = fe.make_enhancer_dataset(gt, 2, seed=3, training=True, config=SMALL)
    batches = [b[0].numpy() for b in ds.take(4)]            # two epochs, reshuffled
    epoch1 = {round(float(b[..., 0].sum()), 2) for b in batches[0]}
    epoch2 = {round(float(b[..., 0].sum()), 2) for b in batches[1]} | \
             {round(float(b[..., 0].sum()), 2) for b in batches[2]}
    assert epoch1 <= epoch2 | {round(float(b[..., 0].sum()), 2) for b in batches[3]}


def test_bad_ground_truth_is_rejected_clearly():
    with pytest.raises(ValueError, match="uint16"):
        fe.FaceDepthSet(np.zeros((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="all holes"):
        fe.FaceDepthSet(np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(ValueError, match="variant"):
        fe.make_enhancer_dataset(_gt(), 2, variants=("wild",))
    assert fe.chunk_schedule(240_000, 30_000, 10) == (8, 80)       # the paper's schedule
