"""The attention fusions TS-GAN compares with (issue 6): two-level attention (Uppal et al.
2021a) and depth-guided attention (Uppal et al. 2021b). Layers against hand-worked values and
independent NumPy forward passes; the models train a step; the runner trains and re-evaluates
a tiny run of each."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from depthlab.layers import SpatialAttention
from depthlab.recognition.attention import DepthGuidedAttention, FeatureMapLSTMAttention
from depthlab.recognition.models import (DepthGuidedAttentionClassifier, FUSIONS,
                                         TwoLevelAttentionClassifier, build_classifier)

# 64 px through SE-ResNet-50 (stride 32) gives 2 x 2 feature maps: attention over 4 positions
TINY = dict(backbone="se_resnet50", width=0.0625, image_size=64, head_units=16)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- spatial (level 2)
def test_spatial_attention_1x1_kernel_by_hand():
    x = np.zeros((1, 1, 2, 2), np.float32)
    x[0, 0, 0] = [1.0, 3.0]        # mean 2, max 3
    x[0, 0, 1] = [-2.0, 0.0]       # mean -1, max 0
    layer = SpatialAttention(kernel_size=1, return_map=True)
    layer.build(x.shape)
    layer.conv.set_weights([np.array([0.5, -1.0], np.float32).reshape(1, 1, 2, 1)])
    out, attention = layer(tf.constant(x))
    # logits 0.5*2 - 3 = -2 and 0.5*(-1) - 0 = -0.5
    want = _sigmoid(np.array([-2.0, -0.5]))          # 0.1192029, 0.3775407
    np.testing.assert_allclose(attention.numpy()[0, 0, :, 0], want, rtol=1e-6)
    np.testing.assert_allclose(out.numpy()[0, 0], x[0, 0] * want[:, None], rtol=1e-6)


def test_spatial_attention_7x7_matches_a_numpy_convolution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    layer = SpatialAttention()                        # k = 7, 'same' zero padding, no bias
    layer.build(x.shape)
    kernel = rng.normal(size=(7, 7, 2, 1)).astype(np.float32) * 0.2
    layer.conv.set_weights([kernel])
    pooled = np.stack([x.mean(-1), x.max(-1)], axis=-1)              # (2, 5, 4, 2)
    padded = np.pad(pooled, ((0, 0), (3, 3), (3, 3), (0, 0)))
    logits = np.zeros((2, 5, 4))
    for i in range(5):
        for j in range(4):
            logits[:, i, j] = np.einsum("bhwc,hwc->b", padded[:, i:i + 7, j:j + 7], kernel[..., 0])
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), x * _sigmoid(logits)[..., None],
                               rtol=1e-5, atol=1e-6)
    clone = SpatialAttention.from_config(layer.get_config())
    assert clone.kernel_size == 7 and not clone.return_map


# ----------------------------------------------------------------------------- LSTM (level 1)
def test_lstm_feature_map_attention_with_a_silent_lstm_by_hand():
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    layer = FeatureMapLSTMAttention(units=2, return_weights=True)
    layer.build(x.shape)
    layer.lstm.set_weights([np.zeros_like(w) for w in layer.lstm.get_weights()])
    # all-zero LSTM: i = f = o = 0.5, g = 0, so c_t = h_t = 0; the weights are sigmoid(tanh(b))
    layer.fc.set_weights([np.ones((2, 3), np.float32), np.array([0.0, 1.0, -1.0], np.float32)])
    out, weights = layer(tf.constant(x))
    want = np.array([0.5, _sigmoid(np.tanh(1.0)), _sigmoid(np.tanh(-1.0))])  # .5, .681704, .318296
    np.testing.assert_allclose(weights.numpy()[0], want, rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), x * want, rtol=1e-6)


def _numpy_lstm_last_state(seq, kernel, recurrent, bias):
    """LSTM (Hochreiter & Schmidhuber; Keras gate order i, f, c, o), h0 = c0 = 0."""
    units = recurrent.shape[0]
    h = np.zeros((seq.shape[0], units))
    c = np.zeros((seq.shape[0], units))
    for t in range(seq.shape[1]):
        z = seq[:, t] @ kernel + h @ recurrent + bias
        i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units:2 * units])
        g, o = np.tanh(z[:, 2 * units:3 * units]), _sigmoid(z[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def test_lstm_feature_map_attention_matches_a_numpy_lstm_over_row_major_positions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    layer = FeatureMapLSTMAttention(units=5, return_weights=True)
    layer.build(x.shape)
    kernel, recurrent, bias = (w.astype(np.float64) for w in layer.lstm.get_weights())
    bias = bias + rng.normal(size=bias.shape) * 0.3          # a non-trivial bias too
    layer.lstm.set_weights([kernel, recurrent, bias])
    fc_w, fc_b = (w.astype(np.float64) for w in layer.fc.get_weights())
    h = _numpy_lstm_last_state(x.reshape(3, 6, 4).astype(np.float64), kernel, recurrent, bias)
    want = _sigmoid(np.tanh(h @ fc_w + fc_b))
    out, weights = layer(tf.constant(x))
    np.testing.assert_allclose(weights.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.numpy(), x * want[:, None, None, :], rtol=1e-5, atol=1e-6)
    # the sequence is the row-major positions: feeding them column-major gives other weights
    h_cols = _numpy_lstm_last_state(x.transpose(0, 2, 1, 3).reshape(3, 6, 4), kernel,
                                    recurrent, bias)
    assert np.abs(_sigmoid(np.tanh(h_cols @ fc_w + fc_b)) - want).max() > 1e-4
    assert FeatureMapLSTMAttention.from_config(layer.get_config()).units == 5


# ----------------------------------------------------------------------------- depth-guided
def test_depth_guided_attention_by_hand():
    """1 x 2 grid (N = 2). rgb channel 0 = (atanh .5, 0) -> q = (.5, 0); depth = (atanh .8, 0)
    -> k = (.8, 0); S = q k^T = [[.4, 0], [0, 0]]; pooling (1, 1): P = (.4, 0); conv c with
    BN (initial statistics: x / sqrt(1 + 1e-3)) chosen so that the logits are (ln 3, 0) ->
    softmax (.75, .25) -> rgb * N a = rgb * (1.5, .5)."""
    rgb = np.zeros((1, 1, 2, 2), np.float32)
    rgb[0, 0, :, 0] = [np.arctanh(0.5), 0.0]
    rgb[0, 0, :, 1] = [2.0, 4.0]                     # carried through, not embedded
    depth = np.zeros((1, 1, 2, 1), np.float32)
    depth[0, 0, :, 0] = [np.arctanh(0.8), 0.0]
    layer = DepthGuidedAttention(embed_dim=1, pool_dim=1, return_map=True)
    layer.build([rgb.shape, depth.shape])
    layer.embed_rgb.set_weights([np.array([[1.0], [0.0]], np.float32), np.zeros(1, np.float32)])
    layer.embed_depth.set_weights([np.array([[1.0]], np.float32), np.zeros(1, np.float32)])
    layer.pool.set_weights([np.ones((2, 1), np.float32), np.zeros(1, np.float32)])
    c = np.log(3.0) / 0.4 * np.sqrt(1.0 + 1e-3)
    layer.conv.set_weights([np.full((1, 1, 1, 1), c, np.float32)])
    out, attention = layer([tf.constant(rgb), tf.constant(depth)], training=False)
    np.testing.assert_allclose(attention.numpy()[0, 0, :, 0], [0.75, 0.25], rtol=1e-5)
    np.testing.assert_allclose(out.numpy()[0, 0, :, 1], [3.0, 2.0], rtol=1e-5)
    np.testing.assert_allclose(out.numpy()[0, 0, :, 0], [1.5 * np.arctanh(0.5), 0.0], rtol=1e-5)
    # map_scale='none' weights by the softmax itself (the authors' multiply)
    plain = DepthGuidedAttention(embed_dim=1, pool_dim=1, map_scale="none")
    plain.build([rgb.shape, depth.shape])
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(plain([tf.constant(rgb), tf.constant(depth)]).numpy(),
                               out.numpy() / 2.0, rtol=1e-5)


@pytest.mark.parametrize("embed_activation", ["tanh", "relu_tanh"])
def test_depth_guided_attention_matches_numpy(embed_activation):
    rng = np.random.default_rng(2)
    rgb = rng.normal(size=(2, 2, 2, 3)).astype(np.float32)
    depth = rng.normal(size=(2, 2, 2, 5)).astype(np.float32)
    layer = DepthGuidedAttention(embed_dim=4, pool_dim=3, embed_activation=embed_activation,
                                 return_map=True)
    layer.build([rgb.shape, depth.shape])
    bn = [rng.uniform(0.5, 2.0, 1), rng.normal(size=1), rng.normal(size=1),
          rng.uniform(0.5, 2.0, 1)]                  # gamma, beta, moving mean, moving var
    layer.bn.set_weights([v.astype(np.float32) for v in bn])
    wq, bq = layer.embed_rgb.get_weights()
    wk, bk = layer.embed_depth.get_weights()
    wp, bp = layer.pool.get_weights()
    wc = layer.conv.get_weights()[0]
    act = (lambda z: np.tanh(np.maximum(z, 0.0))) if embed_activation == "relu_tanh" else np.tanh
    q = act(rgb.reshape(2, 4, 3) @ wq + bq)           # (B, N, E), N = 4 row-major positions
    k = act(depth.reshape(2, 4, 5) @ wk + bk)
    s = np.einsum("bie,bje->bij", q, k)               # RGB position i x depth position j
    p = s @ wp + bp                                   # (B, N, V): pooled over depth positions
    logits = p @ wc[0, 0, :, 0]
    gamma, beta, mean, var = bn
    logits = gamma * (logits - mean) / np.sqrt(var + 1e-3) + beta
    a = _softmax(logits, axis=1)                      # over the N positions
    out, attention = layer([tf.constant(rgb), tf.constant(depth)], training=False)
    np.testing.assert_allclose(attention.numpy().reshape(2, 4), a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(attention.numpy().sum(axis=(1, 2, 3)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), rgb * 4.0 * a.reshape(2, 2, 2, 1), rtol=1e-5,
                               atol=1e-6)
    assert DepthGuidedAttention.from_config(layer.get_config()).embed_activation == \
        embed_activation


def test_attention_layers_reject_bad_shapes_and_options():
    with pytest.raises(ValueError, match="same h x w grid|share a"):
        DepthGuidedAttention().build([(None, 2, 2, 3), (None, 4, 4, 3)])
    with pytest.raises(ValueError, match="embed_activation"):
        DepthGuidedAttention(embed_activation="relu")
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        FeatureMapLSTMAttention().build((None, 8))
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        SpatialAttention().build((None, 8))


# ----------------------------------------------------------------------------- models
def test_feature_extractor_is_the_backbone_before_its_pooling(tmp_path):
    from depthlab.nets import recognition_backbones as bb

    backbone = bb.build_backbone("se_resnet50", (64, 64, 3), embedding_dim=4, width=0.0625)
    path = str(tmp_path / "trunk.weights.h5")
    bb.trunk_of(backbone).save_weights(path)
    extractor = bb.build_feature_extractor("se_resnet50", (64, 64, 3), weights_path=path,
                                           width=0.0625)
    assert extractor.output_shape == (None, 2, 2, 128)
    x = tf.random.uniform((2, 64, 64, 3), seed=7)
    before_gap = keras.Model(backbone.input, backbone.get_layer("gap").input)
    np.testing.assert_allclose(extractor(x).numpy(), before_gap(x).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="width"):
        bb.build_feature_extractor("vgg16", (64, 64, 3), width=0.5)


def _batch(n=4, size=64, seed=0):
    x = {"rgb": tf.random.uniform((n, size, size, 3), seed=seed),
         "depth": tf.random.uniform((n, size, size, 3), seed=seed + 1)}
    return x, tf.constant(np.arange(n) % 3)


def _compile(model):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


@pytest.mark.slow
def test_two_level_attention_classifier_is_its_parts_and_trains(tmp_path):
    model = TwoLevelAttentionClassifier(3, lstm_units=8, **TINY)
    x, y = _batch()
    logits = model(x).numpy()
    f = [model.extractors[s](x[s]) for s in ("rgb", "depth")]
    assert f[0].shape == (4, 2, 2, 128)
    fused = tf.concat(f, axis=-1)                     # RGB maps first, then depth
    want = model.head(model.spatial_attention(model.feature_map_attention(fused)))
    np.testing.assert_allclose(logits, want.numpy(), atol=1e-5)
    _compile(model)
    losses = [float(model.train_on_batch(x, y)[0]) for _ in range(2)]
    assert all(np.isfinite(losses))
    path = str(tmp_path / "two_level.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, TwoLevelAttentionClassifier) and loaded.lstm_units == 8
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="missing"):
        model({"rgb": x["rgb"]})


def test_depth_guided_classifier_loss_is_the_weighted_sum_of_its_three_heads():
    model = DepthGuidedAttentionClassifier(3, embed_dim=8, pool_dim=8, **TINY)
    x, y = _batch(seed=3)
    _compile(model)
    model(x)
    logits, aux = model.forward(x, training=True)
    assert set(aux) == {"rgb", "depth"}
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    want = 0.5 * float(ce(y, logits)) + 0.25 * float(ce(y, aux["rgb"])) + \
        0.25 * float(ce(y, aux["depth"]))
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss, accuracy = model.train_on_batch(x, y)
    assert float(loss) == pytest.approx(want, rel=1e-4)
    assert float(accuracy) == pytest.approx(float(np.mean(logits.numpy().argmax(1) == y.numpy())))
    changed = [np.abs(b - w.numpy()).max() > 0 for b, w in zip(before, model.trainable_weights)]
    assert all(changed)                       # every head and both extractors were updated
    # the depth stream steers the prediction through the attention map
    x2 = dict(x, depth=tf.zeros_like(x["depth"]))
    assert np.abs(model(x2).numpy() - model(x).numpy()).max() > 1e-6
    clone = DepthGuidedAttentionClassifier.from_config(model.get_config())
    assert clone.aux_weight == 0.25 and clone.attention.pool_dim == 8


@pytest.mark.slow
def test_depth_guided_classifier_without_auxiliary_heads_uses_the_plain_loss():
    model = DepthGuidedAttentionClassifier(3, aux_weight=0.0, **TINY)
    x, y = _batch(seed=5)
    _compile(model)
    model(x)
    assert model.aux_heads == {}
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    want = float(ce(y, model.forward(x, training=True)[0]))
    assert float(model.train_on_batch(x, y)[0]) == pytest.approx(want, rel=1e-4)
    with pytest.raises(ValueError, match="aux_weight"):
        DepthGuidedAttentionClassifier(3, aux_weight=0.5, **TINY)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [TwoLevelAttentionClassifier, DepthGuidedAttentionClassifier])
def test_attention_models_round_trip_through_tf_checkpoints(tmp_path, cls):
    """The runner's checkpoints are tf.train.Checkpoints: every variable (both extractors, the
    auxiliary heads, BN statistics) must be in them, or a re-evaluation uses fresh weights."""
    x, y = _batch(seed=9)
    trained = cls(3, **TINY)
    _compile(trained)
    trained.train_on_batch(x, y)                      # BN statistics move off their init
    path = tf.train.Checkpoint(model=trained).save(str(tmp_path / "ckpt"))
    fresh = cls(3, **TINY)
    fresh(x)
    tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
    assert len(fresh.weights) == len(trained.weights)
    for a, b in zip(trained.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_allclose(fresh(x).numpy(), trained(x).numpy(), atol=1e-6)


def test_build_classifier_and_options_know_the_attention_fusions(tmp_path):
    from depthlab.runners import recognition as runner

    assert FUSIONS == ("feature", "score", "feature_frozen", "two_level_attention",
                       "depth_guided_attention")
    kw = dict(num_classes=3, backbone="se_resnet50", image_size=32, embedding_dim=4,
              width=0.0625)
    (role, model), = build_classifier("rgbd", "two_level_attention", **kw).items()
    assert role == "fused" and isinstance(model, TwoLevelAttentionClassifier)
    assert model.head_units == 8                      # 2 x embedding_dim
    (role, model), = build_classifier("rgbd_hallucinated", "depth_guided_attention",
                                      **kw).items()
    assert role == "fused" and isinstance(model, DepthGuidedAttentionClassifier)
    opts = runner.RunOptions(model_dir=str(tmp_path), inputs="rgbd",
                             fusion="depth_guided_attention")
    assert opts.column == "rgbd_depth_guided_attention"
    with pytest.raises(ValueError, match="fusion"):
        runner.RunOptions(model_dir=str(tmp_path), inputs="rgbd", fusion="attention")


def test_paper_layout_rows_put_attention_runs_in_extra_columns():
    from depthlab.runners import recognition as runner

    def run(column, inputs, mean):
        return {"column": column, "backbone": "vgg16", "inputs": inputs,
                "folds": {"all": {"test": {"rank1": mean}}}, "mean": {"test": mean}}

    (row,) = runner.paper_layout_rows([run("rgbd_feature", "rgbd", 0.5),
                                       run("rgbd_two_level_attention", "rgbd", 0.625),
                                       run("rgbd_hallucinated_depth_guided_attention",
                                           "rgbd_hallucinated", 0.75)])
    assert row == {"backbone": "vgg16", "rgbd_feature": 50.0,
                   "rgbd_two_level_attention": 62.5,
                   "rgbd_hallucinated_depth_guided_attention": 75.0}
    columns = [c for c in runner.COLUMNS if c in row]
    assert columns == ["rgbd_feature", "rgbd_two_level_attention",
                       "rgbd_hallucinated_depth_guided_attention"]
    assert runner.COLUMNS[:7] == ("rgb", "rgbd_feature", "rgbd_score",
                                  "rgbd_hallucinated_feature", "rgbd_hallucinated_score",
                                  "depth", "depth_hallucinated")   # the paper's layout first
    assert all(c in runner.COLUMN_LABELS for c in runner.COLUMNS)


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["two_level_attention", "depth_guided_attention"])
def test_attention_fusion_runs_train_and_reevaluate(tmp_path, fusion):
    from depthlab.runners import recognition as runner

    opts = runner.RunOptions(model_dir=str(tmp_path), inputs="rgbd", fusion=fusion, epochs=1,
                             backbone="se_resnet50", width=0.0625, image_size=64,
                             embedding_dim=8, batch_size=6, synthetic_identities=3,
                             synthetic_images_per_identity=4, log_every=10 ** 6,
                             run_eagerly=True)
    result = runner.train(opts, verbose=False)
    assert result["column"] == f"rgbd_{fusion}" and result["fusion"] == fusion
    acc = result["folds"]["all"]["test"]["rank1"]
    assert 0.0 <= acc <= 1.0
    assert (tmp_path / "all" / "fused" / "model.keras").exists()
    assert runner.evaluate(str(tmp_path))["mean"]["test"] == pytest.approx(acc)
    with pytest.raises(ValueError, match="feature maps"):       # no embedding for Figure 4
        runner.tsne_figure(str(tmp_path), str(tmp_path / "tsne.png"), generator="unused")
