"""TS-GAN: Teacher-Student Adversarial Depth Hallucination (Uppal et al., ICCV 2021).

- ``build_generator(preset)``: the paper-neutral ``depthlab.nets.resnet_gan.ResnetGenerator``
  with the preset's layout: c7s1-64, d128, d256, N residual blocks, u128, u64, c7s1-C + tanh
  (the authors' ``module.py``; code 9 blocks, paper 6).
- ``build_discriminator(preset)``: ``depthlab.nets.resnet_gan.PatchDiscriminator``, k4 convs
  + IN + LeakyReLU(0.2) (code: no IN on the first) and a final 1-map conv (code: s1; paper:
  l. 536-541, IN on every conv, s2).
- ``TSGAN``: the train step as a ``keras.Model`` with ``compile(teacher_optimizer,
  student_optimizer, disc_optimizer[, d_rgb_optimizer])``. 'paper' preset: Algorithm 1's
  order (teacher G, D_depth, student G, D_RGB); 'code': teacher G, student G, one joint D
  step on pooled fakes (the authors' ``train_tsgan.py``).

Images travel in [-1, 1]; depth is (B, H, W, 1) in [-1, 1] with a (B, H, W, 1) valid mask
and is replicated to ``depth_channels`` where the networks need it.
"""

from __future__ import annotations

from typing import Dict, Optional

import keras
import tensorflow as tf

from data_pipelines.conventions import tanh_depth_to_unit
from data_pipelines.landmark_heatmaps import NUM_MAPS as NUM_LANDMARK_MAPS
from depthlab import losses, metrics
from depthlab.configs import TSGANConfig, tsgan_config
from depthlab.layers import ImagePool
from depthlab.nets.resnet_gan import PatchDiscriminator, ResnetGenerator

_PACKAGE = "depthlab"


def _as_config(preset) -> TSGANConfig:
    return preset if isinstance(preset, TSGANConfig) else tsgan_config(preset)


def build_generator(preset="code", input_channels: int = 3, output_channels: Optional[int] = None,
                    image_size: Optional[int] = None, name: str = "g_a2b",
                    aux_channels: int = 0) -> ResnetGenerator:
    """The generator of a preset name or config. ``output_channels`` defaults to the preset's
    depth channels (G_A2B); pass 3 for G_B2A. ``aux_channels``: G_A2B's landmark head."""
    cfg = _as_config(preset)
    return ResnetGenerator(image_size=image_size or cfg.image_size, input_channels=input_channels,
                           output_channels=output_channels or cfg.depth_channels,
                           filters=cfg.gen_filters, n_downsamplings=cfg.gen_downsamplings,
                           n_blocks=cfg.gen_blocks, upsample=cfg.gen_upsample, name=name,
                           aux_channels=aux_channels)


def build_discriminator(preset="code", input_channels: int = 3, image_size: Optional[int] = None,
                        name: str = "d_depth") -> PatchDiscriminator:
    """The discriminator of a preset name or config (D_depth and D_RGB share the layout)."""
    cfg = _as_config(preset)
    return PatchDiscriminator(image_size=image_size or cfg.image_size,
                              input_channels=input_channels, filters=cfg.disc_filters,
                              strides=cfg.disc_strides, first_norm=cfg.disc_first_norm,
                              final_stride=cfg.disc_final_stride,
                              final_norm=cfg.disc_final_norm, name=name)


PRESETS = ("code", "paper", "demo")
from depthlab.configs import TSGAN_ABLATIONS as ABLATIONS  # noqa: E402 (TF-free, for the flags)

_LOSS_NAMES = ("teacher_g_loss", "teacher_pixel_loss", "student_g_loss", "cycle_loss",
               "disc_loss", "d_depth_loss", "d_rgb_loss", "landmark_loss")
