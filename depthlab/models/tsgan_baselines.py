"""The three depth generators TS-GAN is compared with in its Table 1 (Uppal et al., ICCV 2021).

Paper sec. 5.1 (text lines ~664-667, 727-737): "Fully Convolutional Network (FCN) [4],
image-to-image translation cGAN [33], and CycleGAN [24]", trained and tested on the same
CurtinFaces split as TS-GAN (47 / 5 subjects). Every baseline here shares TS-GAN's networks
(``depthlab.models.tsgan``: the ResNet encoder-decoder generator ``g_a2b`` and the PatchGAN), its
data and its Table 1 ``test_step``, so only the training objective differs:

- ``FCNBaseline`` ([4], Cui et al., ICB 2018): a fully convolutional encoder-decoder trained with
  one loss, the absolute error to the ground truth ("FCN only uses one loss function that aims to
  minimize the absolute error", paper line ~733): L = ||G(x) - y||_1. Cui et al. cascade the FCN
  with an identification CNN on the estimated depth; TS-GAN's description (one loss) drops it,
  and so do we. No discriminator.
- ``CGANBaseline`` ([33], Pini et al., 3DV 2018, a pix2pix-style conditional GAN): D sees the
  (RGB, depth) pair concatenated on channels;
  D: 0.5 [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)],  G: BCE(D(x, G(x)), 1) + lambda_l1 ||G(x) - y||_1
  (pix2pix weights: lambda_l1 = 100; ``gan_loss='lsgan'`` swaps in least squares).
- ``CycleGANBaseline`` ([24], Kwak et al.: CycleGAN for depth): unpaired RGB a <-> depth b with
  G: a -> b, F: b -> a, D_depth, D_RGB;
  L_G = lsgan_g(D_depth(G(a))) + lsgan_g(D_RGB(F(b))) + lambda_cyc (|F(G(a)) - a| + |G(F(b)) - b|),
  L_D = 0.5 lsgan_d(D_depth(b), D_depth(pool(G(a)))) + 0.5 lsgan_d(D_RGB(a), D_RGB(pool(F(b)))).
  The two domains are the teacher data's RGB and depth; no loss term compares G(a_i) with b_i,
  so the pairing inside a batch is never used. Kwak et al.'s segmentation branch needs labels
  that these datasets lack and is left out.

Each is a ``keras.Model`` with ``compile(g_optimizer[, d_optimizer])``, a custom ``train_step``,
``get_config`` and ``checkpoint_objects()`` (what the runner checkpoints). Tensors as in TSGAN:
RGB in [-1, 1]; depth (B, H, W, 1) in [-1, 1] with a valid mask, replicated to the preset's
``depth_channels``.
"""

from __future__ import annotations

from typing import Dict, Optional

import keras
import tensorflow as tf

from depthlab import losses
from depthlab.configs import TSGANConfig, tsgan_config
from depthlab.layers import ImagePool
from depthlab.models.tsgan import (TSGAN, _EVAL_NAMES, build_discriminator, build_generator)

_PACKAGE = "depthlab"

from depthlab.configs import TSGAN_METHODS as METHODS  # noqa: E402 (TF-free, for the flags)
BASELINES = METHODS[1:]
GAN_LOSSES = ("bce", "lsgan")
# Labels of paper Table 1's columns.
from depthlab.configs import TSGAN_METHOD_LABELS as PAPER_LABELS  # noqa: E402


def _config(config) -> TSGANConfig:
    if isinstance(config, dict):
        return TSGANConfig.from_dict(config)
    return config if isinstance(config, TSGANConfig) else tsgan_config(config)


def _bce(logits, label: float) -> tf.Tensor:
    """Mean sigmoid cross-entropy of raw D scores against a constant label (the pix2pix GAN)."""
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), label), logits=logits))


