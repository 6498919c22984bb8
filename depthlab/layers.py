"""Shared building blocks. Each block exists once; every model imports it from here.

- ``ReflectionPad2D``: reflection padding (``tf.pad`` cannot take KerasTensors).
- ``InstanceNorm``: instance normalisation with a learnable affine, numerically equal to
  ``tfa.layers.InstanceNormalization()`` (epsilon 1e-3), the norm of the TS-GAN code.
- ``Pix2PixBatchNorm``: batch norm as pix2pix uses it (batch statistics in training, each
  image's own statistics at inference), the norm of the two-stage refiner's Ck modules.
- ``conv_norm_act``: conv -> optional norm (instance or pix2pix batch) -> optional dropout ->
  activation, the module of every PatchGAN and pix2pix / CycleGAN stack in the project.
- ``ResnetBlock``: the CycleGAN/TS-GAN residual block (pad-conv-IN-ReLU-pad-conv-IN, + x,
  no ReLU after the add) used by every ResNet generator in the project.
- ``ImagePool``: the CycleGAN history buffer of generated images (Shrivastava et al. 2017),
  as a tf-native ring buffer so it lives inside the compiled train step.
- ``SpatialAttention``: CBAM's spatial attention (Woo et al. 2018, eq. 3): a sigmoid map from a
  conv over the channel-wise mean and max, multiplied into the features.
- ``GlobalBatchDropout``: dropout whose mask is drawn for the global batch of a
  tf.distribute step (independent masks per replica, equal to the one-device run).
"""

from __future__ import annotations

import random

import keras
import tensorflow as tf
from keras import layers

