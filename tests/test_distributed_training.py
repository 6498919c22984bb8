"""MirroredStrategy with 2 logical CPU devices (one subprocess, tests/workers/mirrored_worker.py,
since the CPU must be split before TensorFlow initialises): Keras' compiled losses are scaled
exactly (the distributed update is the one-device update on the same global batch), also with
synchronised BatchNorm; training state checkpointed under one strategy resumes under the
other; and the recognition trainer (score fusion: two classifiers trained in
turn) gives the default-strategy run's losses, weights and rank-1. The enhancer under a
strategy and its chief-only writes are in tests/test_multi_worker.py."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the slow end-to-end set (.ci/run; pytest --slow)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored")
    proc = subprocess.run([sys.executable, "-m", "tests.workers.mirrored_worker", f"--out={out}"],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


def _load(runs, case):
    error = runs / f"{case}.error"
    if error.exists():
        pytest.fail(f"{case} failed in the worker:\n{error.read_text()}")
    return dict(np.load(runs / f"{case}.npz"))


def _flat(d, prefix):
    keys = sorted((k for k in d if k.startswith(prefix) and k[len(prefix):].isdigit()),
                  key=lambda k: int(k[len(prefix):]))
    assert keys, prefix
    return np.concatenate([d[k].ravel() for k in keys])


def _relative_gap(d, got, want, init):
    """|got - want| / |want - init|: 0 for the same update, 1 for an update off by 2x."""
    g, w, i = _flat(d, got), _flat(d, want), _flat(d, init)
    travel = np.linalg.norm(w - i)
    assert travel > 0
    return np.linalg.norm(g - w) / travel


def test_compiled_face_loss_is_the_global_batch_loss_under_two_replicas(runs):
    d = _load(runs, "loss_scaling")
    # Step 1 logs the hand-computed loss: per image the mean squared error over its face
    # (y < 1) pixels, averaged over the 4 images; replica 1's images are mostly holes.
    np.testing.assert_allclose(d["face_loss_single"][0], d["face_init_loss"], rtol=1e-6)
    np.testing.assert_allclose(d["face_loss_mirrored"], d["face_loss_single"], rtol=1e-6)
    # SGD updates are lr x gradient: a loss scaled by 2 (no 1/R) would give a gap of 1.
    assert _relative_gap(d, "face_mirrored", "face_single", "face_init") < 1e-4


def test_synchronised_batchnorm_gives_the_one_device_step(runs):
    d = _load(runs, "loss_scaling")
    np.testing.assert_allclose(d["bn_sync_loss"], d["bn_loss_single"], rtol=1e-5)
    assert _relative_gap(d, "bn_sync_w", "bn_single", "bn_init") < 1e-4
    # Per-replica statistics (half batches) train a different network: why sync is default.
    assert _relative_gap(d, "bn_local_w", "bn_single", "bn_init") > 1e-2


def test_checkpoints_resume_across_strategies(runs):
    d = _load(runs, "loss_scaling")
    for name in ("to_default", "to_mirrored"):
        # Weights, Adam moments and step counter of 3 steps, epoch counter 4.
        assert int(d[f"resume_{name}_epoch"]) == 4 and int(d[f"resume_{name}_iterations"]) == 3
        assert d[f"resume_{name}_changed"] and d[f"resume_{name}_same"], name


@pytest.mark.parametrize("fusion", ["score"])   # 'feature': the worker's recognition_feature
def test_recognition_mirrored_matches_default(runs, fusion):
    d = _load(runs, f"recognition_{fusion}")
    roles = list(d["roles"])
    assert roles == (["fused"] if fusion == "feature" else ["depth", "rgb"])
    # 6 training images, global batch 6: one step per role, 3 images per replica.
    assert len(d["default_loss"]) == len(roles) and np.isfinite(d["mirrored_loss"]).all()
    np.testing.assert_allclose(d["mirrored_loss"], d["default_loss"], rtol=1e-4)
    for name in d["names"]:
        assert d[f"{name}_same_init"], name
        # One Adam step (~lr * sign(g)): compared against the distance moved, since weights
        # whose gradient is zero up to all-reduce rounding may move either way.
        assert d[f"{name}_travel"] > 0
        assert d[f"{name}_gap"] < 0.01 * d[f"{name}_travel"], name
    assert d["mirrored_rank1"] == d["default_rank1"]


def test_uneven_global_batch_and_unknown_strategy_are_clear_errors():
    from types import SimpleNamespace

    from depthlab import training
    from depthlab.runners import enhancer, recognition

    with pytest.raises(ValueError, match=r"--batch_size=3 .*not divisible by the 2 replicas"):
        training.check_global_batch(3, SimpleNamespace(num_replicas_in_sync=2))
    training.check_global_batch(4, SimpleNamespace(num_replicas_in_sync=2))
    with pytest.raises(ValueError, match="--strategy='tpu'"):
        enhancer.EnhancerRunOptions(model_dir="x", strategy="tpu")
    with pytest.raises(ValueError, match="--strategy='tpu'"):
        recognition.RunOptions(model_dir="x", strategy="tpu")