class _DepthBaseline(keras.Model):
    """Shared plumbing: the TS-GAN generator ``g_a2b``, loss trackers and TSGAN's Table 1
    ``test_step`` (borrowed, so every method is measured by the same code)."""

    LOSS_NAMES: tuple = ()

    def __init__(self, config: TSGANConfig | dict | str = "code", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.config = _config(config)
        self.seed = int(seed)
        self.g_a2b = build_generator(self.config, name="g_a2b")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.LOSS_NAMES}
        self.eval_trackers = {n: keras.metrics.Mean(name=n) for n in _EVAL_NAMES}

    # Same code as TS-GAN: depth replication, loss scaling and the held-out metrics.
    _expand_depth = TSGAN._expand_depth
    _scaled = TSGAN._scaled
    _apply = staticmethod(TSGAN._apply)
    test_step = TSGAN.test_step

    @staticmethod
    def _loss_scaled(optimizer):
        """Wraps ``optimizer`` in a LossScaleOptimizer under ``mixed_float16`` (as TSGAN)."""
        if (optimizer is not None and keras.mixed_precision.global_policy().name == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    @property
    def metrics(self):
        return list(self.trackers.values()) + list(self.eval_trackers.values())

    def call(self, rgb, training=False):
        """Depth for RGB in [-1, 1] (the exported generator)."""
        return self.g_a2b(rgb, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"config": self.config.to_dict(), "seed": self.seed})
        return config

    def _mask(self, data):
        if not self.config.mask_pixel_loss:
            return None
        return losses.hole_tolerant_mask(data["mask"], self.config.mask_close_px)

    def _log(self, logs: Dict[str, tf.Tensor]):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FCNBaseline(_DepthBaseline):
    """FCN [4]: the encoder-decoder with the absolute error alone, L = ||G(x) - y||_1 (masked
    to valid pixels as TS-GAN's eq. 3 when the preset masks it). One optimizer, no D."""

    LOSS_NAMES = ("pixel_loss",)

    def compile(self, g_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = self._loss_scaled(g_optimizer)
        if self.g_optimizer is not None:
            self.g_optimizer.build(self.g_a2b.trainable_variables)

    def checkpoint_objects(self):
        return {"g_a2b": self.g_a2b, "g_optimizer": self.g_optimizer}

    def train_step(self, data):
        rgb, depth = tf.cast(data["rgb"], tf.float32), self._expand_depth(data["depth"])
        with tf.GradientTape() as tape:
            pixel = losses.pixel_loss(self.g_a2b(rgb, training=True), depth, self._mask(data))
            scaled = self._scaled(self.g_optimizer, pixel)
        self._apply(self.g_optimizer, tape, scaled, self.g_a2b.trainable_variables)
        return self._log({"pixel_loss": pixel})


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CGANBaseline(_DepthBaseline):
    """cGAN [33] (pix2pix): conditional PatchGAN ``d_pair`` on concat(RGB, depth) + L1.

    D: 0.5 [GAN_d(D(x, y), real) + GAN_d(D(x, G(x)), fake)];  G: GAN_g(D(x, G(x))) +
    lambda_l1 * L1(G(x), y). ``gan_loss`` 'bce' (pix2pix, non-saturating) or 'lsgan'.
    """

    LOSS_NAMES = ("g_loss", "g_gan", "g_l1", "disc_loss")

    def __init__(self, config: TSGANConfig | dict | str = "code", seed: int = 0,
                 lambda_l1: float = 100.0, gan_loss: str = "bce", **kwargs):
        super().__init__(config, seed, **kwargs)
        if gan_loss not in GAN_LOSSES:
            raise ValueError(f"gan_loss={gan_loss!r} is not one of {GAN_LOSSES}")
        self.lambda_l1, self.gan_loss = float(lambda_l1), gan_loss
        self.d_pair = build_discriminator(self.config,
                                          input_channels=3 + self.config.depth_channels,
                                          name="d_pair")

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = self._loss_scaled(g_optimizer), self._loss_scaled(
            d_optimizer)
        if self.g_optimizer is not None:
            self.g_optimizer.build(self.g_a2b.trainable_variables)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.d_pair.trainable_variables)

    def checkpoint_objects(self):
        return {"g_a2b": self.g_a2b, "d_pair": self.d_pair, "g_optimizer": self.g_optimizer,
                "d_optimizer": self.d_optimizer}

    def discriminate(self, rgb, depth, training=False):
        """Patch scores of the conditional pair: D sees RGB and depth stacked on channels."""
        return self.d_pair(tf.concat([tf.cast(rgb, tf.float32), tf.cast(depth, tf.float32)], -1),
                           training=training)

    def _gan_g(self, fake_scores):
        if self.gan_loss == "bce":
            return _bce(fake_scores, 1.0)
        return losses.lsgan_generator_loss(fake_scores)

    def _gan_d(self, real_scores, fake_scores):
        if self.gan_loss == "bce":
            return 0.5 * (_bce(real_scores, 1.0) + _bce(fake_scores, 0.0))
        return 0.5 * losses.lsgan_discriminator_loss(real_scores, fake_scores)

    def train_step(self, data):
        rgb, depth = tf.cast(data["rgb"], tf.float32), self._expand_depth(data["depth"])
        with tf.GradientTape(persistent=True) as tape:
            fake = self.g_a2b(rgb, training=True)
            d_fake = self.discriminate(rgb, fake, training=True)
            g_gan = self._gan_g(d_fake)
            g_l1 = losses.l1_loss(fake, depth, self._mask(data))
            g_loss = g_gan + self.lambda_l1 * g_l1
            d_loss = self._gan_d(self.discriminate(rgb, depth, training=True),
                                 self.discriminate(rgb, tf.stop_gradient(fake), training=True))
            g_scaled = self._scaled(self.g_optimizer, g_loss)
            d_scaled = self._scaled(self.d_optimizer, d_loss)
        self._apply(self.g_optimizer, tape, g_scaled, self.g_a2b.trainable_variables)
        self._apply(self.d_optimizer, tape, d_scaled, self.d_pair.trainable_variables)
        del tape
        return self._log({"g_loss": g_loss, "g_gan": g_gan, "g_l1": g_l1, "disc_loss": d_loss})

    def get_config(self):
        config = super().get_config()
        config.update({"lambda_l1": self.lambda_l1, "gan_loss": self.gan_loss})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CycleGANBaseline(_DepthBaseline):
    """CycleGAN [24]: both mappings, both cycles, LSGAN, image pools of the preset's size.

    ``compile(g_optimizer, d_optimizer)``: one optimizer over G and F, one over both Ds.
    """

    LOSS_NAMES = ("g_loss", "g_gan", "cycle_loss", "disc_loss")

    def __init__(self, config: TSGANConfig | dict | str = "code", seed: int = 0,
                 lambda_cycle: float = 10.0, **kwargs):
        super().__init__(config, seed, **kwargs)
        cfg = self.config
        self.lambda_cycle = float(lambda_cycle)
        self.g_b2a = build_generator(cfg, input_channels=cfg.depth_channels, output_channels=3,
                                     name="g_b2a")
        self.d_depth = build_discriminator(cfg, input_channels=cfg.depth_channels, name="d_depth")
        self.d_rgb = build_discriminator(cfg, input_channels=3, name="d_rgb")
        size = cfg.image_size
        depth_shape, rgb_shape = (size, size, cfg.depth_channels), (size, size, 3)
        self.depth_pool = ImagePool(cfg.pool_size, depth_shape, seed=self.seed * 2 + 1,
                                    name="fake_depth_pool")
        self.rgb_pool = ImagePool(cfg.pool_size, rgb_shape, seed=self.seed * 2 + 2,
                                  name="fake_rgb_pool")
        self.depth_pool.build((None,) + depth_shape)
        self.rgb_pool.build((None,) + rgb_shape)

    def _g_variables(self):
        return self.g_a2b.trainable_variables + self.g_b2a.trainable_variables

    def _d_variables(self):
        return self.d_depth.trainable_variables + self.d_rgb.trainable_variables

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = self._loss_scaled(g_optimizer), self._loss_scaled(
            d_optimizer)
        if self.g_optimizer is not None:
            self.g_optimizer.build(self._g_variables())
        if self.d_optimizer is not None:
            self.d_optimizer.build(self._d_variables())

    def checkpoint_objects(self):
        return {"g_a2b": self.g_a2b, "g_b2a": self.g_b2a, "d_depth": self.d_depth,
                "d_rgb": self.d_rgb, "depth_pool": self.depth_pool, "rgb_pool": self.rgb_pool,
                "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    def train_step(self, data):
        a, b = tf.cast(data["rgb"], tf.float32), self._expand_depth(data["depth"])
        with tf.GradientTape() as tape:
            fake_b = self.g_a2b(a, training=True)
            fake_a = self.g_b2a(b, training=True)
            cycle = (losses.cycle_loss(a, self.g_b2a(fake_b, training=True))
                     + losses.cycle_loss(b, self.g_a2b(fake_a, training=True)))
            g_gan = (losses.lsgan_generator_loss(self.d_depth(fake_b, training=True))
                     + losses.lsgan_generator_loss(self.d_rgb(fake_a, training=True)))
            g_loss = g_gan + self.lambda_cycle * cycle
            scaled = self._scaled(self.g_optimizer, g_loss)
        self._apply(self.g_optimizer, tape, scaled, self._g_variables())
        pooled_b = self.depth_pool(tf.stop_gradient(fake_b))
        pooled_a = self.rgb_pool(tf.stop_gradient(fake_a))
        with tf.GradientTape() as tape:
            d_loss = 0.5 * (losses.lsgan_discriminator_loss(self.d_depth(b, training=True),
                                                            self.d_depth(pooled_b, training=True))
                            + losses.lsgan_discriminator_loss(self.d_rgb(a, training=True),
                                                              self.d_rgb(pooled_a, training=True)))
            scaled = self._scaled(self.d_optimizer, d_loss)
        self._apply(self.d_optimizer, tape, scaled, self._d_variables())
        return self._log({"g_loss": g_loss, "g_gan": g_gan, "cycle_loss": cycle,
                          "disc_loss": d_loss})

    def get_config(self):
        config = super().get_config()
        config.update({"lambda_cycle": self.lambda_cycle})
        return config


_CLASSES = {"fcn": FCNBaseline, "cgan": CGANBaseline, "cyclegan": CycleGANBaseline}


def build_baseline(method: str, config: TSGANConfig | dict | str = "code", seed: int = 0,
                   **kwargs) -> _DepthBaseline:
    """The (uncompiled) baseline model of ``method`` ('fcn', 'cgan' or 'cyclegan')."""
    if method not in _CLASSES:
        raise ValueError(f"--method={method!r} is not a baseline; choose one of {list(BASELINES)}")
    for term in ("lambda_gradient", "lambda_landmark"):
        if getattr(_config(config), term):
            raise ValueError(f"{term}={getattr(_config(config), term)} is a term of the TS-GAN "
                             f"teacher's loss; --method={method} does not use it (set it to 0: "
                             f"--config_override={term}=0)")
    return _CLASSES[method](config, seed=seed, name=method, **kwargs)


def compile_baseline(model: _DepthBaseline, g_optimizer, d_optimizer=None,
                     jit_compile: bool = False) -> _DepthBaseline:
    """``compile`` with the optimizers the method takes (FCN has no D optimizer)."""
    if isinstance(model, FCNBaseline):
        model.compile(g_optimizer=g_optimizer, jit_compile=jit_compile)
    else:
        model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, jit_compile=jit_compile)
    return model


def optimizer_roles(method: str) -> Optional[tuple]:
    """Which of TS-GAN's (teacher, student, disc) Adam settings drive (G, D) of a baseline:
    the supervised generators (FCN, cGAN) take the teacher's, CycleGAN's unsupervised
    generators the student's (its objective is the student's, eqs. 4-6)."""
    return {"fcn": ("teacher", None), "cgan": ("teacher", "disc"),
            "cyclegan": ("student", "disc")}[method]
