"""Issue 17: ``train_recognition --export_dir`` (and ``export_savedmodel`` of a recognition
run) writes a SavedModel whose signature maps a face batch to the run's final predictor; the
reloaded signature agrees with the Keras models on the same input within 1e-5."""

import numpy as np
import pytest
import tensorflow as tf

from depthlab.recognition.models import ScoreFusion
from depthlab.runners import exporters
from depthlab.runners.recognition import RecognitionExperiment, serving
from depthlab.runners.recognition.options import RecognitionOptions, model_roles
from depthlab.runners.recognition.roles import _build, _models

TOLERANCE = 1e-5
SIZE, CLASSES = 32, 3


def _tiny(**changes):
    return RecognitionOptions(**{**dict(model_dir="unused", backbone="se_resnet50",
                                        width=0.0625, image_size=SIZE, embedding_dim=8),
                                 **changes})


def _faces(n, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    depth = rng.random((n, SIZE, SIZE, 1)).astype(np.float32)
    return rgb, depth


def _keras_inputs(rgb, depth):
    """What the run's models take (data.make_dataset, computed here with numpy)."""
    return {"rgb": tf.constant(rgb.astype(np.float32) / 255.0),
            "depth": tf.constant(np.repeat(depth, 3, axis=-1))}


def _call(signature, opts, rgb, depth):
    kwargs = {}
    if opts.inputs not in ("depth", "depth_hallucinated"):
        kwargs["rgb"] = tf.constant(rgb)
    if opts.inputs != "rgb":
        kwargs["depth"] = tf.constant(depth)
    return signature(**kwargs)


@pytest.mark.parametrize("inputs,fusion", [
    ("rgb", "feature"),
    # the same code with the other input selections: ~35-60 s each on 2 cores
    pytest.param("rgbd", "score", marks=pytest.mark.slow),
    pytest.param("depth", "feature", marks=pytest.mark.slow),
    pytest.param("rgbd", "feature", marks=pytest.mark.slow)])
def test_exported_signature_equals_the_keras_models(tmp_path, inputs, fusion):
    opts = _tiny(inputs=inputs, fusion=fusion, score_weight=0.3)
    models = _models(opts, CLASSES)
    for m in models.values():
        _build(m, opts, inputs != "rgb")
    by_fold = {"all": models}
    if inputs == "rgb":                  # IIIT-D's layout: a signature per fold
        other = _models(opts, CLASSES)
        for m in other.values():
            _build(m, opts, False)
        by_fold = {"fold1": models, "fold2": other}
    path = serving.export_models(by_fold, opts, str(tmp_path / "sm"))
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", *by_fold} - {"all"}
    rgb, depth = _faces(4)
    if inputs == "rgb":
        fold2 = _call(loaded.signatures["fold2"], opts, rgb, depth)["logits"].numpy()
        want2 = other["rgb"](_keras_inputs(rgb, depth), training=False).numpy()
        np.testing.assert_allclose(fold2, want2, atol=TOLERANCE)
    got = _call(loaded.signatures["serving_default"], opts, rgb, depth)
    x = _keras_inputs(rgb, depth)
    if fusion == "score":
        a = tf.nn.softmax(models["rgb"](x, training=False)).numpy()
        b = tf.nn.softmax(models["depth"](x, training=False)).numpy()
        np.testing.assert_allclose(got["scores"].numpy(), 0.3 * a + 0.7 * b, atol=TOLERANCE)
        assert set(got) == {"scores"}
    else:
        (net,) = models.values()
        logits = net(x, training=False).numpy()
        np.testing.assert_allclose(got["logits"].numpy(), logits, atol=TOLERANCE)
        e = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(got["scores"].numpy(), e / e.sum(-1, keepdims=True),
                                   atol=TOLERANCE)
        np.testing.assert_allclose(got["embedding"].numpy(),
                                   net.embed(x, training=False).numpy(), atol=TOLERANCE)
        assert got["embedding"].shape == (4, 16 if inputs == "rgbd" else 8)
    assert got["scores"].shape == (4, CLASSES)
    # the images matter (not a constant) and a batch of 0 gives 0 rows
    other = _call(loaded.signatures["serving_default"], opts, 255 - rgb, 1 - depth)
    assert np.abs(other["scores"].numpy() - got["scores"].numpy()).max() > 1e-6
    empty = _call(loaded.signatures["serving_default"], opts, rgb[:0], depth[:0])
    assert {k: tuple(v.shape) for k, v in empty.items()} == {
        k: (0,) + tuple(v.shape[1:]) for k, v in got.items()}
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected 32x32 images"):
        _call(loaded.signatures["serving_default"], opts,
              np.zeros((1, 16, 16, 3), np.uint8), np.zeros((1, 16, 16, 1), np.float32))


@pytest.mark.slow
def test_train_recognition_export_dir_and_export_savedmodel(tmp_path):
    """A tiny run with --export_dir (refused before this issue); the SavedModel equals the
    run's saved classifier, and export_savedmodel's export of the run equals it too."""
    experiment = RecognitionExperiment()
    model_dir, export_dir = tmp_path / "run", tmp_path / "exported"
    opts = experiment.tiny_options(str(model_dir), export_dir=str(export_dir))
    from depthlab.core import run as run_lib

    run_lib.run(experiment, opts, verbose=False)
    import keras

    (role,) = model_roles(opts)
    net = keras.saving.load_model(str(model_dir / "all" / role / "model.keras"), compile=False)
    rgb, depth = _faces(5, seed=1)
    want = net(_keras_inputs(rgb, depth), training=False).numpy()
    again = exporters.export_run(str(model_dir), str(tmp_path / "again"))
    assert exporters.detect_kind(str(model_dir)) == "recognition"
    for path in (str(export_dir), again):
        got = _call(tf.saved_model.load(path).signatures["serving_default"], opts, rgb, depth)
        np.testing.assert_allclose(got["logits"].numpy(), want, atol=TOLERANCE)


def test_score_fusion_predictor_is_the_evaluations():
    opts = _tiny(inputs="rgbd", fusion="score", score_weight=0.25, score_rule="product")
    models = _models(opts, CLASSES)
    predictor, net = serving.final_predictor(models, opts, weight=0.6)
    assert net is None and isinstance(predictor, ScoreFusion)
    assert (predictor.weight, predictor.rule) == (0.6, "product")
