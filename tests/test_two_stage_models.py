"""Two-stage models (depthlab/models/two_stage.py) and the UnpoolUpProjection block."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab.layers import UnpoolUpProjection, unpool2x
from depthlab.models import two_stage as ts
from depthlab.nets import ResNetEncoder


def test_stage1_exact_parameter_count_of_the_torch_original():
    # Reference notes 3.2: 63,566,144 trainable for rgbd (ResNet-50 23,508,032 + 64*7*7 for
    # the 4th input channel, 1x1 bottleneck + BN 2,099,200, UpProj 37,955,200, head 576).
    net = ts.build_stage1("sparse_to_dense", input_channels=4)
    assert ts.count_trainable(net) == 63_566_144
    assert net.output_shape == (None, 228, 304, 1)
    assert net.get_layer("enc_layer4_block2_out").output.shape[1:] == (8, 10, 2048)
    assert net.get_layer("upproj4").output.shape[1:] == (128, 160, 64)


def test_presets_differ_by_the_documented_layers():
    # At a small width: rgb vs rgbd differ by conv1's 4th input channel (7*7*F).
    f = 8
    rgbd = ts.build_stage1("demo", 4, input_hw=(64, 64))
    rgb = ts.build_stage1("demo", 3, input_hw=(64, 64))
    assert ts.count_trainable(rgbd) - ts.count_trainable(rgb) == 7 * 7 * f
    with pytest.raises(ValueError, match="preset"):
        ts.build_stage1("nope")
    with pytest.raises(ValueError, match="input_channels"):
        ts.build_stage1("demo", 2)


def test_paper_stage1_has_exactly_the_layers_the_text_lists():
    """Two-stage text, lines 356-362: ResNet-50 without average pooling and linear layer, then
    "two convolution layers, four upper sampling layers and a bilinear interpolation layer";
    line 614: the map before the bilinear layer is 160x128; lines 368-372 / 616-618: it is
    resized to 256x256. Counted by hand on the built graph (small width, full input size)."""
    kw = dict(input_hw=(228, 304), base_filters=8, blocks=(1, 1, 1, 1))
    paper = ts.build_stage1("paper", 4, **kw)
    s2d = ts.build_stage1("sparse_to_dense", 4, **kw)
    decoder = [l for l in paper.layers if not l.name.startswith("enc_")
               and not isinstance(l, (keras.layers.InputLayer, keras.layers.ZeroPadding2D))]
    convs = [l for l in decoder if isinstance(l, keras.layers.Conv2D)]
    assert [(l.name, l.kernel_size) for l in convs] == [("bottleneck_conv", (1, 1)),
                                                        ("head_conv", (3, 3))]   # two convs
    ups = [l for l in decoder if isinstance(l, UnpoolUpProjection)]
    assert len(ups) == 4                                                         # four up
    resizes = [l for l in decoder if isinstance(l, ts.AlignCornersResize)]
    assert len(resizes) == 1 and resizes[0].size == (256, 256)                   # one bilinear
    assert paper.get_layer("head_conv").output.shape[1:3] == (128, 160)          # "160x128"
    assert paper.output_shape == (None, 256, 256, 1)
    # no pooling / dense layer after the encoder, and nothing else with weights
    assert not [l for l in decoder if isinstance(l, (keras.layers.Dense,
                                                     keras.layers.GlobalAveragePooling2D))]
    weighted = [l.name for l in decoder if l.weights]
    assert weighted == ["bottleneck_conv", "bottleneck_bn", "upproj1", "upproj2", "upproj3",
                        "upproj4", "head_conv"]
    # the same network as sparse-to-dense: only the bilinear target differs
    assert ts.count_trainable(paper) == ts.count_trainable(s2d)
    assert s2d.output_shape == (None, 228, 304, 1)


def test_unpool_puts_values_top_left_and_block_matches_formula():
    x = tf.reshape(tf.range(1, 5, dtype=tf.float32), (1, 2, 2, 1))
    u = unpool2x(x).numpy()[0, ..., 0]
    np.testing.assert_array_equal(u, [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
    block = UnpoolUpProjection(6)
    y = block(tf.random.normal((2, 3, 5, 12)), training=False)
    assert y.shape == (2, 6, 10, 6) and float(tf.reduce_min(y)) >= 0.0
    n_trainable = sum(int(np.prod(v.shape)) for v in block.trainable_variables)
    assert n_trainable == 2 * 25 * 12 * 6 + 9 * 6 * 6 + 3 * 2 * 6
    clone = UnpoolUpProjection.from_config(block.get_config())
    assert clone.filters == 6
    # Registered: a model holding the block round-trips through .keras serialisation.
    assert keras.saving.get_registered_object("depthlab>UnpoolUpProjection") is UnpoolUpProjection


def _batch(net, b=2, seed=0):
    rng = np.random.default_rng(seed)
    h, w = net.config.input_hw
    oh, ow = net.config.out_hw
    rgb = rng.integers(0, 255, (b, h, w, 3)).astype(np.uint8)
    sp = np.where(rng.uniform(size=(b, h, w, 1)) < 0.05, rng.uniform(1, 4, (b, h, w, 1)), 0)
    x = ts.stage1_input(rgb, sp.astype(np.float32), net.config.input_channels)
    depth = rng.uniform(1, 4, (b, oh, ow, 1)).astype(np.float32)
    valid = rng.uniform(size=depth.shape) > 0.2
    return x, tf.constant(depth), tf.constant(valid)


@pytest.mark.parametrize("loss", ["berhu", "l1", "l2"])
def test_stage1_trainer_takes_a_step(loss):
    net = ts.build_stage1("demo", 4, input_hw=(64, 64))
    trainer = ts.Stage1Trainer(net, loss)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    before = [v.numpy().copy() for v in net.trainable_variables]
    x, depth, valid = _batch(net)
    logs = trainer.train_step((x, depth, valid))
    assert np.isfinite(float(logs["loss"])) and float(logs["loss"]) > 0
    changed = [not np.allclose(a, v.numpy()) for a, v in zip(before, net.trainable_variables)]
    assert all(changed), "every trainable variable moves after one SGD step"


def test_stage2_refiner_takes_a_step_on_frozen_stage1():
    stage1 = ts.build_stage1("demo", 4, input_hw=(64, 64))
    frozen = [v.numpy().copy() for v in stage1.weights]
    gen, disc = ts.build_stage2(ts.stage2_config("demo", n_res_blocks=2))
    refiner = ts.Pix2PixRefiner(gen, disc, stage1, lambda_l1=100.0, max_depth=10.0)
    refiner.compile(g_optimizer=keras.optimizers.Adam(2e-4, 0.5, 0.999),
                    d_optimizer=keras.optimizers.Adam(2e-4, 0.5, 0.999))
    g0 = [v.numpy().copy() for v in gen.trainable_variables]
    d0 = [v.numpy().copy() for v in disc.trainable_variables]
    logs = refiner.train_step(_batch(stage1, b=1))
    for k in ("g_loss", "g_gan", "g_l1", "d_loss"):
        assert np.isfinite(float(logs[k]))
    # eq. 2: G loss = GAN term + lambda * L1.
    assert float(logs["g_loss"]) == pytest.approx(float(logs["g_gan"]) + 100.0 * float(logs["g_l1"]),
                                                  rel=1e-5)
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(g0, gen.trainable_variables))
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(d0, disc.trainable_variables))
    for a, v in zip(frozen, stage1.weights):          # stage 1 (BN statistics too) untouched
        np.testing.assert_array_equal(a, v.numpy())


def test_u_resnet_generator_shapes_skips_and_config():
    gen = ts.UResNetGenerator(filters=8, n_res_blocks=9)
    y = gen(tf.zeros((1, 32, 48, 1)))
    assert y.shape == (1, 32, 48, 1)
    res = [l for l in gen.layers if l.name.startswith("res") and l.name.endswith("_add")]
    assert len(res) == 9
    # skip i <-> n-i for i = 1, 2: the concatenations join enc1 / enc2 outputs.
    assert gen.get_layer("skip2").input[1] is gen.get_layer("enc2_lrelu").output
    assert gen.get_layer("skip1").input[1] is gen.get_layer("enc1_lrelu").output
    again = ts.UResNetGenerator.from_config(gen.get_config())
    assert ts.count_trainable(again) == ts.count_trainable(gen)


def _activations_and_norms(model):
    acts = [l for l in model._flatten_layers(include_self=False)
            if isinstance(l, (keras.layers.ReLU, keras.layers.LeakyReLU))
            or (isinstance(l, keras.layers.Activation) and l.get_config()["activation"] == "relu")]
    norms = {type(l).__name__ for l in model._flatten_layers(include_self=False)
             if "Normalization" in type(l).__name__ or "Norm" in type(l).__name__}
    return acts, norms


def test_stage2_layers_follow_the_text():
    """Lines 413-415: G and D are built of conv-BatchNorm-ReLU modules; lines 511-513: every
    ReLU is leaky; lines 486-488: layers 3 .. n-3 are nine residual blocks; lines 483-485:
    skips i <-> n-i for i = 1, 2."""
    gen, disc = ts.build_stage2("paper")
    assert ts.stage2_config("paper").n_res_blocks == 9
    for net in (gen, disc):
        acts, norms = _activations_and_norms(net)
        assert acts and all(isinstance(a, keras.layers.LeakyReLU) for a in acts), net.name
        assert norms == {"Pix2PixBatchNorm"}, (net.name, norms)      # a BatchNormalization
    adds = [l for l in gen.layers if isinstance(l, keras.layers.Add)]
    assert len(adds) == 9                                  # nine residual blocks
    # one LeakyReLU per Ck: enc1, enc2, one inside each block, dec_n2, dec_n1
    assert len(_activations_and_norms(gen)[0]) == 2 + 9 + 2
    # D: one per conv but the logit conv; no BN on its first conv only (pix2pix)
    d_bn = [l.name for l in disc.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert issubclass(ts.Pix2PixBatchNorm, keras.layers.BatchNormalization)
    assert d_bn == ["d2_bn", "d3_bn", "d4_bn"]


def test_pix2pix_batch_norm_trains_on_the_batch_and_infers_per_image():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (3, 5, 6, 4)).astype(np.float32)
    bn = ts.Pix2PixBatchNorm(epsilon=1e-3)
    bn.build(x.shape)
    bn.gamma.assign(np.arange(1, 5, dtype=np.float32))
    bn.beta.assign(np.full(4, 0.5, np.float32))
    g, b = np.arange(1, 5, dtype=np.float32), 0.5
    # training: the batch's statistics over (N, H, W), as BatchNormalization
    m, v = x.mean((0, 1, 2)), x.var((0, 1, 2))
    np.testing.assert_allclose(bn(x, training=True).numpy(), (x - m) / np.sqrt(v + 1e-3) * g + b,
                               atol=1e-4)
    # inference: each image's own statistics over (H, W); another batch-mate changes nothing
    m1, v1 = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    want = (x - m1) / np.sqrt(v1 + 1e-3) * g + b
    np.testing.assert_allclose(bn(x, training=False).numpy(), want, atol=1e-4)
    np.testing.assert_allclose(bn(x[:1], training=False).numpy(), want[:1], atol=1e-4)


def test_stage2_discriminator_sees_70x70_patches():
    """Line 507: a 70x70 patch. The receptive field of the paper D's convolutions read from the
    built model (kernel, stride, in order), recursed by hand: r = (r - 1) s + k from the logit
    back to the input (the batch-norm statistics couple all pixels, so a gradient probe would
    see the whole image)."""
    _, disc = ts.build_stage2("paper")
    convs = [l for l in disc.layers if isinstance(l, keras.layers.Conv2D)]
    geometry = [(l.kernel_size[0], l.strides[0]) for l in convs]
    assert geometry == [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]
    field = 1
    for k, stride in reversed(geometry):
        field = (field - 1) * stride + k
    assert field == 70                    # 1 -> 4 -> 7 -> 16 -> 34 -> 70
    assert all(l.padding == "same" for l in convs)


def test_stage2_options_have_their_own_epochs_and_batch():
    from depthlab.runners.two_stage_options import Stage1Options, Stage2Options

    s1 = Stage1Options.__dataclass_fields__
    s2 = Stage2Options.__dataclass_fields__
    assert (s1["epochs"].default, s1["batch_size"].default) == (20, 10)     # lines 622-623
    assert (s2["epochs"].default, s2["batch_size"].default) == (200, 1)     # lines 627-628
    cfg = ts.stage2_config("paper")
    assert (cfg.learning_rate, cfg.beta_1, cfg.beta_2) == (2e-4, 0.5, 0.999)  # lines 630-634


def test_backbone_weights_missing_file_none_and_load(tmp_path):
    net = ts.build_stage1("demo", 4, input_hw=(64, 64))
    logs = []
    assert ts.load_backbone_weights(net, None, logs.append) is False
    assert "from scratch" in logs[0]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ts.load_backbone_weights(net, str(tmp_path / "missing.weights.h5"))
    enc = ResNetEncoder(3, base_filters=8, blocks=(1, 1, 1, 1))
    path = str(tmp_path / "enc.weights.h5")
    enc.save_weights(path)
    conv1_before = net.get_layer("enc_conv1").get_weights()[0].copy()
    assert ts.load_backbone_weights(net, path, logs.append) is True
    np.testing.assert_array_equal(net.get_layer("enc_conv1").get_weights()[0], conv1_before)
    copied = [l for l in enc.layers if l.weights and l.name != "enc_conv1"]
    assert len(copied) > 20
    for layer in copied:                            # every encoder layer, BN statistics too
        for a, b in zip(net.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_array_equal(a, b)
    wrong = ResNetEncoder(3, base_filters=16, blocks=(1, 1, 1, 1))
    wrong.save_weights(str(tmp_path / "wrong.weights.h5"))
    with pytest.raises(ValueError, match="wrong.weights.h5"):
        ts.load_backbone_weights(net, str(tmp_path / "wrong.weights.h5"))


def test_resample_sparse_moves_samples_and_predict_checks_sizes():
    sp = np.zeros((1, 8, 8, 1), np.float32)
    sp[0, 1, 2, 0], sp[0, 7, 7, 0] = 2.5, 4.0
    out = ts.resample_sparse(sp, (4, 4)).numpy()[0, ..., 0]
    expected = np.zeros((4, 4))
    expected[0, 1], expected[3, 3] = 2.5, 4.0
    np.testing.assert_array_equal(out, expected)
    up = ts.resample_sparse(sp, (16, 16)).numpy()[0, ..., 0]
    assert up[2, 4] == 2.5 and up[14, 14] == 4.0 and np.count_nonzero(up) == 2

    net = ts.build_stage1("demo", 4, input_hw=(64, 64))
    rgb = np.zeros((1, 50, 70, 3), np.uint8)
    depth = ts.predict_depth(net, rgb, np.zeros((1, 50, 70, 1), np.float32))
    assert depth.shape == (1, 50, 70, 1)
    with pytest.raises(ValueError, match="does not match the RGB"):
        ts.predict_depth(net, rgb, np.zeros((1, 50, 60, 1), np.float32))


def test_stage1_keras_round_trip(tmp_path):
    net = ts.build_stage1("paper", 4, input_hw=(64, 64), base_filters=8, blocks=(1, 1, 1, 1))
    path = os.path.join(tmp_path, "s1.keras")
    net.save(path)
    back = keras.saving.load_model(path, compile=False)
    x = tf.random.normal((1, 64, 64, 4))
    np.testing.assert_allclose(back(x).numpy(), net(x).numpy(), atol=1e-5)
    assert back.config == net.config


def test_stage1_trainer_clips_the_global_gradient_norm():
    """issue 21: ``clip_norm`` scales the whole step's gradient to that global norm (plain SGD,
    lr 1: the weight change IS the gradient), and leaves a smaller gradient alone."""
    net = ts.build_stage1("demo", 4, input_hw=(32, 32))
    init = [v.numpy().copy() for v in net.weights]
    batch = _batch(net)

    def delta(clip):
        for v, a in zip(net.weights, init):
            v.assign(a)
        trainer = ts.Stage1Trainer(net, "berhu", clip_norm=clip)
        trainer.compile(optimizer=keras.optimizers.SGD(1.0))
        trainer.train_step(batch)
        return [v.numpy() - a for v, a in zip(net.trainable_variables,
                                               [init[i] for i, w in enumerate(net.weights)
                                                if w.trainable])]

    free = delta(None)
    norm = float(np.sqrt(sum(np.sum(d.astype(np.float64) ** 2) for d in free)))
    assert norm > 0
    half = delta(0.5 * norm)
    got = float(np.sqrt(sum(np.sum(d.astype(np.float64) ** 2) for d in half)))
    assert got == pytest.approx(0.5 * norm, rel=1e-3)
    for a, b in zip(half, free):
        np.testing.assert_allclose(a, 0.5 * b, rtol=1e-3, atol=1e-6 * norm)
    loose = delta(2.0 * norm)
    for a, b in zip(loose, free):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7 * norm)
    assert ts.Stage1Trainer(net, "berhu", clip_norm=10).get_config()["clip_norm"] == 10.0
