"""Enhancer training runner: chunked schedule, best-only saving, resume, repeat flags."""

import os
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines import face_enhancement as fe
from data_pipelines.degradation import DegradationConfig
from depthlab import training
from depthlab.runners import enhancer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gt(n=4):
    return fe.synthetic_ground_truth(n, seed=1, image_size=256)


@pytest.mark.slow
def test_chunked_training_saves_best_only_and_resumes(tmp_path):
    opts = enhancer.EnhancerRunOptions(model_dir=str(tmp_path), variant="delta", ground_truths=4,
                                       chunk_size=2, epochs_per_chunk=2, steps_per_epoch=1,
                                       batch_size=2)
    summary = enhancer.train(opts, gt=_gt(), verbose=False)
    losses = [h["loss"] for h in summary["history"]]
    assert len(losses) == 4                                   # 2 chunks x 2 epochs
    best = training.read_json(str(tmp_path / "best.json"))
    assert best["loss"] == pytest.approx(min(losses), rel=1e-6)
    assert best["epoch"] == int(np.argmin(losses)) + 1
    model = enhancer.load_enhancer(str(tmp_path))
    assert model.name == "dl_delta"
    # Rerunning the finished run trains nothing more.
    again = enhancer.train(opts, gt=_gt(), verbose=False)
    assert again["history"] == []
    with pytest.raises(ValueError, match="--variant: .delta. -> .alpha."):
        enhancer.train(enhancer.EnhancerRunOptions(model_dir=str(tmp_path), variant="alpha",
                                                   ground_truths=4, chunk_size=2),
                       gt=_gt(), verbose=False)


