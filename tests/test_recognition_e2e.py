"""TS-GAN recognition end to end on tiny synthetic identities: generator SavedModel checks,
resume, and the train/eval binaries."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab import training
from depthlab.recognition.models import choose_score_weight, fuse_scores
from depthlab.runners import recognition as runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSGAN_TINY = dict(image_size=32, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
                  disc_strides=(2, 2, 1), pool_size=8)
RUN_TINY = dict(backbone="se_resnet50", width=0.0625, image_size=32, embedding_dim=8,
                batch_size=6, synthetic_identities=3, synthetic_images_per_identity=4,
                log_every=10 ** 6, run_eagerly=True)


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory):
    from depthlab.configs import tsgan_config
    from depthlab.export import export_depth_generator
    from depthlab.models.tsgan import build_generator

    path = str(tmp_path_factory.mktemp("gen") / "saved_model")
    export_depth_generator(build_generator(tsgan_config("demo", **TSGAN_TINY)), path, 32)
    return path


def test_generator_savedmodel_is_checked(tmp_path, generator_dir):
    hallucinate = runner.load_depth_generator(generator_dir)
    rgb = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    d = hallucinate(rgb)
    assert d.shape == (5, 40, 40) and d.dtype == np.float32      # the input's size (issue 20)
    assert 0.0 <= d.min() and d.max() <= 1.0

    class Wrong(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32, name="x")])
        def serve(self, x):
            return {"depth": x[..., :1]}

    wrong = str(tmp_path / "wrong")
    module = Wrong()
    tf.saved_model.save(module, wrong, signatures={"serving_default": module.serve})
    with pytest.raises(ValueError, match=r"wrong signature: its inputs are \['x'\]"):
        runner.load_depth_generator(wrong)
    with pytest.raises(FileNotFoundError, match="--generator"):
        runner.load_depth_generator(str(tmp_path / "missing"))


def test_options_reject_bad_combinations(tmp_path):
    with pytest.raises(ValueError, match="--generator"):
        runner.RunOptions(model_dir=str(tmp_path), inputs="rgbd_hallucinated")
    with pytest.raises(ValueError, match="no ground-truth depth"):
        runner.RunOptions(model_dir=str(tmp_path), inputs="rgbd", protocol="lfw_faces")
    with pytest.raises(ValueError, match="backbone"):
        runner.RunOptions(model_dir=str(tmp_path), backbone="alexnet")


@pytest.mark.slow
def test_feature_fusion_run_resumes_exactly_and_reevaluates(tmp_path):
    opts = dict(inputs="rgbd", fusion="feature", **dict(RUN_TINY, batch_size=4))
    straight = training.BatchLossRecorder()      # 6 training images, batch 4: 2 steps/epoch
    runner.train(runner.RunOptions(model_dir=str(tmp_path / "a"), epochs=2, **opts),
                 extra_callbacks=[straight], verbose=False)
    assert len(straight.history) == 4
    runner.train(runner.RunOptions(model_dir=str(tmp_path / "b"), epochs=1, **opts),
                 verbose=False)
    resumed = training.BatchLossRecorder()
    result = runner.train(runner.RunOptions(model_dir=str(tmp_path / "b"), epochs=2, **opts),
                          extra_callbacks=[resumed], verbose=False)
    assert len(resumed.history) == 2                             # only epoch 2 ran
    for got, want in zip(resumed.history, straight.history[2:]):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-4, abs=1e-6)
    # one checkpoint of the run (depthlab.core.run): one role ('fused'), 2 epochs
    ckpt = tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints"))
    assert ckpt.endswith("-2")
    acc = result["folds"]["all"]["test"]["rank1"]
    assert result["folds"]["all"]["test"]["num_images"] == 6 and 0.0 <= acc <= 1.0
    assert runner.evaluate(str(tmp_path / "b"))["mean"]["test"] == pytest.approx(acc)
    assert os.path.exists(tmp_path / "b" / "samples" / "inputs.png")
    with pytest.raises(ValueError, match="--seed: 0 -> 5"):
        runner.train(runner.RunOptions(model_dir=str(tmp_path / "b"), epochs=2,
                                       **dict(opts, seed=5)), verbose=False)


@pytest.mark.slow
def test_frozen_feature_fusion_run_trains_members_then_the_fusion_classifier(tmp_path):
    opts = runner.RunOptions(model_dir=str(tmp_path), inputs="rgbd", fusion="feature_frozen",
                             epochs=1, **RUN_TINY)
    result = runner.train(opts, verbose=False)
    # the roles rgb, depth, fused, one epoch each, one after another in the run's checkpoint
    ckpt = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert ckpt is not None and ckpt.endswith("-3")
    for role in ("rgb", "depth", "fused"):
        assert tf.train.load_checkpoint(ckpt).get_tensor(
            f"all_{role}_epochs/.ATTRIBUTES/VARIABLE_VALUE") == 1, role
    test = result["folds"]["all"]["test"]
    assert {"rank1", "rank1_rgb_stream", "rank1_depth_stream"} <= set(test)
    assert result["column"] == "rgbd_feature_frozen"
    # the fused model holds the members' trained weights, so re-evaluation agrees
    assert runner.evaluate(str(tmp_path))["mean"]["test"] == pytest.approx(test["rank1"])
    (row,) = runner.paper_layout_rows([result])
    assert row["from_members"] == ["rgb", "depth"]


@pytest.mark.slow
def test_validated_score_fusion_chooses_the_weight_on_held_out_training_images(tmp_path):
    tiny = dict(RUN_TINY, synthetic_images_per_identity=6)          # 3 train / 3 test per id
    opts = runner.RunOptions(model_dir=str(tmp_path / "val"), inputs="rgbd", fusion="score",
                             epochs=1, score_rule="product", score_validation_per_identity=1,
                             **tiny)
    result = runner.train(opts, verbose=False)
    assert result["column"] == "rgbd_score_validated" and result["score_rule"] == "product"
    ckpt = tf.train.latest_checkpoint(str(tmp_path / "val" / "checkpoints"))
    assert ckpt.endswith("-4")                  # four roles, one epoch each
    for role in ("rgb", "depth", "rgb_val", "depth_val"):
        assert tf.train.load_checkpoint(ckpt).get_tensor(
            f"all_{role}_epochs/.ATTRIBUTES/VARIABLE_VALUE") == 1, role
    test = result["folds"]["all"]["test"]
    # the weight: recomputed from the saved validation members on the held-out images
    # (the last training image of each identity: sample 2)
    selection = json.loads((tmp_path / "val" / "all" / "score_weight.json").read_text())
    assert result["score_validation"]["all"]["weight"] == selection["weight"]
    faces, split, depth, _ = runner._load_fold(opts, None, None)
    val = split.train[faces.meta["sample"][split.train] == 2]
    x = {"rgb": faces.rgb[val].astype(np.float32) / 255.0,
         "depth": np.repeat(depth[val][..., None], 3, axis=-1)}
    probs = [tf.nn.softmax(keras.models.load_model(
        str(tmp_path / "val" / "all" / role / "model.keras"))(x)).numpy()
        for role in ("rgb_val", "depth_val")]
    again = choose_score_weight(*probs, split.labels(faces.meta, val), "product")
    assert again["weight"] == pytest.approx(selection["weight"])
    np.testing.assert_allclose(again["rank1"], selection["rank1"])
    # test rank-1 = the members' test scores fused with that weight; re-evaluation agrees
    idx = split.tests["test"]
    xt = {"rgb": faces.rgb[idx].astype(np.float32) / 255.0,
          "depth": np.repeat(depth[idx][..., None], 3, axis=-1)}
    members = [tf.nn.softmax(keras.models.load_model(
        str(tmp_path / "val" / "all" / role / "model.keras"))(xt)).numpy()
        for role in ("rgb", "depth")]
    fused = fuse_scores(*members, selection["weight"], "product").numpy()
    want = float(np.mean(np.argmax(fused, 1) == split.labels(faces.meta, idx)))
    assert test["rank1"] == pytest.approx(want)
    assert runner.evaluate(str(tmp_path / "val"))["mean"]["test"] == pytest.approx(want)
    with pytest.raises(ValueError, match="score_validation_per_identity applies to --fusion=score"):
        runner.RunOptions(model_dir=str(tmp_path / "x"), inputs="rgbd", fusion="feature",
                          score_validation_per_identity=1)


def test_options_are_declared_once_and_help_imports_no_tensorflow():
    """Every field of RecognitionOptions is a flag of the binary (--help lists it), and neither
    --help nor importing the binary imports TensorFlow."""
    import dataclasses

    from depthlab.runners.recognition_options import RecognitionOptions

    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-m", "experiments.train_recognition", "--help"],
                         cwd=REPO, capture_output=True, text=True, env=env)
    text = out.stdout + out.stderr
    for f in dataclasses.fields(RecognitionOptions):
        assert f"--{f.name}:" in text or f"--[no]{f.name}:" in text, f.name
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, experiments.train_recognition; "
         "import depthlab.runners.recognition_options; print('tensorflow' in sys.modules)"],
        cwd=REPO, capture_output=True, text=True, env=env)
    assert probe.stdout.strip() == "False", probe.stderr[-2000:]


def test_resume_across_roles_continues_each_role_where_it_stopped(tmp_path):
    """Phases of the lifecycle = the run's roles in order; a larger --epochs trains every role
    further, each role's data continuing at its own epoch."""
    from depthlab.core.experiment import Phase
    from depthlab.runners.recognition.runner import RecognitionExperiment

    exp = RecognitionExperiment()
    opts = exp.tiny_options(str(tmp_path), inputs="rgbd", fusion="score", epochs=3)
    assert exp.epochs(opts, None) == 6
    progress = {"all_rgb": tf.Variable(2, dtype=tf.int64),
                "all_depth": tf.Variable(2, dtype=tf.int64)}
    roles = {k: type("R", (), {"steps": 2})() for k in progress}
    data = type("D", (), {"roles": roles, "progress": progress})()
    run = type("Run", (), {"opts": opts, "initial_epoch": 4})()
    phases = exp.phases(run, data)                  # was --epochs=2: 4 epochs done
    assert [(p.name, p.first_epoch, p.last_epoch) for p in phases] == [
        ("all_rgb", 4, 5), ("all_depth", 5, 6)]
    assert all(isinstance(p, Phase) for p in phases)
    # core epoch 5 is the depth role's epoch 2 (its third)
    assert 5 + phases[1].info["offset"] == 2


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