_PACKAGE = "depthlab"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReflectionPad2D(layers.Layer):
    """Pads H and W by ``padding`` pixels with reflection (``tf.pad(mode='REFLECT')``)."""

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(padding) < 0:
            raise ValueError(f"ReflectionPad2D: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n + 2 * self.padding  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InstanceNorm(layers.GroupNormalization):
    """Instance normalisation: per-sample, per-channel statistics, learnable gamma/beta.

    ``GroupNormalization(groups=-1)`` gives one group per channel; epsilon 1e-3 matches
    ``tfa.layers.InstanceNormalization`` used by the TS-GAN code (the authors' ``module.py``).
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        kwargs.pop("groups", None)
        super().__init__(groups=-1, epsilon=epsilon, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Pix2PixBatchNorm(layers.BatchNormalization):
    """Batch norm as pix2pix uses it (Isola et al. 2017, the two-stage text's [8]; that text
    says nothing about inference): training normalises with the batch's statistics (plain BN);
    at inference each image is normalised with its own statistics, which is pix2pix's
    "statistics of the test batch" at its test batch size 1, made independent of the other
    images of a batch. The moving averages are kept (and checkpointed) but not used. With the
    two-stage text's training batch of 1 (two-stage-rgb-sparse-depth.txt line 628) training and
    inference normalise alike. (Moved from ``depthlab.models.two_stage``, which re-exports it;
    the registered name ``depthlab>Pix2PixBatchNorm`` is unchanged.)"""

    def call(self, inputs, training=None, mask=None):
        if training:
            return super().call(inputs, training=True, mask=mask)
        x = tf.cast(inputs, tf.float32)
        mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        y = (x - mean) * tf.math.rsqrt(var + self.epsilon)
        if self.scale:
            y = y * tf.cast(self.gamma, tf.float32)
        if self.center:
            y = y + tf.cast(self.beta, tf.float32)
        return tf.cast(y, inputs.dtype)


#: conv_norm_act's norms: name -> (layer class, suffix of the layer name)
NORMS = {"instance": (InstanceNorm, "in"), "batch": (Pix2PixBatchNorm, "bn")}

#: conv kernel initializers by name -> a fresh initializer per conv (an unseeded Keras
#: initializer fixes its seed when it is made, so each conv needs its own instance)
KERNEL_INITS = {
    "glorot_uniform": lambda: "glorot_uniform",                          # Keras' default
    "normal": lambda: keras.initializers.RandomNormal(0.0, 0.02),        # pix2pix / DCGAN
}

#: slope of conv_norm_act's ``'lrelu'`` (pix2pix's and the CycleGAN/TS-GAN code's)
LEAKY_SLOPE = 0.2


def conv_norm_act(x, filters, kernel_size, strides=1, padding="same", norm=True,
                  activation="relu", use_bias=None, transpose=False, dropout=0.0,
                  kernel_initializer="glorot_uniform", name=None):
    """Conv (or ConvTranspose) -> optional norm -> optional dropout -> activation, functional.

    ``norm``: False (none), True or ``'instance'`` (``InstanceNorm``) or ``'batch'``
    (``Pix2PixBatchNorm``). ``use_bias`` defaults to ``not norm`` (a bias before a norm is
    redundant), as in the TS-GAN and pix2pix code. ``dropout`` > 0 adds a
    ``GlobalBatchDropout`` after the norm (pix2pix's CDk). ``activation`` is a Keras activation
    name or ``'lrelu'`` (slope ``LEAKY_SLOPE``). ``kernel_initializer`` is a Keras identifier or
    a zero-argument callable returning a fresh initializer (one per conv, so unseeded ones draw
    their own values). With ``name`` the layers are ``{name}_conv``, ``{name}_in`` /
    ``{name}_bn``, ``{name}_dropout``, ``{name}_lrelu`` / ``{name}_{activation}``; without it
    Keras numbers them.
    """
    if norm is True:
        norm = "instance"
    if norm and norm not in NORMS:
        raise ValueError(f"conv_norm_act: norm must be one of {sorted(NORMS)} or False, "
                         f"got {norm!r}")
    named = lambda suffix: None if name is None else f"{name}_{suffix}"  # noqa: E731
    use_bias = (not norm) if use_bias is None else use_bias
    if callable(kernel_initializer) and not isinstance(kernel_initializer,
                                                       keras.initializers.Initializer):
        kernel_initializer = kernel_initializer()
    conv_cls = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv_cls(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                 kernel_initializer=kernel_initializer, name=named("conv"))(x)
    if norm:
        norm_cls, suffix = NORMS[norm]
        x = norm_cls(name=named(suffix))(x)
    if dropout:
        x = GlobalBatchDropout(dropout, name=named("dropout"))(x)
    if activation == "lrelu":
        x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=named("lrelu"))(x)
    elif activation:
        x = layers.Activation(activation, name=named(activation))(x)
    return x


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResnetBlock(layers.Layer):
    """Residual block of the CycleGAN ResNet generator (TS-GAN code, reference table 1.4 row 4).

    pad1 -> conv3x3 (no bias) -> IN -> ReLU -> pad1 -> conv3x3 (no bias) -> IN; out = x + h.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.pad1 = ReflectionPad2D(1)
        self.conv1 = layers.Conv2D(self.filters, 3, padding="valid", use_bias=False)
        self.norm1 = InstanceNorm()
        self.pad2 = ReflectionPad2D(1)
        self.conv2 = layers.Conv2D(self.filters, 3, padding="valid", use_bias=False)
        self.norm2 = InstanceNorm()

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(f"ResnetBlock({self.filters}) got an input with "
                             f"{input_shape[-1]} channels; they must match for the skip add")
        shape = tuple(input_shape)
        self._spatial = (shape[1], shape[2])
        self.conv1.build(self.pad1.compute_output_shape(shape))
        self.norm1.build(shape)
        self.conv2.build(self.pad2.compute_output_shape(shape))
        self.norm2.build(shape)
        self.built = True

    def call(self, x, training=None):
        h = self.conv1(self.pad1(x))
        h = tf.nn.relu(self.norm1(h, training=training))
        h = self.norm2(self.conv2(self.pad2(h)), training=training)
        return x + h

    def compute_output_shape(self, input_shape):
        return input_shape

    def flops_per_example(self) -> int:
        """Two 3x3 convs at the input resolution (see ``depthlab.flops``)."""
        h, w = self._spatial
        return 2 * (2 * int(h) * int(w) * 9 * self.filters * self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImagePool(layers.Layer):
    """History buffer of generated images (CycleGAN / TS-GAN ``ItemPool(50)``), tf-native.

    For each image of a batch: while the pool is not full, store it and return it. Once
    full, with probability 0.5 return a random stored image and put the new one in its
    place; otherwise return the new image. State (buffer, fill count, RNG step) lives in
    non-trainable variables, so it is checkpointed and resumes exactly. A batch is handled
    in one vectorised update; if two images of one batch draw the same slot, both get the
    slot's old content and the later one is stored (a batch-1 run, the papers', is exact).

    Under a Mirrored/MultiWorkerMirrored strategy the state variables are mirrored with
    ``aggregation="only_first_replica"``: every replica reads the same pool and the pool
    stores replica 0's images (each replica still mixes its own new images with it).
    """

    def __init__(self, pool_size: int = 50, image_shape=None, seed: int = 0, **kwargs):
        kwargs["trainable"] = False
        kwargs["dtype"] = "float32"   # a state buffer: never autocast under mixed precision
        super().__init__(**kwargs)
        if int(pool_size) < 0:
            raise ValueError(f"ImagePool: pool_size must be >= 0, got {pool_size}")
        self.pool_size = int(pool_size)
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        self.seed = int(seed)

    def build(self, input_shape):
        shape = self.image_shape or tuple(input_shape[1:])
        if any(d is None for d in shape):
            raise ValueError(f"ImagePool needs a fully defined image shape, got {shape}")
        self.image_shape = tuple(int(d) for d in shape)
        self.buffer = self.add_weight(name="buffer", shape=(max(self.pool_size, 1),) + self.image_shape,
                                      initializer="zeros", trainable=False, dtype="float32",
                                      aggregation="only_first_replica")
        self.count = self.add_weight(name="count", shape=(), initializer="zeros",
                                     trainable=False, dtype="int32",
                                     aggregation="only_first_replica")
        self.rng_step = self.add_weight(name="rng_step", shape=(), initializer="zeros",
                                        trainable=False, dtype="int64",
                                        aggregation="only_first_replica")
        self.built = True

    def call(self, images):
        if self.pool_size == 0:
            return images
        images32 = tf.cast(images, tf.float32)
        batch = tf.shape(images32)[0]
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.rng_step.value])
        self.rng_step.assign_add(1)
        u = tf.random.stateless_uniform([batch], seed, dtype=tf.float32)
        slot = tf.random.stateless_uniform(
            [batch], tf.random.experimental.stateless_fold_in(seed, 1),
            maxval=self.pool_size, dtype=tf.int32)
        # Image j of the batch sees the pool after images 0..j-1 were offered.
        position = self.count.value + tf.range(batch, dtype=tf.int32)
        is_fill = position < self.pool_size
        use_old = tf.logical_and(tf.logical_not(is_fill), u > 0.5)
        buffer = self.buffer.value
        returned = tf.where(use_old[:, None, None, None], tf.gather(buffer, slot), images32)
        writes = tf.logical_or(is_fill, use_old)
        write_slot = tf.where(is_fill, position, slot)
        self.buffer.assign(tf.tensor_scatter_nd_update(
            buffer, tf.boolean_mask(write_slot, writes)[:, None],
            tf.boolean_mask(images32, writes)))
        self.count.assign(tf.minimum(self.count.value + batch, self.pool_size))
        return tf.cast(returned, images.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "image_shape": self.image_shape,
                       "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GlobalBatchDropout(layers.Layer):
    """Inverted dropout (keep with probability 1 - rate, scale by 1 / (1 - rate)) whose mask is
    drawn for the *global* batch.

    Inside ``strategy.run`` with R replicas of b examples, replica r keeps rows
    [r b, (r + 1) b) of a uniform tensor of shape (R b, ...) drawn statelessly from
    (``seed``, step counter): the replicas get independent masks, and a MirroredStrategy step
    (whose replica r holds rows [r b, (r + 1) b) of the global batch) drops exactly what one
    device drops on the whole batch. Keras' ``Dropout`` instead reads one mirrored seed state
    on every replica, so all replicas would draw the same mask. The step counter is a
    non-trainable variable (checkpointed; ``only_first_replica`` under a strategy). ``seed``
    None: drawn from Python's ``random`` (seeded by ``keras.utils.set_random_seed``).
    """

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"GlobalBatchDropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = int(seed) if seed is not None else random.randint(0, 2 ** 31 - 1)
        self.step = self.add_weight(name="step", shape=(), initializer="zeros", trainable=False,
                                    dtype="int64", aggregation="only_first_replica")

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        ctx = tf.distribute.get_replica_context()
        replicas = 1 if ctx is None else ctx.num_replicas_in_sync
        replica = 0 if ctx is None else ctx.replica_id_in_sync_group
        local = tf.shape(x)[0]
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.step.value])
        self.step.assign_add(1)
        u = tf.random.stateless_uniform(tf.concat([[local * replicas], tf.shape(x)[1:]], 0), seed)
        start = tf.cast(replica, tf.int32) * local
        keep = u[start:start + local] >= self.rate
        return tf.where(keep, x * tf.cast(1.0 / (1.0 - self.rate), x.dtype), tf.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


# ----------------------------------------------------------------------------------------
# Deep Back-Projection units (Haris, Shakhnarovich, Ukita, "Deep Back-Projection Networks
# for Super-Resolution", CVPR 2018), used by the DSRNet of Sun et al. (CVPR 2021).
# ----------------------------------------------------------------------------------------

#: (kernel, stride, padding) of the DBPN projection convolutions per scale. x2/x4/x8 are
#: DBPN's published settings; x16 is our choice: the same rule kernel = stride + 4,
#: padding = 2 (a single k20/s16/p2 unit rather than two cascaded x4 units).
DBPN_SETTINGS = {2: (6, 2, 2), 4: (8, 4, 2), 8: (12, 8, 2), 16: (20, 16, 2)}


def dbpn_setting(scale: int):
    """(kernel, stride, padding) of a DBPN unit for ``scale``; a clear error otherwise."""
    if int(scale) not in DBPN_SETTINGS:
        raise ValueError(f"DBPN: scale must be one of {sorted(DBPN_SETTINGS)}, got {scale}")
    return DBPN_SETTINGS[int(scale)]


class _Projection(layers.Layer):
    """Shared plumbing of the up/down projection units: PyTorch-style padded (de)convs.

    ``conv``: zero-pad ``p`` then a valid k/s conv, out = floor((n + 2p - k) / s) + 1.
    ``deconv``: a valid k/s transposed conv, then crop ``p`` per side,
    out = (n - 1) s - 2p + k. With k = s + 4 and p = 2 both are exact: n -> n s -> n.
    Every conv is followed by its own PReLU (one slope per channel), as in DBPN.
    """

    def __init__(self, filters: int, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.scale = int(filters), int(scale)
        self.kernel, self.stride, self.pad = dbpn_setting(scale)

    def _conv(self, name):
        return layers.Conv2D(self.filters, self.kernel, strides=self.stride, padding="valid",
                             name=name)

    def _deconv(self, name):
        return layers.Conv2DTranspose(self.filters, self.kernel, strides=self.stride,
                                      padding="valid", name=name)

    def _prelu(self, name):
        return layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25),
                            name=name)

    def _apply_conv(self, conv, x):
        p = self.pad
        return conv(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]))

    def _apply_deconv(self, deconv, x):
        p = self.pad
        y = deconv(x)
        return y[:, p:-p, p:-p, :] if p else y

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class UpProjection(_Projection):
    """DBPN up-projection unit (Haris et al. 2018, eqs. 2-5): LR features -> HR features.

    H0 = PReLU(deconv(L)); L0 = PReLU(conv(H0)); H1 = PReLU(deconv(L0 - L)); out = H0 + H1.
    (B, h, w, filters) -> (B, h*scale, w*scale, filters); the input must have ``filters``
    channels (the residual L0 - L).
    """

    def __init__(self, filters: int, scale: int, **kwargs):
        super().__init__(filters, scale, **kwargs)
        self.up1, self.act1 = self._deconv("up1"), self._prelu("act1")
        self.down, self.act2 = self._conv("down"), self._prelu("act2")
        self.up2, self.act3 = self._deconv("up2"), self._prelu("act3")

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(f"UpProjection({self.filters}) got {input_shape[-1]} input "
                             "channels; they must match for the back-projection residual")
        b, h, w, c = input_shape
        hr = (b, None if h is None else h * self.scale, None if w is None else w * self.scale, c)
        padded = lambda s: (s[0], None if s[1] is None else s[1] + 2 * self.pad,  # noqa: E731
                            None if s[2] is None else s[2] + 2 * self.pad, s[3])
        self.up1.build(input_shape)
        self.act1.build(hr)
        self.down.build(padded(hr))
        self.act2.build(input_shape)
        self.up2.build(input_shape)
        self.act3.build(hr)
        self.built = True

    def call(self, x):
        h0 = self.act1(self._apply_deconv(self.up1, x))
        l0 = self.act2(self._apply_conv(self.down, h0))
        h1 = self.act3(self._apply_deconv(self.up2, l0 - x))
        return h0 + h1

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        grow = lambda n: None if n is None else n * self.scale  # noqa: E731
        return (b, grow(h), grow(w), self.filters)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DownProjection(_Projection):
    """DBPN down-projection unit (Haris et al. 2018, eqs. 6-9): HR features -> LR features.

    L0 = PReLU(conv(H)); H0 = PReLU(deconv(L0)); L1 = PReLU(conv(H0 - H)); out = L0 + L1.
    (B, H, W, filters) -> (B, H/scale, W/scale, filters); H and W must be multiples of scale.
    """

    def __init__(self, filters: int, scale: int, **kwargs):
        super().__init__(filters, scale, **kwargs)
        self.down1, self.act1 = self._conv("down1"), self._prelu("act1")
        self.up, self.act2 = self._deconv("up"), self._prelu("act2")
        self.down2, self.act3 = self._conv("down2"), self._prelu("act3")

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(f"DownProjection({self.filters}) got {input_shape[-1]} input "
                             "channels; they must match for the back-projection residual")
        b, h, w, c = input_shape
        for n in (h, w):
            if n is not None and n % self.scale:
                raise ValueError(f"DownProjection(scale={self.scale}): input size {h}x{w} is "
                                 f"not a multiple of the scale")
        lr = (b, None if h is None else h // self.scale, None if w is None else w // self.scale, c)
        padded = lambda s: (s[0], None if s[1] is None else s[1] + 2 * self.pad,  # noqa: E731
                            None if s[2] is None else s[2] + 2 * self.pad, s[3])
        self.down1.build(padded(input_shape))
        self.act1.build(lr)
        self.up.build(lr)
        self.act2.build(input_shape)
        self.down2.build(padded(input_shape))
        self.act3.build(lr)
        self.built = True

    def call(self, x):
        l0 = self.act1(self._apply_conv(self.down1, x))
        h0 = self.act2(self._apply_deconv(self.up, l0))
        l1 = self.act3(self._apply_conv(self.down2, h0 - x))
        return l0 + l1

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        shrink = lambda n: None if n is None else n // self.scale  # noqa: E731
        return (b, shrink(h), shrink(w), self.filters)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SqueezeExcite(layers.Layer):
    """Squeeze-and-excitation block (Hu, Shen, Sun, CVPR 2018, eqs. 2-4).

    z = global average of x over H, W (eq. 2, squeeze); s = sigmoid(W2 ReLU(W1 z + b1) + b2)
    (eq. 3, excitation, W1: C -> C/r, W2: C/r -> C, with biases as in the authors' models);
    out = x * s per channel (eq. 4). ``reduction`` r = 16 in SE-ResNet; the bottleneck has
    ``max(1, C // r)`` units.
    """

    def __init__(self, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        if int(reduction) < 1:
            raise ValueError(f"SqueezeExcite: reduction must be >= 1, got {reduction}")
        self.reduction = int(reduction)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("SqueezeExcite needs a known channel count")
        hidden = max(1, int(channels) // self.reduction)
        self.squeeze_fc = layers.Dense(hidden, activation="relu", name="fc1")
        self.excite_fc = layers.Dense(int(channels), activation="sigmoid", name="fc2")
        self.squeeze_fc.build((input_shape[0], int(channels)))
        self.excite_fc.build((input_shape[0], hidden))
        self.built = True

    def call(self, x):
        z = tf.reduce_mean(x, axis=[1, 2])
        s = self.excite_fc(self.squeeze_fc(z))
        return x * tf.cast(s, x.dtype)[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PatchNCEHead(layers.Layer):
    """PatchNCE projection head H of CUT (Park et al. 2020, sec. 3.2; Suarez et al. eq. 6).

    One head per generator feature layer: Dense(units) -> ReLU -> Dense(units) applied to
    each sampled patch feature (B, P, C) -> (B, P, units), then L2-normalised over the last
    axis (CUT's ``PatchSampleF``: a 2-layer MLP with 256 units and ``Normalize(2)``). The
    patch sampling itself is done by the caller so that query and key share locations.
    """

    def __init__(self, units: int = 256, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"PatchNCEHead: units must be >= 1, got {units}")
        self.units = int(units)
        self.fc1 = layers.Dense(self.units, activation="relu", name="fc1",
                                dtype=self.dtype_policy)
        self.fc2 = layers.Dense(self.units, name="fc2", dtype=self.dtype_policy)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("PatchNCEHead needs a known channel count")
        self.fc1.build(tuple(input_shape[:-1]) + (int(channels),))
        self.fc2.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, x):
        h = self.fc2(self.fc1(x))
        h = tf.cast(h, tf.float32)
        return h * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(h), -1, keepdims=True), 1e-14))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


