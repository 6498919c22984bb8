"""Two-stage depth from RGB + sparse depth: sparse-to-dense stage 1 + pix2pix refiner stage 2.

Stage 1 (Ma & Karaman, ICRA 2018, "Sparse-to-Dense", its Torch code): a ResNet-50
encoder (``depthlab.nets.resnet_encoder``) whose conv1 takes C = 3 (RGB), 4 (RGB + sparse
depth) or 1 (sparse depth) channels, a 1x1 conv to 1024 + BN, four ``UnpoolUpProjection``
blocks (1024 -> 64), a 3x3 conv to 1 channel and a bilinear (align-corners) upsampling to
the output size. ``build_stage1``:

- ``'sparse_to_dense'``: the Torch original (228x304 input, output resized to 228x304);
  63,566,144 trainable parameters for C = 4 (63,563,008 for C = 3), tested.
- ``'paper'``: the two-stage paper's stage 1 (its text, lines 356-372 and 614-618): the
  ResNet-50 without its average pooling and linear layer, then "two convolution layers, four
  upper sampling layers and a bilinear interpolation layer", i.e. exactly sparse-to-dense's
  1x1 bottleneck conv + 4 UpProj + 3x3 head conv + bilinear (lines 364-366 restate the same
  list for the coarse map; they add nothing). The only difference is the bilinear target:
  the 128x160 map ("160x128", line 614) -> 256x256, the stage-2 input (lines 368-372,
  616-618). Widths, kernel sizes and the UpProj form are not in the text: sparse-to-dense's
  (the text's [7], line 329).
- ``'demo'``: the same graph at 1/8 width and one bottleneck per stage, for CPU runs (not a
  paper setting).

Stage 2 (the text's "improved cGAN", lines 402-513, built on pix2pix, Isola et al. 2017, its
[8]): ``UResNetGenerator``, a U-Net whose layers 3 .. n-3 are 9 residual blocks, with skips
between layer i and n-i for i = 1, 2, and ``ConditionalPatchGAN``, a 70x70 PatchGAN on
[coarse, candidate] channels; both of conv-BatchNorm-LeakyReLU modules (lines 413-415,
511-513). ``Pix2PixRefiner`` trains both with L = L_cGAN(G, D) + lambda * L1(G) (eq. 2,
lines 431-439; the text's "log ||y - G(x, z)||_1" is read as pix2pix's plain L1 term, and
lambda is not given (line 443): 100, as pix2pix). Batch 1, Adam 2e-4, betas (0.5, 0.999),
200 epochs (lines 626-634).

Units: stage 1 reads normalised RGB (ImageNet mean/std, as the Torch loader) and sparse depth
in metres and outputs metres. Stage 2 works on depth mapped to [-1, 1] by
``metres_to_tanh_range`` (d / max_depth * 2 - 1).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from depthlab import losses
from depthlab.layers import (KERNEL_INITS, LEAKY_SLOPE, Pix2PixBatchNorm,
                             ReflectionPad2D, UnpoolUpProjection, conv_norm_act)
from depthlab.nets.resnet_gan import PatchDiscriminator
from depthlab.nets.resnet_encoder import ResNetEncoder, resnet_encoder, torch_bn, torch_conv

_PACKAGE = "depthlab"

# names of the presets and losses: TF-free, for the trainer's flags
from depthlab.runners.two_stage_options import (  # noqa: E402,F401
    STAGE1_LOSSES, STAGE1_PRESETS, STAGE2_PRESETS)
#: ImageNet mean / std of the fb.resnet.torch loader (sparse-to-dense Torch normalisation).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------------------
# Configs and presets
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Stage1Config:
    """Stage-1 network (sparse-to-dense ResNet-50 + UpProj, as its Torch code)."""

    preset: str = "sparse_to_dense"
    input_channels: int = 4
    input_hw: Tuple[int, int] = (228, 304)
    output_hw: Optional[Tuple[int, int]] = None      # None: the input size
    base_filters: int = 64                          # ResNet-50: 64; decoder starts at 16x
    blocks: Tuple[int, ...] = (3, 4, 6, 3)
    # extra 3x3 conv-BN-ReLU layers after the 4th UpProj: 0 in every preset. The former
    # 'paper' preset had 2, a misreading of lines 360-366 (BUILD_NOTES.md, section 6)
    extra_convs: int = 0

    def __post_init__(self):
        if self.preset not in STAGE1_PRESETS:
            raise ValueError(f"stage-1 preset={self.preset!r} is not one of {STAGE1_PRESETS}")
        if self.input_channels not in (1, 3, 4):
            raise ValueError(f"input_channels must be 1 (d), 3 (rgb) or 4 (rgbd), got "
                             f"{self.input_channels}")
        if len(self.blocks) != 4 or min(self.blocks) < 1:
            raise ValueError(f"blocks must be 4 stage depths >= 1, got {self.blocks}")
        for n in self.input_hw:
            if int(n) < 32:
                raise ValueError(f"input_hw {self.input_hw}: each side must be >= 32 "
                                 "(the encoder downsamples by 32)")

    @property
    def out_hw(self) -> Tuple[int, int]:
        return tuple(self.output_hw or self.input_hw)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "Stage1Config":
        d = dict(d)
        for k in ("input_hw", "output_hw", "blocks"):
            if d.get(k) is not None:
                d[k] = tuple(int(v) for v in d[k])
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class Stage2Config:
    """Stage-2 pix2pix refiner (U-ResNet generator + 70x70 PatchGAN; eq. 2)."""

    preset: str = "paper"
    gen_filters: int = 64
    n_res_blocks: int = 9
    disc_filters: Tuple[int, ...] = (64, 128, 256, 512)
    disc_strides: Tuple[int, ...] = (2, 2, 2, 1)
    dropout: float = 0.5
    lambda_l1: float = 100.0
    max_depth: float = 10.0                         # metres -> [-1, 1] scale
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999

    def __post_init__(self):
        if self.preset not in STAGE2_PRESETS:
            raise ValueError(f"stage-2 preset={self.preset!r} is not one of {STAGE2_PRESETS}")
        if self.max_depth <= 0:
            raise ValueError(f"max_depth must be > 0, got {self.max_depth}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "Stage2Config":
        d = dict(d)
        for k in ("disc_filters", "disc_strides"):
            d[k] = tuple(int(v) for v in d[k])
        return cls(**d)


def stage1_config(preset: str = "sparse_to_dense", input_channels: int = 4, **overrides) -> Stage1Config:
    """Named stage-1 presets (module docstring); ``overrides`` replace single fields."""
    base = {
        "sparse_to_dense": dict(),
        "paper": dict(output_hw=(256, 256)),         # lines 368-372, 614-618
        "demo": dict(base_filters=8, blocks=(1, 1, 1, 1)),
    }
    if preset not in base:
        raise ValueError(f"stage-1 preset={preset!r} is not one of {STAGE1_PRESETS}")
    fields = dict(base[preset], preset=preset, input_channels=input_channels)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Stage1Config(**fields)


def stage2_config(preset: str = "paper", **overrides) -> Stage2Config:
    """'paper': pix2pix widths (G 64, D 64-512); 'demo': G 16, D 16-128 for CPUs."""
    base = {"paper": dict(), "demo": dict(gen_filters=16, disc_filters=(16, 32, 64, 128))}
    if preset not in base:
        raise ValueError(f"stage-2 preset={preset!r} is not one of {STAGE2_PRESETS}")
    fields = dict(base[preset], preset=preset)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Stage2Config(**fields)


# ----------------------------------------------------------------------------------------
# Stage 1
# ----------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package=_PACKAGE)
class AlignCornersResize(layers.Layer):
    """Bilinear resize with ``align_corners=True`` (Torch ``SpatialUpSamplingBilinear``)."""

    def __init__(self, size: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)

    def call(self, x):
        return tf.compat.v1.image.resize(x, self.size, method="bilinear", align_corners=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"size": list(self.size)})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Stage1Net(keras.Model):
    """Sparse-to-dense ResNet-50 + UpProj (its Torch code); input (B, H, W, C), output
    (B, out_h, out_w, 1) depth in metres (float32)."""

    def __init__(self, config: Stage1Config | dict, name: str = "stage1", **kwargs):
        cfg = config if isinstance(config, Stage1Config) else Stage1Config.from_dict(config)
        h, w = cfg.input_hw
        inputs = keras.Input((h, w, cfg.input_channels), name="rgbd")
        x = resnet_encoder(inputs, cfg.base_filters, cfg.blocks)
        width = cfg.base_filters * 16                               # 2048 -> 1024
        x = torch_bn(torch_conv(x, width, 1, name="bottleneck_conv"), "bottleneck_bn")   # no ReLU
        for i in range(4):
            width //= 2
            x = UnpoolUpProjection(width, name=f"upproj{i + 1}")(x)
        for i in range(cfg.extra_convs):
            x = layers.ReLU(name=f"extra{i + 1}_relu")(
                torch_bn(torch_conv(x, width, 3, name=f"extra{i + 1}_conv"), f"extra{i + 1}_bn"))
        x = torch_conv(x, 1, 3, name="head_conv")
        x = layers.Activation("linear", dtype="float32", name="head_float32")(x)
        outputs = AlignCornersResize(cfg.out_hw, dtype="float32", name="upsample")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.config = cfg

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_stage1(preset: str = "sparse_to_dense", input_channels: int = 4, **overrides) -> Stage1Net:
    """Stage-1 network of a preset ('sparse_to_dense' | 'paper' | 'demo'); see module docstring."""
    return Stage1Net(stage1_config(preset, input_channels, **overrides))


def load_backbone_weights(net: Stage1Net, path: Optional[str], log=print) -> bool:
    """Initialises the encoder from ``path``, a ``.weights.h5`` of a 3-channel ``ResNetEncoder``
    (same ``base_filters``/``blocks``). conv1 is copied only for RGB input: for other inputs it
    stays randomly initialised, as sparse-to-dense (its issue #4, the maintainer). ``path=None``: train
    from scratch (said in the log). Returns True when weights were loaded.
    """
    import os

    if not path:
        log("[two_stage] no --backbone_weights: the encoder is trained from scratch "
            "(sparse-to-dense used ImageNet weights; expect a lower delta1)")
        return False
    if not os.path.exists(path):
        raise FileNotFoundError(f"--backbone_weights={path} does not exist (expected the "
                                ".weights.h5 of a 3-channel depthlab ResNetEncoder; see README)")
    cfg = net.config
    ref = ResNetEncoder(3, cfg.base_filters, cfg.blocks)
    try:
        ref.load_weights(path)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"--backbone_weights={path}: not the weights of a ResNetEncoder("
                         f"base_filters={cfg.base_filters}, blocks={cfg.blocks}): {e}") from e
    copied = 0
    for layer in ref.layers:
        if not layer.weights or not layer.name.startswith("enc_"):
            continue
        if layer.name == "enc_conv1" and cfg.input_channels != 3:
            continue
        net.get_layer(layer.name).set_weights(layer.get_weights())
        copied += 1
    log(f"[two_stage] encoder initialised from {path} ({copied} layers"
        + ("" if cfg.input_channels == 3 else "; conv1 random, input is not RGB") + ")")
    return True


def stage1_input(rgb_uint8, sparse_depth, input_channels: int):
    """Network input from uint8 RGB (B, H, W, 3) and sparse depth in metres (B, H, W, 1).

    RGB -> [0, 1] -> ImageNet mean/std; the sparse channel stays in metres (0 = no sample),
    as the Torch loader. C = 3: RGB only, C = 1: sparse depth only, C = 4: both.
    """
    sparse = tf.cast(sparse_depth, tf.float32)
    if input_channels == 1:
        return sparse
    rgb = tf.cast(rgb_uint8, tf.float32) / 255.0
    rgb = (rgb - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)
    return rgb if input_channels == 3 else tf.concat([rgb, sparse], axis=-1)


def stage1_loss(name: str):
    """'berhu' | 'l1' | 'l2', each masked to valid pixels (``depthlab.losses``)."""
    table = {"berhu": losses.berhu_loss, "l1": losses.l1_loss, "l2": losses.l2_loss}
    if name not in table:
        raise ValueError(f"--loss={name!r} is not one of {STAGE1_LOSSES}")
    return table[name]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Stage1Trainer(keras.Model):
    """Stage-1 training: masked berHu / L1 / L2 on the valid ground-truth pixels.

    Data: ``(x, depth, valid)`` with x from :func:`stage1_input`, depth (B, H, W, 1) metres at
    the network's output size, valid a bool mask. ``compile(optimizer)`` takes the SGD of
    sparse-to-dense (see ``depthlab.runners.two_stage.stage1_optimizer``).
    """

    def __init__(self, net: Stage1Net, loss: str = "berhu", clip_norm: Optional[float] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss_name = net, loss
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.loss_fn = stage1_loss(loss)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.rmse_tracker = keras.metrics.Mean(name="rmse")

    def compile(self, optimizer=None, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        if optimizer is not None:
            self.optimizer.build(self.net.trainable_variables)

    @property
    def metrics(self):
        return [self.loss_tracker, self.rmse_tracker]

    def call(self, x, training=False):
        return self.net(x, training=training)

    def _batch_rmse(self, pred, depth, valid):
        sq = tf.where(valid, tf.square(pred - depth), 0.0)
        n = tf.reduce_sum(tf.cast(valid, tf.float32), axis=[1, 2, 3])
        per_image = tf.sqrt(tf.math.divide_no_nan(tf.reduce_sum(sq, axis=[1, 2, 3]), n))
        return tf.reduce_mean(per_image)

    def train_step(self, data):
        x, depth, valid = data
        depth, valid = tf.cast(depth, tf.float32), tf.cast(valid, tf.bool)
        with tf.GradientTape() as tape:
            pred = tf.cast(self.net(x, training=True), tf.float32)
            loss = self.loss_fn(pred, depth, valid)
            total = loss + tf.add_n([tf.cast(l, tf.float32) for l in self.net.losses] or [0.0])
            scaled = self.optimizer.scale_loss(losses.replica_share(total))
        variables = self.net.trainable_variables
        grads = tape.gradient(scaled, variables)
        if self.clip_norm:
            grads = self._clip(grads)
        self.optimizer.apply_gradients(zip(grads, variables))
        self.loss_tracker.update_state(loss)
        self.rmse_tracker.update_state(self._batch_rmse(pred, depth, valid))
        return {m.name: m.result() for m in self.metrics}

    def _clip(self, grads):
        """Scales the gradients so that the global norm of the WHOLE step's gradient (the sum
        over replicas, loss scale removed) is at most ``clip_norm`` (issue 21). Keras'
        ``global_clipnorm`` would clip each replica's share before the all-reduce, which is
        not the one-device step under a distribution strategy."""
        ctx = tf.distribute.get_replica_context()
        total = grads
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        unit = tf.cast(self.optimizer.scale_loss(tf.constant(1.0)), tf.float32)   # loss scale
        norm = tf.linalg.global_norm(total) / unit
        factor = tf.minimum(1.0, self.clip_norm / tf.maximum(norm, 1e-12))
        return [None if g is None else g * tf.cast(factor, g.dtype) for g in grads]

    def test_step(self, data):
        x, depth, valid = data
        depth, valid = tf.cast(depth, tf.float32), tf.cast(valid, tf.bool)
        pred = tf.cast(self.net(x, training=False), tf.float32)
        self.loss_tracker.update_state(self.loss_fn(pred, depth, valid))
        self.rmse_tracker.update_state(self._batch_rmse(pred, depth, valid))
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {"net": keras.saving.serialize_keras_object(self.net), "loss": self.loss_name,
                "clip_norm": self.clip_norm, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["net"] = keras.saving.deserialize_keras_object(config["net"])
        return cls(**config)


# ----------------------------------------------------------------------------------------
# Stage 2: pix2pix U-ResNet generator + conditional PatchGAN
# ----------------------------------------------------------------------------------------

def metres_to_tanh_range(depth_m, max_depth: float):
    """Metres -> [-1, 1] (d / max_depth * 2 - 1, clipped), the pix2pix image range."""
    d = tf.cast(depth_m, tf.float32)
    return tf.clip_by_value(d / max_depth * 2.0 - 1.0, -1.0, 1.0)


def tanh_range_to_metres(unit, max_depth: float):
    """[-1, 1] -> metres (inverse of :func:`metres_to_tanh_range`)."""
    return (tf.cast(unit, tf.float32) + 1.0) * 0.5 * max_depth


# LeakyReLU slope: the text makes every ReLU leaky (lines 511-513) without a slope;
# ``depthlab.layers.LEAKY_SLOPE`` = 0.2 is pix2pix's (the text's [8]).

#: N(0, 0.02) conv kernels, pix2pix's init (the text's [8])
_NORMAL_INIT = KERNEL_INITS["normal"]


def _ck(x, filters, kernel, stride, norm=True, dropout=0.0, transpose=False, name=None):
    """The text's Ck / CDk (lines 413-421): conv -> BatchNorm -> [Dropout 0.5] -> ReLU, every
    ReLU leaky (lines 511-513). No bias before BN; N(0, 0.02) kernels (pix2pix)."""
    return conv_norm_act(x, filters, kernel, strides=stride, norm=norm and "batch",
                         dropout=dropout, transpose=transpose, activation="lrelu",
                         kernel_initializer=_NORMAL_INIT, name=name)


def _res_block(x, filters, name):
    """One of the text's "nine resblock layers" (lines 486-491) in its Ck form (lines 413-415,
    511-513): pad 1 -> 3x3 conv -> BN -> LeakyReLU -> pad 1 -> 3x3 conv -> BN, + x. The
    padding type is not in the text ("we add padding", lines 493-496): reflection, as the
    CycleGAN residual block."""
    h = x
    for j in (1, 2):
        h = ReflectionPad2D(1, name=f"{name}_pad{j}")(h)
        h = layers.Conv2D(filters, 3, padding="valid", use_bias=False,
                          kernel_initializer=_NORMAL_INIT(), name=f"{name}_conv{j}")(h)
        h = Pix2PixBatchNorm(name=f"{name}_bn{j}")(h)
        if j == 1:
            h = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_lrelu")(h)
    return layers.Add(name=f"{name}_add")([x, h])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class UResNetGenerator(keras.Model):
    """U-Net with its layers 3 .. n-3 replaced by residual blocks (two-stage text, stage 2).

    Text: Ck / CDk = conv-BN-(dropout 0.5)-ReLU (lines 413-421), every ReLU leaky (511-513),
    skips between layer i and n-i for i = 1, 2 (483-485), layers 3 .. n-3 = nine residual
    blocks (486-488), padding keeps the resolution (493-496). The widths, kernels and where
    the dropout sits are not in the text (pix2pix's, the text's [8]):
    1: C64 (4x4 s2, no BN, as pix2pix's first layer) -> H/2;  2: C128 (4x4 s2) -> H/4;
    3 .. n-3: ``n_res_blocks`` residual blocks of 128 (:func:`_res_block`) at H/4;
    n-2: CD128 (3x3 s1), concatenated with layer 2 (skip 2 <-> n-2);
    n-1: CD64 (4x4 s2 transposed) -> H/2, concatenated with layer 1 (skip 1 <-> n-1);
    n: 4x4 s2 transposed conv to 1 channel + tanh -> H (float32).
    H and W must be multiples of 4. Widths scale with ``filters``.
    """

    def __init__(self, filters: int = 64, n_res_blocks: int = 9, input_channels: int = 1,
                 output_channels: int = 1, dropout: float = 0.5, name: str = "u_resnet", **kwargs):
        inputs = keras.Input((None, None, input_channels), name="coarse")
        e1 = _ck(inputs, filters, 4, 2, norm=False, name="enc1")
        e2 = _ck(e1, 2 * filters, 4, 2, name="enc2")
        x = e2
        for i in range(n_res_blocks):
            x = _res_block(x, 2 * filters, name=f"res{i + 1}")
        x = _ck(x, 2 * filters, 3, 1, dropout=dropout, name="dec_n2")
        x = layers.Concatenate(name="skip2")([x, e2])
        x = _ck(x, filters, 4, 2, dropout=dropout, transpose=True, name="dec_n1")
        x = layers.Concatenate(name="skip1")([x, e1])
        x = layers.Conv2DTranspose(output_channels, 4, strides=2, padding="same",
                                   kernel_initializer=_NORMAL_INIT(), name="dec_n_conv",
                                   dtype="float32")(x)
        outputs = layers.Activation("tanh", dtype="float32", name="dec_n_tanh")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._config = dict(filters=filters, n_res_blocks=n_res_blocks,
                            input_channels=input_channels, output_channels=output_channels,
                            dropout=dropout)

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConditionalPatchGAN(PatchDiscriminator):
    """The text's discriminator: a 70x70 PatchGAN (lines 497-509) of Ck modules, conv-BN-
    LeakyReLU (lines 413-415, 511-513), on [coarse x, candidate y] channels (D(x, y), eq. 2).
    Layers as pix2pix's 70x70 D (the text's [8], [21]): k4 ``filters`` with ``strides``, no BN
    on the first, then a k4 s1 conv to one logit map; N(0, 0.02) kernels. 64-128-256 s2 + 512
    s1 + 1 s1 gives a 70x70 receptive field (tested).

    The shared ``depthlab.nets.resnet_gan.PatchDiscriminator`` with ``norm='batch'``
    (``Pix2PixBatchNorm``), ``kernel_init='normal'``, any H x W, input ``pair`` and layers
    ``d1_conv``, ``d1_lrelu``, ``d2_conv``, ``d2_bn``, ..., ``d_logits``: the names, the
    variable order and the constructor / ``get_config`` keys of the class as it was written
    before, so its saved ``.keras`` files and checkpoints load (tested)."""

    def __init__(self, input_channels: int = 2, filters=(64, 128, 256, 512),
                 strides=(2, 2, 2, 1), name: str = "patch_gan", **kwargs):
        super().__init__(image_size=None, input_channels=input_channels, filters=filters,
                         strides=strides, first_norm=False, final_stride=1, final_norm=False,
                         norm="batch", kernel_init="normal", input_name="pair",
                         layer_prefix="d", name=name, **kwargs)
        self._config = dict(input_channels=input_channels,
                            filters=[int(f) for f in filters], strides=[int(s) for s in strides])


def build_stage2(config: Stage2Config | str = "paper"):
    """(generator, discriminator) of a stage-2 config; D sees [coarse, candidate] (2 channels)."""
    cfg = config if isinstance(config, Stage2Config) else stage2_config(config)
    gen = UResNetGenerator(cfg.gen_filters, cfg.n_res_blocks, dropout=cfg.dropout)
    disc = ConditionalPatchGAN(2, filters=cfg.disc_filters, strides=cfg.disc_strides)
    return gen, disc


def _bce_logits(logits, label: float):
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), label), logits=logits))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Pix2PixRefiner(keras.Model):
    """Stage-2 trainer: pix2pix on (coarse depth) -> (refined depth), eq. 2.

    Data ``(x, depth, valid)`` as for stage 1: the frozen ``stage1`` net makes the coarse map
    c (inference mode) inside the step, so the pipeline is trained end to end on the same
    stream. With y = metres_to_tanh_range(gt) (invalid pixels filled with c, so D cannot spot
    holes) and G(c):
      D: 0.5 [BCE(D(c, y), 1) + BCE(D(c, G(c)), 0)]      (pix2pix halves D's objective)
      G: BCE(D(c, G(c)), 1) + lambda * masked L1(G(c), y)  (non-saturating cGAN + L1)
    ``compile(g_optimizer, d_optimizer)``: Adam 2e-4, betas (0.5, 0.999) in the paper.
    """

    def __init__(self, generator: UResNetGenerator, discriminator: ConditionalPatchGAN,
                 stage1: Optional[Stage1Net] = None, lambda_l1: float = 100.0,
                 max_depth: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.stage1 = generator, discriminator, stage1
        if stage1 is not None:
            stage1.trainable = False
        self.lambda_l1, self.max_depth = float(lambda_l1), float(max_depth)
        self.trackers = {k: keras.metrics.Mean(name=k)
                         for k in ("g_loss", "g_gan", "g_l1", "d_loss", "rmse")}

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Takes the G and D optimizers; under ``mixed_float16`` each is loss-scaled."""
        super().compile(**kwargs)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            wrap = lambda o: (o if o is None or isinstance(o, keras.optimizers.LossScaleOptimizer)  # noqa: E731
                              else keras.optimizers.LossScaleOptimizer(o))
            g_optimizer, d_optimizer = wrap(g_optimizer), wrap(d_optimizer)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        if g_optimizer is not None:
            g_optimizer.build(self.generator.trainable_variables)
        if d_optimizer is not None:
            d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def coarse(self, x):
        """Stage-1 depth (metres) of a stage-1 input; ``x`` itself without a stage 1."""
        if self.stage1 is None:
            return tf.cast(x, tf.float32)
        return tf.cast(self.stage1(x, training=False), tf.float32)

    def refine(self, coarse_m, training=False):
        """Coarse depth (metres) -> refined depth (metres)."""
        unit = self.generator(metres_to_tanh_range(coarse_m, self.max_depth), training=training)
        return tanh_range_to_metres(unit, self.max_depth)

    def call(self, x, training=False):
        return self.refine(self.coarse(x), training=training)

    def train_step(self, data):
        x, depth, valid = data
        valid = tf.cast(valid, tf.bool)
        c = metres_to_tanh_range(self.coarse(x), self.max_depth)
        y = tf.where(valid, metres_to_tanh_range(depth, self.max_depth), c)
        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(c, training=True)
            d_real = self.discriminator(tf.concat([c, y], -1), training=True)
            d_fake = self.discriminator(tf.concat([c, fake], -1), training=True)
            d_loss = 0.5 * (_bce_logits(d_real, 1.0) + _bce_logits(d_fake, 0.0))
            g_gan = _bce_logits(d_fake, 1.0)
            g_l1 = losses.l1_loss(fake, y, valid)
            g_loss = g_gan + self.lambda_l1 * g_l1
            g_scaled = self.g_optimizer.scale_loss(losses.replica_share(g_loss))
            d_scaled = self.d_optimizer.scale_loss(losses.replica_share(d_loss))
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        g_grads = tape.gradient(g_scaled, g_vars)
        d_grads = tape.gradient(d_scaled, d_vars)
        del tape
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        refined = tanh_range_to_metres(fake, self.max_depth)
        err = tf.where(valid, tf.square(refined - tf.cast(depth, tf.float32)), 0.0)
        n = tf.reduce_sum(tf.cast(valid, tf.float32), axis=[1, 2, 3])
        rmse = tf.reduce_mean(tf.sqrt(tf.math.divide_no_nan(tf.reduce_sum(err, [1, 2, 3]), n)))
        for k, v in dict(g_loss=g_loss, g_gan=g_gan, g_l1=g_l1, d_loss=d_loss, rmse=rmse).items():
            self.trackers[k].update_state(v)
        return {k: t.result() for k, t in self.trackers.items()}

    def get_config(self):
        return {"generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "stage1": (None if self.stage1 is None
                           else keras.saving.serialize_keras_object(self.stage1)),
                "lambda_l1": self.lambda_l1, "max_depth": self.max_depth, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for k in ("generator", "discriminator", "stage1"):
            if config.get(k) is not None:
                config[k] = keras.saving.deserialize_keras_object(config[k])
        return cls(**config)


# ----------------------------------------------------------------------------------------
# The full pipeline (used by evaluation and the SavedModel export)
# ----------------------------------------------------------------------------------------

def resample_sparse(sparse_m, size):
    """Moves each sample of a sparse depth map (B, H, W, 1) to its nearest pixel at ``size``.

    Bilinear or nearest resizing would blur or drop samples; here every non-zero value lands
    on pixel (floor(y * h / H), floor(x * w / W)); when two land on one pixel the larger
    index wins (``tensor_scatter_nd_update`` order). Zeros stay "no sample".
    """
    sparse_m = tf.cast(sparse_m, tf.float32)
    shape = tf.shape(sparse_m)
    h, w = int(size[0]), int(size[1])
    idx = tf.where(sparse_m > 0)                                    # (K, 4): b, y, x, c
    vals = tf.gather_nd(sparse_m, idx)
    y = (idx[:, 1] * h) // tf.cast(shape[1], tf.int64)
    x = (idx[:, 2] * w) // tf.cast(shape[2], tf.int64)
    new = tf.stack([idx[:, 0], y, x, idx[:, 3]], axis=1)
    out = tf.zeros(tf.stack([shape[0], h, w, shape[3]]), tf.float32)
    return tf.tensor_scatter_nd_update(out, new, vals)


def predict_depth(stage1: Stage1Net, rgb_uint8, sparse_m, generator: Optional[UResNetGenerator] = None,
                  max_depth: float = 10.0, return_coarse: bool = False):
    """RGB uint8 (B, H, W, 3) + sparse depth metres (B, H, W, 1) -> dense depth metres (B, H, W, 1).

    RGB is resized bilinearly (antialiased) to the stage-1 input size and the samples are
    moved with :func:`resample_sparse`; stage 1 (and stage 2 when ``generator`` is given,
    at the stage-1 output size) runs in inference mode; the result is resized bilinearly back
    to H x W (``return_coarse``: also the stage-1 map, resized the same way). Mismatched RGB /
    sparse shapes raise ``ValueError`` (static shapes) or ``InvalidArgumentError`` (in a graph).
    """
    rgb_uint8 = tf.convert_to_tensor(rgb_uint8)
    sparse_m = tf.cast(sparse_m, tf.float32)
    if sparse_m.shape.rank == 3:
        sparse_m = sparse_m[..., None]
    if rgb_uint8.shape.rank is not None and rgb_uint8.shape.rank != 4:
        raise ValueError(f"rgb must be (B, H, W, 3), got shape {rgb_uint8.shape}")
    if rgb_uint8.shape[1:3].is_fully_defined() and sparse_m.shape[1:3].is_fully_defined():
        if rgb_uint8.shape[1:3] != sparse_m.shape[1:3] or rgb_uint8.shape[0] != sparse_m.shape[0]:
            raise ValueError(f"sparse depth of shape {sparse_m.shape} does not match the RGB "
                             f"shape {rgb_uint8.shape} (need the same batch, height, width)")
    checks = [tf.debugging.assert_equal(
        tf.shape(rgb_uint8)[:3], tf.shape(sparse_m)[:3],
        message="sparse depth (B, H, W, 1) must match the RGB (B, H, W, 3) in batch, height, width")]
    with tf.control_dependencies(checks):
        hw = tf.shape(rgb_uint8)[1:3]
    cfg = stage1.config
    rgb_in = tf.image.resize(tf.cast(rgb_uint8, tf.float32), cfg.input_hw, antialias=True)
    x = stage1_input(tf.clip_by_value(rgb_in, 0.0, 255.0), resample_sparse(sparse_m, cfg.input_hw),
                     cfg.input_channels)
    coarse = tf.cast(stage1(x, training=False), tf.float32)
    depth = coarse
    if generator is not None:
        refined = generator(metres_to_tanh_range(coarse, max_depth), training=False)
        depth = tanh_range_to_metres(refined, max_depth)
    depth = tf.image.resize(depth, hw, method="bilinear")
    if return_coarse:
        return depth, tf.image.resize(coarse, hw, method="bilinear")
    return depth


def count_trainable(model: keras.Model) -> int:
    """Number of trainable scalars (moving BN statistics excluded)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