def test_options_and_flags_are_validated():
    with pytest.raises(ValueError, match="--variant"):
        enhancer.EnhancerRunOptions(model_dir="x", variant="omega")
    with pytest.raises(ValueError, match="--chunk_size"):
        enhancer.EnhancerRunOptions(model_dir="x", chunk_size=0)
    res = subprocess.run([sys.executable, "-m", "experiments.train_enhancer", "--model_dir=/tmp/x",
                          "--repeat=2"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode != 0 and "init_from" in res.stderr


def test_missing_model_dirs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope/config\.json does not exist"):
        enhancer.load_enhancer(str(tmp_path / "nope"))
    opts = enhancer.EnhancerRunOptions(model_dir=str(tmp_path / "run"), ground_truths=2,
                                       chunk_size=2, epochs_per_chunk=1, steps_per_epoch=1,
                                       batch_size=2, repeat=2,
                                       init_from=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"--init_from: .*missing/best\.weights\.h5"):
        enhancer.train(opts, gt=_gt(2), verbose=False)


def test_more_ground_truths_extend_a_run_with_the_same_earlier_chunks():
    """--ground_truths is the enhancer's extendable field (issue 17's resume rule): the faces
    are a pure function of (seed, index), so a larger count keeps the trained chunks."""
    from depthlab.core import options as options_lib

    small = fe.synthetic_ground_truth(2, seed=5, image_size=256).depth_mm
    large = fe.synthetic_ground_truth(3, seed=5, image_size=256).depth_mm
    np.testing.assert_array_equal(np.asarray(small), np.asarray(large)[:2])
    opts = enhancer.EnhancerOptions(model_dir="x")
    assert options_lib.extendable_fields(opts) == ["ground_truths"]
    assert "ground_truths" not in options_lib.resume_fields(opts)


# -- the paper's schedule (issue 18; section IV-C, l. 970-1006) --------------------------------

def _plan(**kw):
    opts = enhancer.EnhancerOptions(model_dir="x", **kw)
    return [(c.stage.name, c.start, c.stop, c.stage.variants, c.first_epoch, c.last_epoch)
            for c in enhancer.training_plan(opts)]


def test_default_schedules_are_the_papers():
    """The text's numbers, chunk by chunk: Alpha 70,000 plain pairs (3 chunks of <= 30,000),
    60,000 blurred-background pairs (2), then 240,000 randomised-hole pairs (8), 10 epochs per
    chunk = 130 epochs; Beta/Gamma the 240,000 only (80 epochs); Delta 60,000 ground truths x
    3 variants in chunks of 10,000 (30,000 images), 6 x 10 = 60 epochs."""
    alpha = _plan(variant="alpha")
    starts = [(n, a, b) for n, a, b, _, _, _ in alpha]
    assert starts == ([("pretrain_plain", 0, 30_000), ("pretrain_plain", 30_000, 60_000),
                       ("pretrain_plain", 60_000, 70_000), ("pretrain_blurred", 0, 30_000),
                       ("pretrain_blurred", 30_000, 60_000)]
                      + [("main", i * 30_000, (i + 1) * 30_000) for i in range(8)])
    assert [v for _, _, _, v, _, _ in alpha] == (
        [("none",)] * 3 + [("blurred",)] * 2 + [("random",)] * 8)
    assert alpha[-1][5] == 130 and all(e - s == 10 for *_, s, e in alpha)
    for variant in ("beta", "gamma", "gamma_text"):
        plan = _plan(variant=variant)
        assert [(n, a, b, v) for n, a, b, v, _, _ in plan] == [
            ("main", i * 30_000, (i + 1) * 30_000, ("random",)) for i in range(8)]
        assert plan[-1][5] == 80
    delta = _plan(variant="delta")
    assert [(a, b, v) for _, a, b, v, _, _ in delta] == [
        (i * 10_000, (i + 1) * 10_000, ("none", "random", "blurred")) for i in range(6)]
    assert delta[-1][5] == 60
    # disjoint pre-training data sits after the main set; 0,0 skips the pre-training
    dis = _plan(variant="alpha", ground_truths=4, chunk_size=2, pretrain_ground_truths=(3, 2),
                pretrain_data="disjoint", epochs_per_chunk=1)
    assert [(n, a, b) for n, a, b, *_ in dis] == [
        ("pretrain_plain", 4, 6), ("pretrain_plain", 6, 7), ("pretrain_blurred", 7, 9),
        ("main", 0, 2), ("main", 2, 4)]
    assert _plan(variant="alpha", ground_truths=4, chunk_size=2,
                 pretrain_ground_truths=(0, 0)) == _plan(variant="beta", ground_truths=4,
                                                         chunk_size=2)


def test_schedule_options_are_validated():
    with pytest.raises(ValueError, match="--pretrain_ground_truths is DL-Alpha's"):
        enhancer.EnhancerOptions(model_dir="x", variant="delta", pretrain_ground_truths=(5, 5))
    with pytest.raises(ValueError, match="--pretrain_ground_truths=1: expected 2 counts"):
        enhancer.EnhancerOptions(model_dir="x", variant="alpha", pretrain_ground_truths=(1,))
    with pytest.raises(ValueError, match="--best_scope"):
        enhancer.EnhancerOptions(model_dir="x", best_scope="epoch")
    # Delta-k: the same data as Delta-1 by default (l. 1072-1074), fresh data as an option
    from depthlab.runners.enhancer_options import REPEAT_SEED_STRIDE, repeat_seed

    assert [repeat_seed(3, k, "same") for k in (1, 2, 4)] == [3, 3, 3]
    assert [repeat_seed(3, k, "fresh") for k in (1, 2, 4)] == [
        3, 3 + REPEAT_SEED_STRIDE, 3 + 3 * REPEAT_SEED_STRIDE]
    # config.json holds the effective sizes, so a changed default is caught by the resume rule
    rec = enhancer.EnhancerExperiment().record(enhancer.EnhancerOptions(
        model_dir="x", variant="alpha"), None)
    assert (rec["ground_truths"], rec["chunk_size"], rec["pretrain_ground_truths"]) == (
        240_000, 30_000, [70_000, 60_000])


def _disc_set(n, size=32):
    depth = np.zeros((n, size, size), np.uint16)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.4) ** 2
    for i in range(n):                     # each face its own depth offset: identifiable
        depth[i][disc] = 600 + 40 * i + (xx[disc] % 7) * (i + 1)
    return fe.FaceDepthSet(depth)


def test_each_phase_trains_its_stage_chunk_and_variants():
    """Which ground truths, helper variant, epochs and learning rate each phase (= chunk) uses,
    on a tiny Alpha schedule: pre-training 3 plain + 2 blurred ground truths, main 4, chunks
    of 2, and the batches of each phase hold only that chunk's faces in that variant."""
    from types import SimpleNamespace

    gt = _disc_set(4, size=256)            # alpha needs a multiple of 256 (8 down-samplings)
    opts = enhancer.EnhancerOptions(model_dir="x", variant="alpha", ground_truths=4,
                                    chunk_size=2, epochs_per_chunk=2, batch_size=2,
                                    pretrain_ground_truths=(3, 2), learning_rate=1e-3,
                                    lr_decay_per_chunk=0.5, image_size=256)
    exp = enhancer.EnhancerExperiment(gt)
    run = SimpleNamespace(opts=opts)
    phases = exp.phases(run, gt)
    got = [(p.info["stage"], p.info["ground_truths"], p.info["variants"], p.first_epoch,
            p.last_epoch, p.info["lr"], p.steps_per_epoch) for p in phases]
    assert got == [("pretrain_plain", (0, 2), ("none",), 0, 2, 1e-3, 1),
                   ("pretrain_plain", (2, 3), ("none",), 2, 4, 5e-4, 1),
                   ("pretrain_blurred", (0, 2), ("blurred",), 4, 6, 1e-3, 1),
                   ("main", (0, 2), ("random",), 6, 8, 1e-3, 1),
                   ("main", (2, 4), ("random",), 8, 10, 5e-4, 1)]
    assert exp.epochs(opts, None) == 10
    targets = [fe.normalise_pair(tf_const(d), tf_const(d))[1].numpy() for d in gt.depth_mm]
    bg = gt.depth_mm[0] == 0
    for phase in phases:
        lo, hi = phase.info["ground_truths"]
        ds = exp.train_dataset(run, gt, phase, phase.first_epoch)
        for x, y in ds.take(3):
            x, y = x.numpy()[..., 0], y.numpy()[..., 0]
            for xi, yi in zip(x, y):
                match = [i for i, t in enumerate(targets) if np.allclose(yi, t, atol=1e-6)]
                assert len(match) == 1 and lo <= match[0] < hi, (phase.name, match)
                if phase.info["variants"] == ("none",):
                    assert np.all(xi[bg] == 1.0)                 # holes stay holes
                else:
                    assert np.mean(xi[bg] < 1.0) > 0.9           # hole values randomised


def tf_const(depth):
    import tensorflow as tf

    return tf.constant(depth, tf.float32)


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def test_best_weights_are_replaced_only_by_a_better_epoch(tmp_path):
    """l. 973-974, "saved only if their loss value improved": epochs with losses 0.5, 0.3,
    0.4, 0.2 save after epochs 1, 2 and 4; the worse epoch 3 leaves epoch 2's weights. With
    --best_scope=stage a new stage restarts the comparison; with 'run' it does not."""
    model = _tiny_model()
    cb = enhancer._BestWeights(str(tmp_path), scope="stage")
    cb.set_model(model)
    cb.begin_stage("pretrain_plain")
    saved = {}
    for epoch, loss in enumerate([0.5, 0.3, 0.4, 0.2]):
        model.set_weights([np.full((2, 1), epoch, np.float32), np.full((1,), epoch, np.float32)])
        cb.on_epoch_end(epoch, {"loss": loss})
        check = _tiny_model()
        check.load_weights(str(tmp_path / "best.weights.h5"))
        saved[epoch] = float(check.get_weights()[1][0])
    assert saved == {0: 0.0, 1: 1.0, 2: 1.0, 3: 3.0}
    best = training.read_json(str(tmp_path / "best.json"))
    assert (best["loss"], best["epoch"], best["stage"]) == (0.2, 4, "pretrain_plain")
    cb.begin_stage("main")                   # a new stage: a worse loss is saved
    model.set_weights([np.full((2, 1), 9, np.float32), np.full((1,), 9, np.float32)])
    cb.on_epoch_end(4, {"loss": 0.35})
    assert training.read_json(str(tmp_path / "best.json"))["stage"] == "main"
    # resumed in the same stage: the stored best is the bar
    again = enhancer._BestWeights(str(tmp_path), scope="stage")
    again.set_model(model)
    again.begin_stage("main")
    assert again.best == 0.35
    run_scope = enhancer._BestWeights(str(tmp_path / "r"), scope="run")
    run_scope.set_model(model)
    run_scope.begin_stage("a")
    run_scope.on_epoch_end(0, {"loss": 0.2})
    run_scope.begin_stage("b")
    run_scope.on_epoch_end(1, {"loss": 0.3})
    assert training.read_json(str(tmp_path / "r" / "best.json"))["epoch"] == 1


def test_a_new_stage_starts_from_the_previous_stages_saved_model(tmp_path):
    from types import SimpleNamespace

    from depthlab.core.experiment import Phase

    gt = _disc_set(2)
    model = _tiny_model()
    model.set_weights([np.full((2, 1), 7, np.float32), np.full((1,), 7, np.float32)])
    model.save_weights(str(tmp_path / "best.weights.h5"))      # the earlier stage's best
    model.set_weights([np.zeros((2, 1), np.float32), np.zeros((1,), np.float32)])
    opts = enhancer.EnhancerOptions(model_dir=str(tmp_path), variant="alpha", ground_truths=2,
                                    chunk_size=2, pretrain_ground_truths=(2, 0), image_size=256)
    exp = enhancer.EnhancerExperiment(gt)
    lines = []
    run = SimpleNamespace(opts=opts, initial_epoch=0, log=lines.append,
                          path=lambda *p: str(tmp_path.joinpath(*p)))
    phases = exp.phases(run, gt)
    assert [p.info["stage"] for p in phases] == ["pretrain_plain", "main"]
    exp.on_phase_begin(run, model, phases[0])                   # first stage: nothing loaded
    assert float(model.get_weights()[1][0]) == 0.0
    exp.on_phase_begin(run, model, phases[1])
    assert float(model.get_weights()[1][0]) == 7.0
    # resumed inside the main stage: the checkpoint's weights stay
    model.set_weights([np.zeros((2, 1), np.float32), np.zeros((1,), np.float32)])
    run.initial_epoch = phases[1].first_epoch + 1
    exp.on_phase_begin(run, model, phases[1])
    assert float(model.get_weights()[1][0]) == 0.0
    last = enhancer.EnhancerOptions(model_dir=str(tmp_path), variant="alpha", ground_truths=2,
                                    chunk_size=2, pretrain_ground_truths=(2, 0), image_size=256,
                                    stage_start="last")
    run.opts, run.initial_epoch = last, 0
    exp.on_phase_begin(run, model, exp.phases(run, gt)[1])
    assert float(model.get_weights()[1][0]) == 0.0
    assert isinstance(phases[0], Phase)
