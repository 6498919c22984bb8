"""Face-recognition backbones of TS-GAN's experiments (paper section 4.2): VGG-16, ResNet-50,
SE-ResNet-50 and the Inception variant (Inception-v2 = BN-Inception). Paper-neutral networks
(moved here from ``depthlab.recognition.backbones``; registered Keras names unchanged).

``build_backbone(name, input_shape, weights_path=None, embedding_dim=512, width=1.0)``
returns a functional ``keras.Model`` mapping a 3-channel image in [0, 1] (RGB, or depth
replicated to 3 channels) to an ``embedding_dim`` vector: trunk -> global average pooling ->
Dense(embedding_dim) -> BatchNorm (the embedding, used by the classifiers, the fusion heads
and the t-SNE plot). ``build_feature_extractor`` returns the same trunk without the head:
image -> last feature map (h, w, C), for the attention fusions.

- ``vgg16`` / ``resnet50``: ``keras.applications`` (``include_top=False``, ``weights=None``),
  fed the caffe preprocessing their ImageNet weights expect (BGR, mean-subtracted 0-255). The
  ``weights_path`` file (Keras' ``*_notop.h5`` or a ``.weights.h5`` of the same trunk) is
  loaded into the trunk; none means training from scratch, which the caller must say.
  ``width`` must be 1 for these (keras.applications has no width option).
- ``se_resnet50``: ResNet-50 v1 (bottlenecks 3-4-6-3, stride on the 3x3 conv, convs without
  bias + BN) with a ``SqueezeExcite`` (reduction 16) on each residual branch before the
  addition (Hu et al. 2018, Fig. 3). With a 1000-way Dense top it has 28,088,024 trainable
  parameters, the count of the authors' SE-ResNet-50 (tested).
- ``inception``: BN-Inception (Ioffe & Szegedy 2015, Fig. 5): every conv is conv -> BN -> ReLU;
  modules 3a-3c, 4a-4e, 5a-5b with the widths in ``BN_INCEPTION_MODULES``.

``width`` scales the channel counts of ``se_resnet50`` and ``inception`` (tests build tiny
versions); ``width=1`` is the paper's network. The input side must be >= 32 pixels.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from depthlab import training
from depthlab.layers import SqueezeExcite

# the names, TF-free, for the recognition trainer's --help
from depthlab.runners.recognition_options import BACKBONES  # noqa: E402,F401
BN_MOMENTUM = 0.9
_PACKAGE = "depthlab"
# ImageNet channel means (RGB order, 0-255) of the caffe-style VGG/ResNet weights.
_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)

# BN-Inception modules: (name, #1x1, #3x3 reduce, #3x3, #double-3x3 reduce, #double-3x3,
# pool type, pool projection (0 = pass-through), stride). Ioffe & Szegedy 2015, Fig. 5; the
# concatenated widths come out as 256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024 (the
# paper's table prints 576 for 4c/4d and 1024 for 4e; the widely used BN-Inception definition
# has 608/608/1056, which the per-branch numbers imply).
BN_INCEPTION_MODULES = (
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
)
SE_RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))   # (planes, blocks, stride)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImagePreprocess(layers.Layer):
    """[0, 1] RGB -> the trunk's input convention.

    'caffe': x*255, RGB -> BGR, minus the ImageNet BGR means (keras.applications vgg16/resnet50
    ``preprocess_input``); 'symmetric': x*2 - 1 (the networks built here).
    """

    def __init__(self, mode: str = "symmetric", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "symmetric"):
            raise ValueError(f"ImagePreprocess: mode must be 'caffe' or 'symmetric', got {mode!r}")
        self.mode = mode

    def call(self, x):
        x = tf.cast(x, self.compute_dtype)
        if self.mode == "symmetric":
            return x * 2.0 - 1.0
        bgr = x[..., ::-1] * 255.0
        return bgr - tf.constant(_CAFFE_MEAN_RGB[::-1], dtype=bgr.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _conv_bn(x, filters, kernel, strides=1, relu=True, name=None):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _se_bottleneck(x, planes, strides, reduction, name):
    """ResNet-50 v1 bottleneck (1x1, 3x3 strided, 1x1 x4) + SE on the branch, then add, ReLU."""
    out_channels = 4 * planes
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        shortcut = _conv_bn(x, out_channels, 1, strides, relu=False, name=f"{name}_down")
    h = _conv_bn(x, planes, 1, name=f"{name}_1")
    h = _conv_bn(h, planes, 3, strides, name=f"{name}_2")
    h = _conv_bn(h, out_channels, 1, relu=False, name=f"{name}_3")
    h = SqueezeExcite(reduction, name=f"{name}_se")(h)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, h]))


def se_resnet50_trunk(x, width: float = 1.0, reduction: int = 16,
                      stages: Sequence[Tuple[int, int, int]] = SE_RESNET50_STAGES):
    """SE-ResNet-50 feature trunk (Hu et al. 2018, Table 1) on a preprocessed tensor."""
    x = _conv_bn(x, _scaled(64, width), 7, 2, name="stem")
    x = layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for s, (planes, blocks, stride) in enumerate(stages):
        for b in range(blocks):
            x = _se_bottleneck(x, _scaled(planes, width), stride if b == 0 else 1, reduction,
                               name=f"stage{s + 2}_block{b + 1}")
    return x


def _inception_module(x, spec, width: float):
    name, n1, r3, n3, rd, nd, pool, proj, stride = spec
    w = lambda c: _scaled(c, width)  # noqa: E731
    p = f"inception_{name}"
    branches = []
    if n1:
        branches.append(_conv_bn(x, w(n1), 1, name=f"{p}_1x1"))
    b = _conv_bn(x, w(r3), 1, name=f"{p}_3x3_reduce")
    branches.append(_conv_bn(b, w(n3), 3, stride, name=f"{p}_3x3"))
    b = _conv_bn(x, w(rd), 1, name=f"{p}_double_3x3_reduce")
    b = _conv_bn(b, w(nd), 3, name=f"{p}_double_3x3_1")
    branches.append(_conv_bn(b, w(nd), 3, stride, name=f"{p}_double_3x3_2"))
    pool_layer = layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D
    b = pool_layer(3, stride, padding="same", name=f"{p}_pool")(x)
    if proj:
        b = _conv_bn(b, w(proj), 1, name=f"{p}_pool_proj")
    branches.append(b)
    return layers.Concatenate(name=f"{p}_output")(branches)


def bn_inception_trunk(x, width: float = 1.0, modules=BN_INCEPTION_MODULES):
    """BN-Inception feature trunk (Ioffe & Szegedy 2015, Fig. 5)."""
    x = _conv_bn(x, _scaled(64, width), 7, 2, name="conv1_7x7_s2")
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = _conv_bn(x, _scaled(64, width), 1, name="conv2_3x3_reduce")
    x = _conv_bn(x, _scaled(192, width), 3, name="conv2_3x3")
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)
    for spec in modules:
        x = _inception_module(x, spec, width)
    return x


def _load_trunk_weights(trunk: keras.Model, weights_path: str, name: str) -> None:
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"--backbone_weights={weights_path}: no such file (backbone "
                                f"{name!r}); give a local weights file or omit the flag to "
                                "train from scratch")
    try:
        trunk.load_weights(weights_path)
    except Exception as e:  # noqa: BLE001 - re-raised with the file and backbone named
        raise ValueError(f"--backbone_weights={weights_path} does not fit backbone {name!r} "
                         f"at input {trunk.input_shape[1:]}: {e}") from e


def set_bn_momentum(model: keras.Model, momentum: float) -> None:
    """Sets the moving-statistics momentum of every BatchNormalization layer in ``model``."""
    for layer in training.batchnorm_layers(model):
        layer.momentum = float(momentum)


def _check_spec(name: str, input_shape, width: float) -> Tuple[int, int, int]:
    if name not in BACKBONES:
        raise ValueError(f"--backbone={name!r} is not one of {BACKBONES}")
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3 or min(input_shape[:2]) < 32:
        raise ValueError(f"backbone {name!r}: input_shape must be (H, W, 3) with H, W >= 32, "
                         f"got {input_shape}")
    if not width > 0:
        raise ValueError(f"--width must be > 0, got {width}")
    return input_shape


def _trunk_features(name: str, inputs, weights_path: Optional[str], width: float):
    """[0, 1] image tensor -> the trunk's last feature map (B, h, w, C) (trunk as a sub-model)."""
    input_shape = tuple(inputs.shape[1:])
    if name in ("vgg16", "resnet50"):
        if width != 1.0:
            raise ValueError(f"--width={width}: backbone {name!r} comes from keras.applications "
                             "and has no width option; use width 1")
        app = keras.applications.VGG16 if name == "vgg16" else keras.applications.ResNet50
        trunk = app(include_top=False, weights=None, input_shape=input_shape)
        trunk.name = f"{name}_trunk"
        if weights_path:
            _load_trunk_weights(trunk, weights_path, name)
        return trunk(ImagePreprocess("caffe", name="preprocess")(inputs))
    x = ImagePreprocess("symmetric", name="preprocess")(inputs)
    build = se_resnet50_trunk if name == "se_resnet50" else bn_inception_trunk
    trunk_in = keras.Input(input_shape, name="trunk_input")
    trunk = keras.Model(trunk_in, build(trunk_in, width=width), name=f"{name}_trunk")
    if weights_path:
        _load_trunk_weights(trunk, weights_path, name)
    return trunk(x)


