"""TS-GAN recognition: rank-1, score fusion, SE block, backbones, fusion heads (issue 6)."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from depthlab import metrics
from depthlab.layers import SqueezeExcite
from depthlab.nets import recognition_backbones as bb
from depthlab.recognition.models import (FeatureFusionClassifier, FrozenStreamFeatureFusion,
                                         ScoreFusion, StreamClassifier, build_classifier,
                                         choose_score_weight, fuse_scores)

TINY = dict(image_size=32, embedding_dim=8)
TINY_WIDTH = {"vgg16": 1.0, "resnet50": 1.0, "se_resnet50": 0.0625, "inception": 0.0625}


# ----------------------------------------------------------------------------- rank-1
def test_rank1_on_a_hand_made_score_matrix():
    scores = np.array([[0.9, 0.05, 0.05],     # label 0: hit
                       [0.2, 0.3, 0.5],       # label 1: miss (class 2 higher)
                       [0.1, 0.1, 0.8],       # label 2: hit
                       [0.4, 0.4, 0.2]])      # label 1: tie with class 0 -> argmax is 0: miss
    labels = np.array([0, 1, 2, 1])
    assert metrics.rank1_accuracy(scores, labels) == pytest.approx(2 / 4)
    # rank-2: probe 1 (class 1 second) and probe 3 (tie, second) become hits
    assert metrics.rank_k_accuracy(scores, labels, 2) == pytest.approx(4 / 4)
    # agrees with argmax on random scores without ties
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=(50, 7)), rng.integers(0, 7, 50)
    assert metrics.rank1_accuracy(s, y) == pytest.approx(np.mean(s.argmax(1) == y))
    with pytest.raises(ValueError, match="labels"):
        metrics.rank1_accuracy(scores, np.array([0, 1, 2, 3]))


def test_nearest_neighbour_scores_pick_the_closest_gallery_image_per_class():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    probe = np.array([[0.8, 0.6]])
    s = metrics.nearest_neighbour_scores(probe, gallery, np.array([0, 1, 1]), 3)
    # class 0: cos with (1,0) = 0.8; class 1: max(0.6, 0.48 + 0.48 = 0.96); class 2: none
    np.testing.assert_allclose(s[0, :2], [0.8, 0.96])
    assert s[0, 2] == -np.inf


# ----------------------------------------------------------------------------- score fusion
def test_score_fusion_matches_hand_computation():
    a = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    b = np.array([[0.1, 0.3, 0.6], [0.2, 0.7, 0.1]])
    np.testing.assert_allclose(fuse_scores(a, b).numpy(),
                               [[0.4, 0.25, 0.35], [0.15, 0.4, 0.45]], atol=1e-7)
    np.testing.assert_allclose(fuse_scores(a, b, 0.8).numpy(),
                               [[0.58, 0.22, 0.2], [0.12, 0.22, 0.66]], atol=1e-7)
    # w = 0.2: (0.22, 0.28, 0.50) -> class 2 and (0.18, 0.58, 0.24) -> class 1, where RGB
    # alone (w = 1) says 0 and 2
    assert metrics.rank1_accuracy(fuse_scores(a, b, 0.2), [2, 1]) == 1.0
    assert metrics.rank1_accuracy(fuse_scores(a, b, 1.0), [2, 1]) == 0.0
    with pytest.raises(ValueError, match="score_weight"):
        fuse_scores(a, b, 1.5)


def test_product_score_fusion_is_the_normalised_weighted_geometric_mean():
    a = np.array([[0.5, 0.5], [0.2, 0.8]])
    b = np.array([[0.9, 0.1], [0.2, 0.8]])
    # w = 0.5: sqrt(0.45) : sqrt(0.05) = 3 : 1; equal members give themselves back
    np.testing.assert_allclose(fuse_scores(a, b, 0.5, "product").numpy(),
                               [[0.75, 0.25], [0.2, 0.8]], atol=1e-6)
    # w = 0.25: a's equal scores cancel: 0.9**0.75 = 0.92402, 0.1**0.75 = 0.17783 -> 0.83861
    np.testing.assert_allclose(fuse_scores(a, b, 0.25, "product").numpy()[0],
                               [0.83861, 0.16139], atol=1e-4)
    np.testing.assert_allclose(fuse_scores(a, b, 1.0, "product").numpy(), a, atol=1e-6)
    # a zero probability is clipped, not a NaN: the other member decides
    z = fuse_scores([[0.0, 1.0]], [[0.0, 1.0]], 0.5, "product").numpy()
    np.testing.assert_allclose(z, [[0.0, 1.0]], atol=1e-6)
    with pytest.raises(ValueError, match="score_rule"):
        fuse_scores(a, b, 0.5, "max")


def test_choose_score_weight_takes_the_middle_of_the_best_validation_weights():
    # with w on RGB, image 1 is right for w < 0.714, image 2 for w > 0.111 and image 3 for
    # w > 0.524 (worked out from w * a + (1 - w) * b per class), so the grid weights
    # 0.55 .. 0.70 get all three right and the middle (lower) one of the four is 0.60
    rgb = np.array([[0.6, 0.4], [0.9, 0.1], [0.3, 0.7]])
    depth = np.array([[0.25, 0.75], [0.45, 0.55], [0.72, 0.28]])
    chosen = choose_score_weight(rgb, depth, [1, 0, 1])
    assert chosen["weight"] == pytest.approx(0.6)
    assert chosen["num_images"] == 3 and len(chosen["rank1"]) == 21
    best = [w for w, acc in zip(chosen["grid"], chosen["rank1"]) if acc == 1.0]
    np.testing.assert_allclose(best, [0.55, 0.6, 0.65, 0.7])
    assert chosen["rank1"][0] == pytest.approx(1 / 3)     # depth alone: image 1 only
    assert chosen["rank1"][-1] == pytest.approx(2 / 3)    # RGB alone: images 2 and 3


def test_score_fusion_model_averages_the_two_classifiers_softmax():
    kw = dict(backbone="se_resnet50", width=0.0625, **TINY)
    rgb_model = StreamClassifier(3, "rgb", **kw)
    depth_model = StreamClassifier(3, "depth", **kw)
    x = {"rgb": tf.random.uniform((2, 32, 32, 3), seed=1),
         "depth": tf.random.uniform((2, 32, 32, 3), seed=2)}
    fused = ScoreFusion(rgb_model, depth_model, weight=0.25)(x).numpy()

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    la = rgb_model(x).numpy().astype(np.float64)
    lb = depth_model(x).numpy().astype(np.float64)
    np.testing.assert_allclose(fused, 0.25 * softmax(la) + 0.75 * softmax(lb), atol=1e-6)
    np.testing.assert_allclose(fused.sum(1), 1.0, atol=1e-6)
    # the depth classifier reads the depth stream only: changing RGB leaves it unchanged
    x2 = dict(x, rgb=tf.zeros_like(x["rgb"]))
    np.testing.assert_allclose(depth_model(x2).numpy(), lb, atol=1e-6)


# ----------------------------------------------------------------------------- SE block
def test_squeeze_excite_against_hand_computation():
    x = np.zeros((1, 2, 2, 2), np.float32)
    x[0, :, :, 0] = [[1, 2], [3, 4]]          # mean 2.5
    x[0, :, :, 1] = [[0, 0], [2, 2]]          # mean 1.0
    se = SqueezeExcite(reduction=2)           # 2 channels -> 1 hidden unit
    se.build(x.shape)
    se.squeeze_fc.set_weights([np.array([[1.0], [-1.0]], np.float32), np.array([0.5], np.float32)])
    se.excite_fc.set_weights([np.array([[1.0, -0.5]], np.float32), np.array([0.0, 1.0], np.float32)])
    # hidden = relu(2.5 - 1 + 0.5) = 2; gates = sigmoid([2, -1 + 1]) = [0.8807971, 0.5]
    got = se(tf.constant(x)).numpy()
    np.testing.assert_allclose(got[..., 0], x[..., 0] * 0.88079708, rtol=1e-6)
    np.testing.assert_allclose(got[..., 1], x[..., 1] * 0.5, rtol=1e-6)
    assert SqueezeExcite.from_config(se.get_config()).reduction == 2
    assert SqueezeExcite(16).compute_output_shape((None, 4, 4, 64)) == (None, 4, 4, 64)


# ----------------------------------------------------------------------------- backbones
def test_se_resnet50_has_the_published_parameter_count():
    """Hu et al.'s SE-ResNet-50 (1000-way top): 28,088,024 parameters (BN gamma/beta counted,
    running statistics not: Keras' trainable weights)."""
    x = keras.Input((224, 224, 3))
    y = keras.layers.Dense(1000)(keras.layers.GlobalAveragePooling2D()(bb.se_resnet50_trunk(x)))
    assert bb.count_trainable(keras.Model(x, y)) == 28_088_024


