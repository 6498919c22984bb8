"""The one PatchGAN (depthlab.nets.resnet_gan.PatchDiscriminator): its norm option and the
two-stage ``ConditionalPatchGAN`` built through it, which still reads the old class's weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from depthlab.layers import InstanceNorm, Pix2PixBatchNorm
from depthlab.models import two_stage as ts
from depthlab.nets import PatchDiscriminator

EPS = 1e-3        # epsilon of both norms (InstanceNorm, Keras BatchNormalization)


def _tiny(norm, first_norm=False):
    # 2 input channels -> k4 s2 conv to 3 -> k4 s1 conv to 5 -> k4 s1 conv to the 1-map
    return PatchDiscriminator(image_size=8, input_channels=2, filters=(3, 5), strides=(2, 1),
                              first_norm=first_norm, norm=norm, layer_prefix="p")


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_parameter_counts_by_hand(norm):
    d = _tiny(norm)
    # conv1: 4x4x2x3 kernel + 3 bias (no norm on the first conv); conv2: 4x4x3x5, no bias
    # before a norm; norm: gamma + beta of 5 channels; logit conv: 4x4x5x1 + 1 bias
    trainable = (4 * 4 * 2 * 3 + 3) + (4 * 4 * 3 * 5) + (5 + 5) + (4 * 4 * 5 * 1 + 1)
    assert trainable == 430
    assert sum(int(np.prod(v.shape)) for v in d.trainable_weights) == trainable
    # batch norm adds its moving mean and variance (5 + 5, not trained); instance norm nothing
    assert d.count_params() == trainable + (10 if norm == "batch" else 0)
    norm_layer = d.get_layer("p2_bn" if norm == "batch" else "p2_in")
    assert type(norm_layer) is (Pix2PixBatchNorm if norm == "batch" else InstanceNorm)
    # first_norm: conv1 loses its bias (3) and gains gamma + beta (3 + 3), +3 moving stats
    d1 = _tiny(norm, first_norm=True)
    assert sum(int(np.prod(v.shape)) for v in d1.trainable_weights) == trainable - 3 + 6
    assert d.output_shape == (None, 4, 4, 1)          # one s2 conv: 8 -> 4


def _norm_in_and_out(d, block, x, training):
    """The conv output entering block ``block``'s norm and that block's LeakyReLU output."""
    probe = keras.Model(d.input, [d.get_layer(f"p{block}_conv").output,
                                   d.get_layer(f"p{block}_lrelu").output])
    conv, act = probe(x, training=training)
    return conv.numpy().astype(np.float64), act.numpy()


def _lrelu(y):
    return np.where(y > 0, y, 0.2 * y)


def test_batch_norm_variant_normalises_batch_statistics_instance_variant_each_image():
    """Training mode: 'batch' normalises each channel by its mean / variance over (N, H, W),
    'instance' by each image's over (H, W); both then scale by gamma, shift by beta and apply
    LeakyReLU(0.2). Checked against NumPy on the layer's own conv output."""
    rng = np.random.default_rng(3)
    # the two images differ in offset and spread, so batch and instance statistics differ
    x = np.stack([rng.normal(2.0, 1.0, (8, 8, 2)), rng.normal(-1.0, 3.0, (8, 8, 2))])
    x = x.astype(np.float32)
    gamma, beta = np.array([1.0, 2.0, 0.5, 1.5, 3.0]), np.array([0.1, -0.2, 0.0, 0.3, -1.0])
    outs = {}
    for norm in ("batch", "instance"):
        d = _tiny(norm)
        layer = d.get_layer("p2_bn" if norm == "batch" else "p2_in")
        layer.gamma.assign(gamma.astype(np.float32))
        layer.beta.assign(beta.astype(np.float32))
        conv, act = _norm_in_and_out(d, 2, x, training=True)
        axes = (0, 1, 2) if norm == "batch" else (1, 2)
        m, v = conv.mean(axes, keepdims=True), conv.var(axes, keepdims=True)
        want = _lrelu((conv - m) / np.sqrt(v + EPS) * gamma + beta)
        np.testing.assert_allclose(act, want, rtol=1e-4, atol=1e-4)
        # with gamma = 1, beta = 0 the batch variant's channels have mean 0 and variance
        # v / (v + eps) over the batch
        outs[norm] = act
        if norm == "batch":
            layer.gamma.assign(np.ones(5, np.float32))
            layer.beta.assign(np.zeros(5, np.float32))
            probe = keras.Model(d.input, layer.output)
            y = probe(x, training=True).numpy().astype(np.float64)
            np.testing.assert_allclose(y.mean((0, 1, 2)), 0.0, atol=1e-5)
            np.testing.assert_allclose(y.var((0, 1, 2)), (v / (v + EPS)).ravel(), rtol=1e-4)
            assert np.abs(y.mean((1, 2))).max() > 0.1     # but not image by image
    # same input, same statistics only if the images agreed: they do not
    assert np.abs(outs["batch"] - outs["instance"]).max() > 0.1


def test_bad_norm_and_init_are_named():
    with pytest.raises(ValueError, match="norm must be one of .*'group'"):
        PatchDiscriminator(norm="group")
    with pytest.raises(ValueError, match="kernel_init must be one of"):
        PatchDiscriminator(kernel_init="he")
    with pytest.raises(ValueError, match="ConditionalPatchGAN: filters"):
        ts.ConditionalPatchGAN(2, filters=(8, 16), strides=(2,))