_EVAL_NAMES = ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3", "abs_rel", "log10")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TSGAN(keras.Model):
    """Teacher-student GAN (paper Algorithm 1, l. 480-511; the code's variant as a preset).

    With source RGB A_t, source depth B_t, target RGB A_r, w = 1/2 if ``gan_half`` (eqs. 1,
    2, 4, 5 as printed) else 1 (the code), and ``lsgan_d(r, f) = mean((r-1)^2) + mean(f^2)``:
      teacher G:  L_teach = w mean((D_depth(G(A_t)) - 1)^2) + lambda_pixel L1(G(A_t), B_t)
                  (eq. 7 = eq. 1 + lambda_pixel eq. 3) -> teacher optimizer on G_A2B;
                  with ``lambda_gradient`` > 0 (not TS-GAN's; off in every preset) plus
                  lambda_gradient x ``losses.gradient_l1_loss(G(A_t), B_t)``; with
                  ``lambda_landmark`` > 0 (not TS-GAN's; the demo preset only) G_A2B has a
                  landmark head (``ResnetGenerator.with_aux``) and L_teach adds
                  lambda_landmark x ``losses.heatmap_loss`` of its maps to the batch's
                  ``landmarks`` (``data_pipelines.landmark_heatmaps``);
      student G:  L_student = w mean((D_depth(G(A_r)) - 1)^2) + w mean((D_RGB(F(G(A_r))) - 1)^2)
                  + lambda_cyc L1(A_r, F(G(A_r)))   (eq. 8; its L_GA2B is eq. 1 on A_r: "fed to
                  the discriminator in the teacher network stream", l. 463-466) -> student
                  optimizer on G_A2B and G_B2A;
      D_depth:    w lsgan_d(D_depth(B_t), D_depth(pool(teacher fake)))   (eq. 2);
      D_RGB:      w lsgan_d(D_RGB(A_r), D_RGB(pool(F(G(A_r)))))          (eq. 5).
    ``update_order='algorithm1'`` (paper): teacher G, D_depth (``disc_optimizer``), student
    G, D_RGB (``d_rgb_optimizer``), each step seeing the previous steps' updates; with
    ``regenerate_fakes`` a D step judges fakes from the generator as just updated.
    ``update_order='code'`` (the authors' ``train_tsgan.py``): teacher G, student G, then one joint D step
    with ``disc_optimizer`` on the fakes of the G steps (from before their updates), D_depth
    also on pooled student fakes when ``d_depth_student_fakes``; D_RGB's real images are
    ``d_rgb_real`` (code: source RGB).
    Ablations (paper Table 5): 'teacher_only' drops the student and D_RGB; 'a2b_only' trains
    G_A2B with the pixel loss alone (no discriminator).
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
        self.gan_weight = 0.5 if cfg.gan_half else 1.0
        self.landmark_weight = None          # compile(landmark_weight=...): a schedule
        self.g_a2b = build_generator(cfg, name="g_a2b",
                                     aux_channels=NUM_LANDMARK_MAPS if cfg.lambda_landmark else 0)
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
                d_rgb_optimizer=None, landmark_weight=None, **kwargs):
        """Takes the optimizers of Algorithm 1 (they may share no slot variables).

        ``disc_optimizer`` trains both discriminators in the code order and D_depth alone in
        the 'algorithm1' order, where ``d_rgb_optimizer`` trains D_RGB (the paper's student
        learning rate; pass it only then). Under the ``mixed_float16`` policy each is wrapped
        in a LossScaleOptimizer, since Keras only auto-scales ``self.optimizer``. With no
        optimizer at all the model is compiled for ``evaluate``/``predict`` only.
        ``landmark_weight``: the landmark term's weight as a schedule of the teacher step
        (e.g. ``schedules.LinearDecay``); default the constant ``lambda_landmark``.
        """
        super().compile(**kwargs)
        self.landmark_weight = landmark_weight
        opts = dict(teacher=teacher_optimizer, student=student_optimizer, disc=disc_optimizer,
                    d_rgb=d_rgb_optimizer)
        if all(o is None for o in opts.values()):
            self.teacher_optimizer = self.student_optimizer = self.disc_optimizer = None
            self.d_rgb_optimizer = None
            return
        if d_rgb_optimizer is not None and self.config.update_order != "algorithm1":
            raise ValueError("TSGAN.compile: d_rgb_optimizer is only used with "
                             "update_order='algorithm1'; the code order trains both "
                             "discriminators with disc_optimizer")
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            opts = {k: (keras.optimizers.LossScaleOptimizer(o)
                        if o is not None and not isinstance(o, keras.optimizers.LossScaleOptimizer)
                        else o) for k, o in opts.items()}
        self.teacher_optimizer = opts["teacher"]
        self.student_optimizer = opts["student"]
        self.disc_optimizer = opts["disc"]
        self.d_rgb_optimizer = opts["d_rgb"]
        for name, opt in opts.items():
            if opt is None and self._needs(name):
                raise ValueError(f"TSGAN.compile: {name}_optimizer is required for "
                                 f"ablation={self.ablation!r}, "
                                 f"update_order={self.config.update_order!r}")
        # Build slots now so that checkpoints restore them before the first step.
        if self.teacher_optimizer is not None:
            self.teacher_optimizer.build(self.g_a2b.trainable_variables)
        if self.student_optimizer is not None and self._needs("student"):
            self.student_optimizer.build(self._student_variables())
        if self.disc_optimizer is not None and self._needs("disc"):
            self.disc_optimizer.build(self._disc_variables())
        if self.d_rgb_optimizer is not None and self._needs("d_rgb"):
            self.d_rgb_optimizer.build(self.d_rgb.trainable_variables)

    def _needs(self, name: str) -> bool:
        if name == "teacher":
            return True
        if name == "student":
            return self.ablation == "none"
        if name == "d_rgb":
            return self.ablation == "none" and self.config.update_order == "algorithm1"
        return self.ablation != "a2b_only"

    def _student_variables(self):
        """G_A2B (its depth output's variables: the landmark head has no part in eq. 8) and
        G_B2A."""
        return self.g_a2b.main_variables + self.g_b2a.trainable_variables

    def _disc_variables(self):
        """What ``disc_optimizer`` trains: D_depth, plus D_RGB in the code order."""
        if self.ablation == "teacher_only" or self.config.update_order == "algorithm1":
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

    def _gan_g(self, scores):
        """Generator side of eqs. 1 and 4: w * mean((D(fake) - 1)^2)."""
        return self.gan_weight * losses.lsgan_generator_loss(scores)

    def _gan_d(self, real_scores, fake_scores):
        """Eqs. 2 and 5: w * (mean((D(real) - 1)^2) + mean(D(fake)^2))."""
        return self.gan_weight * losses.lsgan_discriminator_loss(real_scores, fake_scores)

    def teacher_generator_step(self, rgb_s, depth_s, mask=None, landmarks=None):
        """Algorithm 1 l. 493-495: L_teach (eq. 7) -> teacher optimizer on G_A2B. With
        ``lambda_landmark`` (not TS-GAN's) and ``landmarks`` (heat maps in [-1, 1]), plus
        lambda_landmark x the landmark head's ``losses.heatmap_loss``.

        Returns (fake depth from before the update, L_teach, L_pixel, L_landmark or None)."""
        with tf.GradientTape() as tape:
            landmark = None
            if landmarks is not None:
                fake_t, heat = self.g_a2b.with_aux(rgb_s, training=True)
                landmark = losses.heatmap_loss(heat, landmarks,
                                               self.config.landmark_foreground_weight)
            else:
                fake_t = self.g_a2b(rgb_s, training=True)
            pixel = losses.pixel_loss(fake_t, depth_s, mask)
            adv_t = (self._gan_g(self.d_depth(fake_t, training=True))
                     if self.ablation != "a2b_only" else tf.constant(0.0))
            loss_t = adv_t + self.config.lambda_pixel * pixel
            if landmark is not None:
                weight = (self.config.lambda_landmark if self.landmark_weight is None
                          else self.landmark_weight(self.teacher_optimizer.iterations))
                loss_t += weight * landmark
            if self.config.lambda_gradient:
                loss_t += self.config.lambda_gradient * losses.gradient_l1_loss(
                    fake_t, depth_s, mask, self.config.gradient_scales)
            scaled = self._scaled(self.teacher_optimizer, loss_t)
        variables = (self.g_a2b.trainable_variables if landmark is not None
                     else self.g_a2b.main_variables)
        self._apply(self.teacher_optimizer, tape, scaled, variables)
        return fake_t, loss_t, pixel, landmark

    def student_generator_step(self, rgb_t):
        """Algorithm 1 l. 500-502: L_student (eq. 8) -> student optimizer on G_A2B, G_B2A.

        Returns (fake depth, reconstruction, both from before the update, L_student, L_cyc)."""
        with tf.GradientTape() as tape:
            fake_s = self.g_a2b(rgb_t, training=True)
            rec = self.g_b2a(fake_s, training=True)
            cycle = losses.cycle_loss(rgb_t, rec)
            loss_s = (self._gan_g(self.d_depth(fake_s, training=True))
                      + self._gan_g(self.d_rgb(rec, training=True))
                      + self.config.lambda_cycle * cycle)
            scaled = self._scaled(self.student_optimizer, loss_s)
        self._apply(self.student_optimizer, tape, scaled, self._student_variables())
        return fake_s, rec, loss_s, cycle

    def d_depth_step(self, depth_s, fake_t):
        """Algorithm 1 l. 496-498: eq. 2 on B_t and pooled teacher fakes -> D_depth only."""
        pooled = self.teacher_pool(tf.stop_gradient(fake_t))
        with tf.GradientTape() as tape:
            loss = self._gan_d(self.d_depth(depth_s, training=True),
                               self.d_depth(pooled, training=True))
            scaled = self._scaled(self.disc_optimizer, loss)
        self._apply(self.disc_optimizer, tape, scaled, self.d_depth.trainable_variables)
        return loss

    def d_rgb_step(self, real_rgb, rec):
        """Algorithm 1 l. 503-505: eq. 5, real A_r, fake pooled G_B2A(G_A2B(A_r)) -> D_RGB."""
        pooled = self.rec_pool(tf.stop_gradient(rec))
        with tf.GradientTape() as tape:
            loss = self._gan_d(self.d_rgb(real_rgb, training=True),
                               self.d_rgb(pooled, training=True))
            scaled = self._scaled(self.d_rgb_optimizer, loss)
        self._apply(self.d_rgb_optimizer, tape, scaled, self.d_rgb.trainable_variables)
        return loss

    def _joint_d_step(self, rgb_s, depth_s, rgb_t, fake_t, fake_s, rec):
        """The code's single D step (authors' ``train_tsgan.py``) on the pooled fakes of both G steps."""
        cfg = self.config
        student = self.ablation == "none"
        pooled_t = self.teacher_pool(tf.stop_gradient(fake_t))
        if student:
            if cfg.d_depth_student_fakes:
                pooled_s = self.student_pool(tf.stop_gradient(fake_s))
            pooled_rec = self.rec_pool(tf.stop_gradient(rec))
            real_rgb = rgb_s if cfg.d_rgb_real == "source" else rgb_t
        with tf.GradientTape() as tape:
            real_score = self.d_depth(depth_s, training=True)
            loss_d = self._gan_d(real_score, self.d_depth(pooled_t, training=True))
            if student:
                if cfg.d_depth_student_fakes:
                    loss_d += self._gan_d(real_score, self.d_depth(pooled_s, training=True))
                loss_d += self._gan_d(self.d_rgb(real_rgb, training=True),
                                      self.d_rgb(pooled_rec, training=True))
            scaled = self._scaled(self.disc_optimizer, loss_d)
        self._apply(self.disc_optimizer, tape, scaled, self._disc_variables())
        return loss_d

    def train_step(self, data):
        cfg = self.config
        rgb_s = tf.cast(data["rgb"], tf.float32)
        depth_s = self._expand_depth(data["depth"])
        mask = (losses.hole_tolerant_mask(data["mask"], cfg.mask_close_px)
                if cfg.mask_pixel_loss else None)
        rgb_t = tf.cast(data["target_rgb"], tf.float32) if self.ablation == "none" else None
        logs: Dict[str, tf.Tensor] = {}
        algorithm1 = cfg.update_order == "algorithm1"

        # (1) Teacher generator step (eq. 7): G_A2B only.
        landmarks = data.get("landmarks") if cfg.lambda_landmark else None
        fake_t, logs["teacher_g_loss"], logs["teacher_pixel_loss"], landmark = (
            self.teacher_generator_step(rgb_s, depth_s, mask, landmarks))
        if landmark is not None:
            logs["landmark_loss"] = landmark

        # (2) Algorithm 1: D_depth on eq. 2, teacher fakes only.
        if algorithm1 and self.ablation != "a2b_only":
            if cfg.regenerate_fakes:
                fake_t = self.g_a2b(rgb_s, training=True)
            logs["d_depth_loss"] = self.d_depth_step(depth_s, fake_t)

        # (3) Student generator step (eq. 8): G_A2B and G_B2A, on unpaired target RGB.
        fake_s = rec = None
        if self.ablation == "none":
            fake_s, rec, logs["student_g_loss"], logs["cycle_loss"] = (
                self.student_generator_step(rgb_t))

        if algorithm1:
            # (4) D_RGB on eq. 5: real target RGB A_r, fake G_B2A(G_A2B(A_r)).
            if self.ablation == "none":
                if cfg.regenerate_fakes:
                    rec = self.g_b2a(self.g_a2b(rgb_t, training=True), training=True)
                real_rgb = rgb_s if cfg.d_rgb_real == "source" else rgb_t
                logs["d_rgb_loss"] = self.d_rgb_step(real_rgb, rec)
        elif self.ablation != "a2b_only":
            logs["disc_loss"] = self._joint_d_step(rgb_s, depth_s, rgb_t, fake_t, fake_s, rec)

        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}

    def test_step(self, data):
        """TS-GAN Table 1 depth metrics of G_A2B on [0, 1] depth over the valid mask."""
        pred = tanh_depth_to_unit(self.g_a2b(tf.cast(data["rgb"], tf.float32), training=False))
        gt = tanh_depth_to_unit(data["depth"])
        mask = tf.cast(data["mask"], tf.bool)
        values = metrics.batch_depth_metrics(pred, gt, mask)
        has_pixels = tf.cast(values["valid_pixels"] > 0, tf.float32)   # skip empty masks
        for name in _EVAL_NAMES:
            value = tf.where(has_pixels > 0, values[name], 0.0)
            self.eval_trackers[name].update_state(value, sample_weight=has_pixels)
        return {name: self.eval_trackers[name].result() for name in _EVAL_NAMES}