def test_bn_inception_module_widths():
    x = keras.Input((224, 224, 3))
    trunk = keras.Model(x, bb.bn_inception_trunk(x))
    width = {n: trunk.get_layer(f"inception_{n}_output").output.shape[-1]
             for n in ("3a", "3b", "3c", "4a", "4c", "4e", "5b")}
    assert width == {"3a": 256, "3b": 320, "3c": 576, "4a": 576, "4c": 608, "4e": 1056,
                     "5b": 1024}
    assert trunk.output.shape[1:] == (7, 7, 1024)


@pytest.mark.parametrize("name", bb.BACKBONES)
def test_tiny_backbones_build_and_train_steps(name):
    model = StreamClassifier(4, "rgb", backbone=name, width=TINY_WIDTH[name], **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {"rgb": tf.random.uniform((4, 32, 32, 3), seed=3)}
    y = tf.constant([0, 1, 2, 3])
    losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
    assert all(np.isfinite(losses))
    assert model.embed(x).shape == (4, 8)
    assert model(x).shape == (4, 4)


@pytest.mark.slow
def test_feature_fusion_concatenates_two_stream_embeddings_and_trains():
    model = FeatureFusionClassifier(3, backbone="se_resnet50", width=0.0625, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {"rgb": tf.random.uniform((3, 32, 32, 3), seed=4),
         "depth": tf.random.uniform((3, 32, 32, 3), seed=5)}
    loss = float(model.train_on_batch(x, tf.constant([0, 1, 2])))
    assert np.isfinite(loss)
    emb = model.embed(x).numpy()
    assert emb.shape == (3, 16)
    np.testing.assert_allclose(emb[:, 8:], model.backbones["depth"](x["depth"]).numpy(), atol=1e-5)
    clone = FeatureFusionClassifier.from_config(model.get_config())
    assert clone.get_config()["streams"] == ["rgb", "depth"]


def test_frozen_feature_fusion_normalises_the_members_embeddings_and_trains_only_its_classifier():
    members = [StreamClassifier(3, s, backbone="se_resnet50", width=0.0625, **TINY)
               for s in ("rgb", "depth")]
    model = FrozenStreamFeatureFusion(*members, num_classes=3, scale=4.0)
    x = {"rgb": tf.random.uniform((3, 32, 32, 3), seed=14),
         "depth": tf.random.uniform((3, 32, 32, 3), seed=15)}
    want = []
    for m in members:                     # by hand: 4 * e / ||e|| per stream, concatenated
        e = m.embed(x).numpy().astype(np.float64)
        want.append(4.0 * e / np.sqrt((e ** 2).sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(model.embed(x).numpy(), np.concatenate(want, 1), rtol=1e-5,
                               atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    frozen = [w.numpy().copy() for m in members for w in m.weights]   # BN statistics included
    head = [w.numpy().copy() for w in model.classifier.weights]
    losses = [float(model.train_on_batch(x, tf.constant([0, 1, 2]))) for _ in range(5)]
    assert losses[-1] < losses[0]
    for before, w in zip(frozen, [w for m in members for w in m.weights]):
        np.testing.assert_array_equal(before, w.numpy(), err_msg=w.path)
    assert all(np.abs(b - w.numpy()).max() > 0 for b, w in zip(head, model.classifier.weights))
    clone = FrozenStreamFeatureFusion.from_config(model.get_config())
    assert clone.scale == 4.0 and clone.depth_model.stream == "depth"
    with pytest.raises(ValueError, match="depth member"):
        FrozenStreamFeatureFusion(members[0], members[0], num_classes=3)


@pytest.mark.slow
def test_feature_fusion_round_trips_through_tf_checkpoints(tmp_path):
    """Both backbones (and their BN statistics) are in a tf.train.Checkpoint of the model (the
    runner's checkpoint format), not only the classifier."""
    x = {"rgb": tf.random.uniform((3, 32, 32, 3), seed=8),
         "depth": tf.random.uniform((3, 32, 32, 3), seed=9)}
    trained = FeatureFusionClassifier(3, backbone="se_resnet50", width=0.0625, **TINY)
    trained.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True,
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trained.train_on_batch(x, tf.constant([0, 1, 2]))
    path = tf.train.Checkpoint(model=trained).save(str(tmp_path / "ckpt"))
    fresh = FeatureFusionClassifier(3, backbone="se_resnet50", width=0.0625, **TINY)
    fresh(x)
    tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
    for a, b in zip(trained.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_allclose(fresh(x).numpy(), trained(x).numpy(), atol=1e-6)


@pytest.mark.slow
def test_build_classifier_roles():
    kw = dict(num_classes=3, backbone="se_resnet50", image_size=32, embedding_dim=4, width=0.0625)
    assert set(build_classifier("rgb", "feature", **kw)) == {"rgb"}
    assert set(build_classifier("depth_hallucinated", "score", **kw)) == {"depth"}
    assert set(build_classifier("rgbd", "feature", **kw)) == {"fused"}
    assert set(build_classifier("rgbd_hallucinated", "score", **kw)) == {"rgb", "depth"}
    roles = build_classifier("rgbd", "feature_frozen", **kw)
    assert list(roles) == ["rgb", "depth", "fused"]            # members train first
    assert roles["fused"].rgb_model is roles["rgb"] and roles["fused"].depth_model is roles["depth"]
    with pytest.raises(ValueError, match="inputs"):
        build_classifier("rgbx", "feature", **kw)


def test_backbone_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="backbone_weights"):
        bb.build_backbone("vgg16", (32, 32, 3), weights_path=str(tmp_path / "missing.h5"))
    source = bb.build_backbone("vgg16", (32, 32, 3), embedding_dim=4)
    path = str(tmp_path / "trunk.weights.h5")
    bb.trunk_of(source).save_weights(path)
    loaded = bb.build_backbone("vgg16", (32, 32, 3), weights_path=path, embedding_dim=4)
    for a, b in zip(bb.trunk_of(source).weights, bb.trunk_of(loaded).weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="does not fit"):
        bb.build_backbone("resnet50", (32, 32, 3), weights_path=path)
    with pytest.raises(ValueError, match="width"):
        bb.build_backbone("resnet50", (32, 32, 3), width=0.5)
    with pytest.raises(ValueError, match="backbone"):
        bb.build_backbone("alexnet", (32, 32, 3))


@pytest.mark.slow
def test_classifier_saves_and_loads(tmp_path):
    model = StreamClassifier(3, "depth", backbone="inception", width=0.0625, **TINY)
    x = {"depth": tf.random.uniform((2, 32, 32, 3), seed=6)}
    want = model(x).numpy()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, StreamClassifier) and loaded.stream == "depth"
    np.testing.assert_allclose(loaded(x).numpy(), want, atol=1e-5)


def test_caffe_preprocessing_matches_keras_applications():
    x = np.random.default_rng(1).uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)
    want = keras.applications.vgg16.preprocess_input(x * 255.0)
    got = bb.ImagePreprocess("caffe")(tf.constant(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_paper_layout_rows_fill_single_stream_columns_from_score_members():
    from depthlab.runners import recognition as runner

    def run(column, inputs, mean, members=None):
        fold = {"test": dict({"rank1": mean}, **(members or {}))}
        return {"column": column, "backbone": "se_resnet50", "inputs": inputs,
                "folds": {"all": fold}, "mean": {"test": mean}}

    results = [run("rgbd_score", "rgbd", 0.5, {"rank1_rgb_stream": 0.25,
                                               "rank1_depth_stream": 0.375}),
               run("rgbd_hallucinated_score", "rgbd_hallucinated", 0.3,
                   {"rank1_rgb_stream": 0.25, "rank1_depth_stream": 0.125}),
               run("rgbd_feature", "rgbd", 0.625)]
    (row,) = runner.paper_layout_rows(results)
    assert row == {"backbone": "se_resnet50", "rgbd_score": 50.0,
                   "rgbd_hallucinated_score": 30.0, "rgbd_feature": 62.5, "rgb": 25.0,
                   "depth": 37.5, "depth_hallucinated": 12.5,
                   "from_members": ["rgb", "depth", "depth_hallucinated"]}
    # a dedicated RGB run wins over the members
    (row,) = runner.paper_layout_rows(results + [run("rgb", "rgb", 0.2)])
    assert row["rgb"] == 20.0 and row["from_members"] == ["depth", "depth_hallucinated"]