# --- ConditionalPatchGAN reads what the class wrote before it was built through the shared one


def _paper_d_by_hand(input_channels, filters, strides):
    """The two-stage text's D written out from its description, not from the library: a 70x70
    PatchGAN (lines 497-509) of Ck = conv-BatchNorm-LeakyReLU modules (lines 413-417, 511-513)
    as pix2pix's D (its [8]): k4 'same' convs, the first without BN (and so with a bias), the
    others without bias before BN, then a k4 s1 conv to one logit map; the layers named
    dI_conv / dI_bn / dI_lrelu and d_logits, the input 'pair', as the old class named them."""
    inp = keras.Input((None, None, input_channels), name="pair")
    x = inp
    for i, (f, s) in enumerate(zip(filters, strides), start=1):
        x = keras.layers.Conv2D(f, 4, strides=s, padding="same", use_bias=i == 1,
                                name=f"d{i}_conv")(x)
        if i > 1:
            x = Pix2PixBatchNorm(name=f"d{i}_bn")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"d{i}_lrelu")(x)
    out = keras.layers.Conv2D(1, 4, padding="same", name="d_logits", dtype="float32")(x)
    return keras.Model(inp, out, name="patch_gan")


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    for v in model.weights:     # moving statistics too (positive variances)
        value = rng.uniform(0.5, 1.5, v.shape) if "variance" in v.path \
            else rng.normal(0.0, 0.3, v.shape)
        v.assign(value.astype(np.float32))


@pytest.mark.parametrize("filters,strides", [((8, 16, 32), (2, 2, 1)), ((4, 6), (2, 1))])
def test_old_checkpoint_and_weights_file_restore_into_the_shared_class(tmp_path, filters,
                                                                       strides):
    old = _paper_d_by_hand(2, filters, strides)
    _randomise(old, seed=len(filters))
    new = ts.ConditionalPatchGAN(2, filters=filters, strides=strides)
    # same layer names and variable order as the old layout
    assert [v.path for v in new.weights] == [v.path for v in old.weights]
    assert [layer.name for layer in new.layers] == [layer.name for layer in old.layers]
    x = np.random.default_rng(9).normal(size=(2, 16, 16, 2)).astype(np.float32)

    path = tf.train.Checkpoint(d=old).write(str(tmp_path / "old_ckpt"))
    tf.train.Checkpoint(d=new).read(path).assert_consumed()
    for training in (False, True):
        np.testing.assert_array_equal(new(x, training=training).numpy(),
                                      old(x, training=training).numpy())
    for a, b in zip(new.weights, old.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # the .weights.h5 of a saved model (what a .keras archive holds) loads by layer name
    again = ts.ConditionalPatchGAN(2, filters=filters, strides=strides)
    old.save_weights(str(tmp_path / "old.weights.h5"))
    again.load_weights(str(tmp_path / "old.weights.h5"))
    np.testing.assert_array_equal(again(x).numpy(), old(x).numpy())


def test_conditional_patch_gan_keeps_its_registered_name_and_config():
    old_config = {"input_channels": 2, "filters": [8, 16], "strides": [2, 1], "name": "patch_gan"}
    assert keras.saving.get_registered_name(ts.ConditionalPatchGAN) == \
        "depthlab>ConditionalPatchGAN"
    assert keras.saving.get_registered_name(Pix2PixBatchNorm) == "depthlab>Pix2PixBatchNorm"
    assert ts.Pix2PixBatchNorm is Pix2PixBatchNorm          # the old import path still works
    d = ts.ConditionalPatchGAN.from_config(dict(old_config))
    assert d.get_config() == old_config
    assert d.input_shape == (None, None, None, 2) and d.inputs[0].name == "pair"
    # the shared class with the same arguments builds the same thing
    shared = PatchDiscriminator(image_size=None, input_channels=2, filters=(8, 16),
                                strides=(2, 1), norm="batch", kernel_init="normal",
                                input_name="pair", layer_prefix="d")
    assert [(type(a), a.name) for a in d.layers] == [(type(b), b.name) for b in shared.layers]
    # N(0, 0.02) kernels (pix2pix) in every conv, the logit conv included
    for layer in d.layers:
        if isinstance(layer, keras.layers.Conv2D):
            init = layer.kernel_initializer
            assert isinstance(init, keras.initializers.RandomNormal), layer.name
            assert (init.mean, init.stddev) == (0.0, 0.02)


def test_a_config_written_before_the_norm_option_builds_the_instance_norm_patchgan():
    # the keys a TS-GAN / CycleGAN-depth .keras file holds for its D (no norm / init keys)
    old = {"image_size": 16, "input_channels": 3, "filters": [4, 8], "strides": [2, 1],
           "first_norm": False, "final_stride": 1, "final_norm": False, "name": "d_depth"}
    d = PatchDiscriminator.from_config(dict(old))
    assert d.inputs[0].name == "image" and d.input_shape == (None, 16, 16, 3)
    norms = [type(layer) for layer in d.layers if "Norm" in type(layer).__name__]
    assert norms == [InstanceNorm]                           # none on the first conv
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(isinstance(c.kernel_initializer, keras.initializers.GlorotUniform) for c in convs)
    assert [c.use_bias for c in convs] == [True, False, True]
    assert {k: d.get_config()[k] for k in old} == old