# ----------------------------------------------------------------------------------------
# Up-projection of Laina et al. ("Deeper Depth Prediction with Fully Convolutional Residual
# Networks", 3DV 2016), the decoder block of sparse-to-dense (Ma & Karaman, ICRA 2018).
# Not DBPN's ``UpProjection`` above: a different block with the same name in the papers.
# ----------------------------------------------------------------------------------------

def unpool2x(x):
    """Sparse-to-dense ``Unpool``: each value to the top-left of a 2x2 cell, zeros elsewhere.

    (B, h, w, C) -> (B, 2h, 2w, C), as ``tf.nn.depth_to_space(concat[x, 0, 0, 0], 2)``
    (sparse-to-dense's Torch ``UpProj`` layer, checked against it).
    """
    z = tf.zeros_like(x)
    return tf.nn.depth_to_space(tf.concat([x, z, z, z], axis=-1), 2)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class UnpoolUpProjection(layers.Layer):
    """Laina / sparse-to-dense ``UpProj`` block (its Torch ResNet-50 model): (B, h, w, Cin) ->
    (B, 2h, 2w, filters).

    u = unpool2x(x); upper = BN(conv3x3(ReLU(BN(conv5x5(u))))); lower = BN(conv5x5(u));
    out = ReLU(upper + lower). Every conv has no bias (the Torch code drops them); 'same'
    padding is symmetric for these odd kernels at stride 1, as Torch's pad 2 / pad 1.
    Parameters: 2 * 25 * Cin * F + 9 * F * F + 3 * 2F (BN gamma/beta; the moving statistics
    are not trainable).
    """

    def __init__(self, filters: int, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"UnpoolUpProjection: filters must be >= 1, got {filters}")
        self.filters, self.momentum, self.epsilon = int(filters), float(momentum), float(epsilon)
        conv = lambda k, name: layers.Conv2D(self.filters, k, padding="same", use_bias=False,  # noqa: E731
                                             kernel_initializer="he_normal", name=name,
                                             dtype=self.dtype_policy)
        bn = lambda name: layers.BatchNormalization(momentum=self.momentum,  # noqa: E731
                                                    epsilon=self.epsilon, name=name,
                                                    dtype=self.dtype_policy)
        self.up_conv1, self.up_bn1 = conv(5, "upper_conv5"), bn("upper_bn1")
        self.up_conv2, self.up_bn2 = conv(3, "upper_conv3"), bn("upper_bn2")
        self.low_conv, self.low_bn = conv(5, "lower_conv5"), bn("lower_bn")

    def build(self, input_shape):
        b, h, w, c = input_shape
        if c is None:
            raise ValueError("UnpoolUpProjection needs a known channel count")
        grow = lambda n: None if n is None else 2 * n  # noqa: E731
        up_in = (b, grow(h), grow(w), c)
        out = (b, grow(h), grow(w), self.filters)
        self.up_conv1.build(up_in)
        self.up_bn1.build(out)
        self.up_conv2.build(out)
        self.up_bn2.build(out)
        self.low_conv.build(up_in)
        self.low_bn.build(out)
        self.built = True

    def call(self, x, training=None):
        u = unpool2x(x)
        upper = tf.nn.relu(self.up_bn1(self.up_conv1(u), training=training))
        upper = self.up_bn2(self.up_conv2(upper), training=training)
        lower = self.low_bn(self.low_conv(u), training=training)
        return tf.nn.relu(upper + lower)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        grow = lambda n: None if n is None else 2 * n  # noqa: E731
        return (b, grow(h), grow(w), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "momentum": self.momentum,
                       "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialAttention(layers.Layer):
    """CBAM spatial attention (Woo, Park, Lee, Kweon, ECCV 2018, sec. 3, eq. 3).

    M_s(F) = sigmoid(conv_kxk([mean_c(F); max_c(F)])) of shape (B, H, W, 1), a conv without
    bias over the two channel-pooled maps ('same' padding, k = 7 in CBAM); the output is
    F * M_s(F). ``return_map=True`` makes ``call`` return ``(F * M_s, M_s)``.
    """

    def __init__(self, kernel_size: int = 7, return_map: bool = False, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1:
            raise ValueError(f"SpatialAttention: kernel_size must be >= 1, got {kernel_size}")
        self.kernel_size, self.return_map = int(kernel_size), bool(return_map)
        self.conv = layers.Conv2D(1, self.kernel_size, padding="same", use_bias=False,
                                  kernel_initializer="he_normal", name="conv")

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"SpatialAttention expects (B, H, W, C) features, got {input_shape}")
        self.conv.build((input_shape[0], input_shape[1], input_shape[2], 2))
        self.built = True

    def call(self, x):
        pooled = tf.concat([tf.reduce_mean(x, axis=-1, keepdims=True),
                            tf.reduce_max(x, axis=-1, keepdims=True)], axis=-1)
        attention = tf.sigmoid(self.conv(pooled))
        out = x * tf.cast(attention, x.dtype)
        return (out, attention) if self.return_map else out

    def compute_output_shape(self, input_shape):
        if self.return_map:
            return input_shape, (*input_shape[:3], 1)
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "return_map": self.return_map})
        return config
