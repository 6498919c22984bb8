"""MirroredStrategy with 2 logical CPU devices for the CycleGAN-depth, two-stage (both stages)
and DSR distillation trainers: on the same global batch and seed the losses equal the
default-strategy run's, and the DSR roles are chosen on the global batch.

One subprocess (``tests/workers/mirrored_depth_worker.py --trainer=all``; the logical devices
must be configured before TensorFlow initialises them) runs, per trainer, 1 step per epoch:
a default run of 2 epochs, a mirrored run of 2 epochs, and the mirrored run resumed from its
checkpoint. Step 1 (before any update) checks the data split and the per-replica loss
scaling: only the float32 summation order differs. Step 2 is computed with the weights after
the first update, so it checks the update (gradient all-reduce, optimizer) too.
Cost: about 2.5 CPU-minutes (TensorFlow traces each train step once per replica), 3.5 min
of one xdist worker under load: in the slow end-to-end set (``pytest --slow``, run by
``.ci/run`` after the default set).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
opt_in = pytest.mark.slow  # the slow end-to-end set (.ci/run; pytest --slow)
RTOL = 2e-6             # float32 all-reduce / summation order (measured: <= 3.3e-7)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mirrored")
    out = tmp / "all.npz"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.workers.mirrored_depth_worker", "--trainer=all",
         f"--tmp={tmp / 'runs'}", f"--out={out}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return dict(np.load(out))


def _check_against_default(d, prefix, moving):
    assert int(d[f"{prefix}default_replicas"]) == 1
    assert int(d[f"{prefix}mirrored_replicas"]) == 2 == int(d[f"{prefix}resumed_replicas"])
    assert int(d[f"{prefix}default_steps"]) == 2 == int(d[f"{prefix}mirrored_steps"])
    assert int(d[f"{prefix}resumed_steps"]) == 0            # restored at epoch 2: done
    names = sorted(k[len(f"{prefix}default_loss_"):] for k in d
                   if k.startswith(f"{prefix}default_loss_"))
    assert set(moving) <= set(names), names
    for name in names:
        ref, got = d[f"{prefix}default_loss_{name}"], d[f"{prefix}mirrored_loss_{name}"]
        assert np.all(np.isfinite(ref)), name
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-7, err_msg=name)
    for name in moving:                 # step 2 really followed an update
        assert d[f"{prefix}default_loss_{name}"][1] != d[f"{prefix}default_loss_{name}"][0], name
    keys = [k for k in d if k.startswith(f"{prefix}default_w")]
    assert keys
    for key in keys:
        mirrored = d[key.replace("default_w", "mirrored_w")]
        # two updates: the one-device weights to rounding (Adam's first steps are
        # ~lr * sign(g), SGD's lr * g with lr 1e-3)
        np.testing.assert_allclose(mirrored, d[key], rtol=1e-4, atol=1e-4, err_msg=key)
        # the resumed run restored exactly the mirrored run's final checkpoint
        np.testing.assert_array_equal(d[key.replace("default_w", "resumed_w")], mirrored)


@opt_in
def test_cyclegan_depth_mirrored_matches_default(runs):
    _check_against_default(runs, "cyclegan/", ("g_loss", "gan_loss", "nce_x_loss", "nce_y_loss",
                                               "identity_loss", "cycle_loss", "d_loss"))


@opt_in
def test_two_stage_mirrored_matches_default_in_both_stages(runs):
    # stage 1: berHu (c from the max over both replicas), synchronized batch norm, SGD
    _check_against_default(runs, "two_stage/stage1_", ("loss", "rmse"))
    # stage 2: pix2pix with synchronized batch norm and dropout 0.5 drawn for the global batch
    _check_against_default(runs, "two_stage/stage2_", ("g_loss", "g_gan", "g_l1", "d_loss"))


@opt_in
def test_dsr_mirrored_matches_default_through_both_stages(runs):
    _check_against_default(runs, "dsr/", ("loss_dsr", "loss_de", "e_dsr", "e_de"))
    # step 1 is stage 1, step 2 stage 2 with a role exchange (a teacher chosen)
    np.testing.assert_array_equal(runs["dsr/default_loss_stage"], [1.0, 2.0])
    assert runs["dsr/default_loss_role"][0] == -1.0 and runs["dsr/default_loss_role"][1] in (0, 1)


@opt_in
def test_dsr_role_is_chosen_on_the_global_batch(runs):
    d = {k[len("dsr_role/"):]: v for k, v in runs.items() if k.startswith("dsr_role/")}
    # the constructed halves disagree: DSRNet is exact on the first, DENet on the second
    first, second, whole = d["first_half_errors"], d["second_half_errors"], d["whole_errors"]
    assert first[0] < 1e-6 < 0.1 < first[1] and second[1] < 1e-6 < 0.1 < second[0]
    assert d["first_half_role"] == 1.0 and d["second_half_role"] == 0.0
    # the global masked means (first half: a quarter of its pixels valid), recomputed in numpy
    np.testing.assert_allclose(whole, d["numpy_errors"], rtol=1e-5)
    assert whole[1] < 0.5 * whole[0] and d["whole_role"] == 0.0     # DENet teaches, clearly
    # the mirrored step: replica 0 holds the first half, yet both replicas take the global
    # branch (a split choice would log 0.5), with the global errors
    assert int(d["mirrored_replicas"]) == 2
    assert d["mirrored_role"] == d["whole_role"]
    np.testing.assert_allclose(d["mirrored_errors"], whole, rtol=1e-5)


def test_global_batch_must_split_evenly_over_the_replicas():
    from depthlab import training

    class TwoReplicas:
        num_replicas_in_sync = 2

    training.check_global_batch(4, TwoReplicas())
    with pytest.raises(ValueError, match=r"--batch_size=3 .*2 replicas"):
        training.check_global_batch(3, TwoReplicas())


@pytest.fixture(scope="module")
def recognition_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored_recognition")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.workers.mirrored_worker", f"--out={out}",
         "--cases=recognition_feature_frozen,recognition_score_validated"],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


@opt_in
@pytest.mark.parametrize("case, roles", [
    ("feature_frozen", ["depth", "fused", "rgb"]),
    ("score_validated", ["depth", "depth_val", "rgb", "rgb_val"])])
def test_recognition_two_phase_fusions_mirrored_match_default(recognition_runs, case, roles):
    """The fusions that train in two phases (members, then a classifier on their frozen
    embeddings / validation members that choose the score weight), as
    tests/test_distributed_training.py checks the plain score and feature fusions."""
    error = recognition_runs / f"recognition_{case}.error"
    if error.exists():
        pytest.fail(error.read_text())
    d = dict(np.load(recognition_runs / f"recognition_{case}.npz"))
    assert list(d["roles"]) == roles
    # one step of global batch 6 per role (3 images per replica)
    assert len(d["default_loss"]) == len(roles) and np.isfinite(d["mirrored_loss"]).all()
    # measured: <= 1.1e-4 relative (synchronised BN over 6 images through BN-Inception
    # amplifies the all-reduce's summation order); a mis-scaled loss would be off by 2x
    np.testing.assert_allclose(d["mirrored_loss"], d["default_loss"], rtol=5e-4)
    for name in d["names"]:
        assert d[f"{name}_travel"] > 0, name
        if name == "fused":
            # it starts from the trained members (and a fresh classifier): its start differs
            # between the strategies exactly as the members' ends do, and its one step adds
            # no more than the members' own one-step tolerance
            members = np.hypot(d["rgb_gap"], d["depth_gap"])
            assert d["fused_init_gap"] <= 1.001 * members + 1e-7, (d["fused_init_gap"], members)
            assert d["fused_gap"] < members + 0.01 * d["fused_travel"]
        else:
            assert d[f"{name}_same_init"], name
            assert d[f"{name}_gap"] < 0.01 * d[f"{name}_travel"], name
    assert d["mirrored_rank1"] == d["default_rank1"]
    if case == "score_validated":
        assert d["mirrored_weight"] == d["default_weight"]