def build_feature_extractor(name: str, input_shape: Tuple[int, int, int] = (128, 128, 3),
                            weights_path: Optional[str] = None, width: float = 1.0,
                            model_name: Optional[str] = None,
                            bn_momentum: float = BN_MOMENTUM) -> keras.Model:
    """``[0, 1] image (H, W, 3) -> trunk feature map (h, w, C)``, no pooling or embedding head.

    The spatial features the attention fusions work on (the authors' attention models take
    the last convolutional maps of their extractors, before any pooling). Same trunk,
    preprocessing, weights file and BN momentum as ``build_backbone``.
    """
    input_shape = _check_spec(name, input_shape, width)
    inputs = keras.Input(input_shape, name="image")
    model = keras.Model(inputs, _trunk_features(name, inputs, weights_path, width),
                        name=model_name or f"{name}_features")
    set_bn_momentum(model, bn_momentum)
    return model


def build_backbone(name: str, input_shape: Tuple[int, int, int] = (128, 128, 3),
                   weights_path: Optional[str] = None, embedding_dim: int = 512,
                   width: float = 1.0, model_name: Optional[str] = None,
                   bn_momentum: float = BN_MOMENTUM) -> keras.Model:
    """A backbone ``[0, 1] image (H, W, 3) -> embedding (embedding_dim,)`` (see module doc).

    ``bn_momentum`` (all BN layers, keras.applications' included, whose default is 0.99):
    0.9, so that the inference statistics follow the weights within the few hundred steps
    of a from-scratch run on a small face set (with 0.99 they still hold the initial
    statistics after 150 steps and every test image gets the same class).
    """
    input_shape = _check_spec(name, input_shape, width)
    if embedding_dim < 1:
        raise ValueError(f"--embedding_dim must be >= 1, got {embedding_dim}")
    inputs = keras.Input(input_shape, name="image")
    features = _trunk_features(name, inputs, weights_path, width)
    x = layers.GlobalAveragePooling2D(name="gap")(features)
    x = layers.Dense(embedding_dim, name="embedding_fc")(x)
    x = layers.BatchNormalization(name="embedding_bn")(x)
    model = keras.Model(inputs, x, name=model_name or name)
    set_bn_momentum(model, bn_momentum)
    return model


def trunk_of(backbone: keras.Model) -> keras.Model:
    """The trunk sub-model of a ``build_backbone`` model (for weight files, parameter counts)."""
    for layer in backbone.layers:
        if isinstance(layer, keras.Model) and layer.name.endswith("_trunk"):
            return layer
    raise ValueError(f"{backbone.name} has no '*_trunk' sub-model")


def count_trainable(model: keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))
