"""TS-GAN: Teacher-Student Adversarial Depth Hallucination (Uppal et al., ICCV 2021).

- ``ResnetGenerator``: c7s1-64, d128, d256, N residual blocks, u128, u64, c7s1-C + tanh
  (reference notes table 1.4). ``build_generator(preset)``.
- ``PatchDiscriminator``: k4 convs, the first without norm, then IN + LeakyReLU(0.2),
  and a final 1-map conv (table 1.5; the 'paper' preset reads the text literally).
- ``TSGAN``: the Algorithm 1 train step (teacher G step, student G step, D step on pooled
  fakes) as a ``keras.Model`` with ``compile(teacher_optimizer, student_optimizer,
  disc_optimizer)``.

Images travel in [-1, 1]; depth is (B, H, W, 1) in [-1, 1] with a (B, H, W, 1) valid mask
and is replicated to ``depth_channels`` where the networks need it.
"""

from __future__ import annotations

from typing import Dict, Optional

import keras
import tensorflow as tf
from keras import layers

from depthlab import losses, metrics
from depthlab.configs import TSGANConfig, tsgan_config
from depthlab.layers import ImagePool, InstanceNorm, ReflectionPad2D, ResnetBlock, conv_norm_act

_PACKAGE = "depthlab"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResnetGenerator(keras.Model):
    """CycleGAN ResNet generator as used by TS-GAN (code: 9 blocks, paper: 6 blocks).

    Convs before IN have no bias; the last 7x7 conv has a bias and a float32 tanh, so the
    output stays float32 under mixed precision.
    """

    def __init__(self, image_size: Optional[int] = 128, input_channels: int = 3,
                 output_channels: int = 3, filters: int = 64, n_downsamplings: int = 2,
                 n_blocks: int = 9, name: str = "resnet_generator", **kwargs):
        inputs = keras.Input((image_size, image_size, input_channels), name="image")
        x = ReflectionPad2D(3)(inputs)
        x = conv_norm_act(x, filters, 7, padding="valid")
        width = filters
        for _ in range(n_downsamplings):
            width *= 2
            x = conv_norm_act(x, width, 3, strides=2)
        for _ in range(n_blocks):
            x = ResnetBlock(width)(x)
        for _ in range(n_downsamplings):
            width //= 2
            x = conv_norm_act(x, width, 3, strides=2, transpose=True)
        x = ReflectionPad2D(3)(x)
        x = layers.Conv2D(output_channels, 7, padding="valid", dtype="float32")(x)
        outputs = layers.Activation("tanh", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._config = dict(image_size=image_size, input_channels=input_channels,
                            output_channels=output_channels, filters=filters,
                            n_downsamplings=n_downsamplings, n_blocks=n_blocks)

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PatchDiscriminator(keras.Model):
    """PatchGAN: k4 convs with ``filters``/``strides``, then a k4 s1 conv to 1 score map.

    The first conv has a bias and no norm; the others are IN + LeakyReLU(0.2). Outputs raw
    LSGAN scores (no sigmoid). Code preset: 64/128/256 s2 + 512 s1 (70x70 receptive field).
    """

    def __init__(self, image_size: Optional[int] = 128, input_channels: int = 3,
                 filters=(64, 128, 256, 512), strides=(2, 2, 2, 1),
                 name: str = "patch_discriminator", **kwargs):
        filters, strides = tuple(int(f) for f in filters), tuple(int(s) for s in strides)
        if len(filters) != len(strides):
            raise ValueError(f"PatchDiscriminator: filters {filters} and strides {strides} "
                             "must have the same length")
        inputs = keras.Input((image_size, image_size, input_channels), name="image")
        x = inputs
        for i, (f, s) in enumerate(zip(filters, strides)):
            x = conv_norm_act(x, f, 4, strides=s, norm=i > 0, activation="lrelu")
        outputs = layers.Conv2D(1, 4, padding="same", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._config = dict(image_size=image_size, input_channels=input_channels,
                            filters=list(filters), strides=list(strides))

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _as_config(preset) -> TSGANConfig:
    return preset if isinstance(preset, TSGANConfig) else tsgan_config(preset)


def build_generator(preset="code", input_channels: int = 3, output_channels: Optional[int] = None,
                    image_size: Optional[int] = None, name: str = "g_a2b") -> ResnetGenerator:
    """The generator of a preset name or config. ``output_channels`` defaults to the preset's
    depth channels (G_A2B); pass 3 for G_B2A."""
    cfg = _as_config(preset)
    return ResnetGenerator(image_size=image_size or cfg.image_size, input_channels=input_channels,
                           output_channels=output_channels or cfg.depth_channels,
                           filters=cfg.gen_filters, n_downsamplings=cfg.gen_downsamplings,
                           n_blocks=cfg.gen_blocks, name=name)


def build_discriminator(preset="code", input_channels: int = 3, image_size: Optional[int] = None,
                        name: str = "d_depth") -> PatchDiscriminator:
    """The discriminator of a preset name or config (D_depth and D_RGB share the layout)."""
    cfg = _as_config(preset)
    return PatchDiscriminator(image_size=image_size or cfg.image_size,
                              input_channels=input_channels, filters=cfg.disc_filters,
                              strides=cfg.disc_strides, name=name)


PRESETS = ("code", "paper", "demo")
ABLATIONS = ("none", "teacher_only", "a2b_only")

_LOSS_NAMES = ("teacher_g_loss", "teacher_pixel_loss", "student_g_loss", "cycle_loss",
               "disc_loss")
_EVAL_NAMES = ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3", "abs_rel", "log10")


def depth_to_unit(depth):
    """[-1, 1] network depth (first channel) -> [0, 1], the range the metrics use."""
    return (tf.cast(depth[..., :1], tf.float32) + 1.0) * 0.5


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TSGAN(keras.Model):
    """Teacher-student GAN (paper Algorithm 1; losses as in the code, reference notes 1.7).

    Per step, with source RGB A_s, source depth B_s and target RGB A_t:
      1. teacher: L_T = lsgan_g(D_depth(G(A_s))) + lambda_pixel * L1(G(A_s), B_s)   (eqs. 1-3)
         -> teacher optimizer on G_A2B;
      2. student: L_S = lsgan_g(D_depth(G(A_t))) + lsgan_g(D_RGB(F(G(A_t))))
                        + lambda_cycle * L1(A_t, F(G(A_t)))                          (eqs. 4-6)
         -> student optimizer on G_A2B and G_B2A;
      3. discriminators on pooled fakes of steps 1-2 (as the code, fakes from before the
         updates): lsgan_d(D_RGB(real_rgb), D_RGB(rec)) + lsgan_d(D_depth(B_s), D_depth(teacher
         fake)) + lsgan_d(D_depth(B_s), D_depth(student fake)) -> one disc optimizer.
    Ablations (paper Table 5): 'teacher_only' drops step 2 and the student D terms;
    'a2b_only' trains G_A2B with the pixel loss alone (no discriminator).
    """

    def __init__(self, config: TSGANConfig | dict | str = "code", ablation: str = "none",
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = TSGANConfig.from_dict(config)
        self.config = _as_config(config)
        if ablation not in ABLATIONS:
            raise ValueError(f"ablation={ablation!r} is not one of {ABLATIONS}")
        self.ablation = ablation
        self.seed = int(seed)
        cfg = self.config
        self.g_a2b = build_generator(cfg, name="g_a2b")
        self.g_b2a = build_generator(cfg, input_channels=cfg.depth_channels, output_channels=3,
                                     name="g_b2a")
        self.d_depth = build_discriminator(cfg, input_channels=cfg.depth_channels, name="d_depth")
        self.d_rgb = build_discriminator(cfg, input_channels=3, name="d_rgb")
        size = cfg.image_size
        depth_shape = (size, size, cfg.depth_channels)
        self.teacher_pool = ImagePool(cfg.pool_size, depth_shape, seed=self.seed * 3 + 1,
                                      name="teacher_fake_pool")
        self.student_pool = ImagePool(cfg.pool_size, depth_shape, seed=self.seed * 3 + 2,
                                      name="student_fake_pool")
        self.rec_pool = ImagePool(cfg.pool_size, (size, size, 3), seed=self.seed * 3 + 3,
                                  name="reconstruction_pool")
        for pool, shape in ((self.teacher_pool, depth_shape), (self.student_pool, depth_shape),
                            (self.rec_pool, (size, size, 3))):
            pool.build((None,) + shape)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in _LOSS_NAMES}
        self.eval_trackers = {n: keras.metrics.Mean(name=n) for n in _EVAL_NAMES}

    # -- Keras plumbing -----------------------------------------------------------------
    def compile(self, teacher_optimizer=None, student_optimizer=None, disc_optimizer=None,
                **kwargs):
        """Takes the three optimizers of Algorithm 1 (they may share no slot variables).

        Under the ``mixed_float16`` policy each is wrapped in a LossScaleOptimizer, since
        Keras only auto-scales ``self.optimizer``. With no optimizer at all the model is
        compiled for ``evaluate``/``predict`` only.
        """
        super().compile(**kwargs)
        if teacher_optimizer is None and student_optimizer is None and disc_optimizer is None:
            self.teacher_optimizer = self.student_optimizer = self.disc_optimizer = None
            return
        opts = dict(teacher=teacher_optimizer, student=student_optimizer, disc=disc_optimizer)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            opts = {k: (keras.optimizers.LossScaleOptimizer(o)
                        if o is not None and not isinstance(o, keras.optimizers.LossScaleOptimizer)
                        else o) for k, o in opts.items()}
        self.teacher_optimizer = opts["teacher"]
        self.student_optimizer = opts["student"]
        self.disc_optimizer = opts["disc"]
        for name, opt in opts.items():
            if opt is None and self._needs(name):
                raise ValueError(f"TSGAN.compile: {name}_optimizer is required for "
                                 f"ablation={self.ablation!r}")
        # Build slots now so that checkpoints restore them before the first step.
        if self.teacher_optimizer is not None:
            self.teacher_optimizer.build(self.g_a2b.trainable_variables)
        if self.student_optimizer is not None and self._needs("student"):
            self.student_optimizer.build(self._student_variables())
        if self.disc_optimizer is not None and self._needs("disc"):
            self.disc_optimizer.build(self._disc_variables())

    def _needs(self, name: str) -> bool:
        if name == "teacher":
            return True
        if name == "student":
            return self.ablation == "none"
        return self.ablation != "a2b_only"

    def _student_variables(self):
        return self.g_a2b.trainable_variables + self.g_b2a.trainable_variables

    def _disc_variables(self):
        if self.ablation == "teacher_only":
            return self.d_depth.trainable_variables
        return self.d_depth.trainable_variables + self.d_rgb.trainable_variables

    @property
    def metrics(self):
        return list(self.trackers.values()) + list(self.eval_trackers.values())

    def call(self, rgb, training=False):
        """Hallucinated depth for RGB in [-1, 1]: the shared generator G_A2B."""
        return self.g_a2b(rgb, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"config": self.config.to_dict(), "ablation": self.ablation,
                       "seed": self.seed})
        return config

    # -- Algorithm 1 ----------------------------------------------------------------------
    def _expand_depth(self, depth):
        depth = tf.cast(depth, tf.float32)
        if self.config.depth_channels == 3 and depth.shape[-1] == 1:
            depth = tf.tile(depth, [1, 1, 1, 3])
        return depth

    def _scaled(self, optimizer, loss):
        """Per-replica and (float16) loss-scaled loss; call inside the tape."""
        scaled = losses.replica_share(loss)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            scaled = optimizer.scale_loss(scaled)
        return scaled

    @staticmethod
    def _apply(optimizer, tape, scaled_loss, variables):
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def train_step(self, data):
        cfg = self.config
        rgb_s = tf.cast(data["rgb"], tf.float32)
        depth_s = self._expand_depth(data["depth"])
        mask = tf.cast(data["mask"], tf.float32) if cfg.mask_pixel_loss else None
        logs: Dict[str, tf.Tensor] = {}

        # 1. Teacher generator step (eqs. 1-3): G_A2B only.
        with tf.GradientTape() as tape:
            fake_t = self.g_a2b(rgb_s, training=True)
            pixel = losses.pixel_loss(fake_t, depth_s, mask)
            adv_t = (losses.lsgan_generator_loss(self.d_depth(fake_t, training=True))
                     if self.ablation != "a2b_only" else tf.constant(0.0))
            loss_t = adv_t + cfg.lambda_pixel * pixel
            scaled = self._scaled(self.teacher_optimizer, loss_t)
        self._apply(self.teacher_optimizer, tape, scaled, self.g_a2b.trainable_variables)
        logs["teacher_g_loss"], logs["teacher_pixel_loss"] = loss_t, pixel

        # 2. Student generator step (eqs. 4-6): G_A2B and G_B2A, on unpaired target RGB.
        if self.ablation == "none":
            rgb_t = tf.cast(data["target_rgb"], tf.float32)
            with tf.GradientTape() as tape:
                fake_s = self.g_a2b(rgb_t, training=True)
                rec = self.g_b2a(fake_s, training=True)
                cycle = losses.cycle_loss(rgb_t, rec)
                loss_s = (losses.lsgan_generator_loss(self.d_depth(fake_s, training=True))
                          + losses.lsgan_generator_loss(self.d_rgb(rec, training=True))
                          + cfg.lambda_cycle * cycle)
                scaled = self._scaled(self.student_optimizer, loss_s)
            self._apply(self.student_optimizer, tape, scaled, self._student_variables())
            logs["student_g_loss"], logs["cycle_loss"] = loss_s, cycle

        # 3. Discriminator step on pooled fakes (generated before the G updates above).
        if self.ablation != "a2b_only":
            pooled_t = self.teacher_pool(tf.stop_gradient(fake_t))
            if self.ablation == "none":
                pooled_s = self.student_pool(tf.stop_gradient(fake_s))
                pooled_rec = self.rec_pool(tf.stop_gradient(rec))
                real_rgb = rgb_s if cfg.d_rgb_real == "source" else rgb_t
            with tf.GradientTape() as tape:
                real_score = self.d_depth(depth_s, training=True)
                loss_d = losses.lsgan_discriminator_loss(
                    real_score, self.d_depth(pooled_t, training=True))
                if self.ablation == "none":
                    loss_d += losses.lsgan_discriminator_loss(
                        real_score, self.d_depth(pooled_s, training=True))
                    loss_d += losses.lsgan_discriminator_loss(
                        self.d_rgb(real_rgb, training=True), self.d_rgb(pooled_rec, training=True))
                scaled = self._scaled(self.disc_optimizer, loss_d)
            self._apply(self.disc_optimizer, tape, scaled, self._disc_variables())
            logs["disc_loss"] = loss_d

        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}

    def test_step(self, data):
        """TS-GAN Table 1 depth metrics of G_A2B on [0, 1] depth over the valid mask."""
        pred = depth_to_unit(self.g_a2b(tf.cast(data["rgb"], tf.float32), training=False))
        gt = depth_to_unit(data["depth"])
        mask = tf.cast(data["mask"], tf.bool)
        values = metrics.batch_depth_metrics(pred, gt, mask)
        has_pixels = tf.cast(values["valid_pixels"] > 0, tf.float32)   # skip empty masks
        for name in _EVAL_NAMES:
            value = tf.where(has_pixels > 0, values[name], 0.0)
            self.eval_trackers[name].update_state(value, sample_weight=has_pixels)
        return {name: self.eval_trackers[name].result() for name in _EVAL_NAMES}