@pytest.mark.slow
def test_binaries_end_to_end_with_hallucinated_depth(tmp_path, generator_dir):
    model_dir = str(tmp_path / "run")
    flags = [f"--{k}={v}" for k, v in RUN_TINY.items() if k not in ("log_every", "run_eagerly")]
    train = _run("experiments.train_recognition", f"--model_dir={model_dir}", "--epochs=1",
                 "--inputs=rgbd_hallucinated", "--fusion=score", f"--generator={generator_dir}",
                 "--run_eagerly", *flags)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "FROM SCRATCH" in train.stdout and "RGB+D~ score" in train.stdout
    result = json.load(open(os.path.join(model_dir, "results.json")))
    entry = result["folds"]["all"]["test"]
    assert set(entry) >= {"rank1", "rank1_rgb_stream", "rank1_depth_stream"}
    for role in ("rgb", "depth"):
        assert os.path.exists(os.path.join(model_dir, "all", role, "model.keras"))
    out_json = str(tmp_path / "eval.json")
    ev = _run("experiments.eval_recognition", f"--model_dirs={model_dir}",
              "--table=tsgan_table2", f"--output_json={out_json}")
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "RGB+D~ score" in ev.stdout and "TS-GAN Table 2." in ev.stdout
    assert "note: our runs use protocol synthetic_faces, not this table's dataset" in ev.stdout
    record = json.load(open(out_json))
    rows = record["rows"]
    assert rows["se_resnet50"]["rgbd_hallucinated_score"] == pytest.approx(100 * entry["rank1"])
    # per-image hits: their mean is rank-1, for the fusion and for each member
    assert len(entry["correct"]) == entry["num_images"]
    assert np.mean(entry["correct"]) == pytest.approx(entry["rank1"])
    assert np.mean(entry["correct_rgb_stream"]) == pytest.approx(entry["rank1_rgb_stream"])
    # our score cell sits in Table 2's first block (IIIT-D) beside the paper's
    cell = record["paper_cells"]["tsgan_table2"]["iiitd"]["se_resnet50"]
    assert cell["rgbd_hallucinated_score"] == pytest.approx(100 * entry["rank1"])
    # the gain over RGB (RGB from the score run's member) beside the paper's IIIT-D score-fusion
    # gain, by hand from Table 2 (lines 767-770): (0.0 + 0.9 + 0.3 - 0.2) / 4 = +0.25
    gain = 100 * (entry["rank1"] - entry["rank1_rgb_stream"])
    assert record["gain_over_rgb"]["rgbd_hallucinated_score"] == pytest.approx(gain)
    assert (f"RGB+D~ score - RGB, mean over 1 backbone(s): {gain:+.2f} points; paper "
            "tsgan_table2 iiitd: +0.250") in ev.stdout
    # McNemar against the run's RGB member on the same images
    rgb_hits, fused_hits = np.asarray(entry["correct_rgb_stream"]), np.asarray(entry["correct"])
    b = int(np.sum((rgb_hits == 1) & (fused_hits == 0)))
    c = int(np.sum((rgb_hits == 0) & (fused_hits == 1)))
    (test,) = record["mcnemar"]
    assert (test["b"], test["c"], test["n"]) == (b, c, entry["num_images"])
    assert f"se_resnet50 RGB+D~ score: b = {b}, c = {c}, n = {entry['num_images']}" in ev.stdout

    bad = _run("experiments.train_recognition", f"--model_dir={tmp_path / 'x'}",
               "--inputs=rgbd_hallucinated")
    assert bad.returncode != 0 and "--generator" in bad.stderr
    missing = _run("experiments.train_recognition")
    assert missing.returncode != 0 and "model_dir" in missing.stderr
    enum = _run("experiments.train_recognition", f"--model_dir={tmp_path / 'x'}",
                "--backbone=alexnet")
    assert enum.returncode != 0 and "backbone" in enum.stderr
