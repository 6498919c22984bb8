"""Cross-task knowledge distillation for single depth super-resolution (Sun, Ye, Li, Li, Wang,
Xu, CVPR 2021; the authors' README calls it "Cross-Task Knowledge Transfer"). No code was
published; the block diagram (``mainnet.png``) is the only primary source. Every choice the
figure leaves open is a field of :class:`DSRConfig` and is listed in BUILD_NOTES.md.

- :class:`DSRNet` (the only network used at test time): LR depth -> conv block -> N DBPN
  blocks (an up-projection to HR, then, between blocks, a down-projection back to LR) ->
  conv block -> HR depth. Stage features F_sr^i are the HR up-projection outputs, so they
  align with DENet's.
- :class:`DENet`: HR RGB -> conv block -> N residual blocks (``depthlab.layers.ResnetBlock``)
  -> conv block -> HR depth, the same channel width as DSRNet.
- :class:`SideOutputHeads`: one 3x3 conv per stage -> a per-stage depth map.
- :class:`SPNet`: uncertainty-weighted fusion of F_sr^N and F_de^N, then a structure CNN ->
  structure map S.
- :class:`CrossTaskDistiller`: the trainer (one ``keras.Model``). Stage 1 trains both nets
  independently; stage 2 exchanges roles (Algorithm 1): the teacher is chosen at the start
  of every epoch from the previous epoch's mean errors and held for the epoch
  (``role_granularity='batch'``: on every batch, inside the compiled step).

Depth convention: the networks see depth normalised per image by the LR input's range,
x = (d - lo) / (hi - lo), lo/hi = min/max of the LR depth (:func:`normalize_depth`); HR
targets use the same lo/hi. The trainer takes metres and normalises inside the step;
:meth:`CrossTaskDistiller.super_resolve` maps LR metres to HR metres. RGB is float [0, 1].
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import keras
import tensorflow as tf
from keras import layers

from depthlab import losses
from depthlab.layers import DownProjection, ResnetBlock, UpProjection, dbpn_setting

_PACKAGE = "depthlab"

# the choices, declared once in the TF-free options module (the flags' --help needs them)
from depthlab.runners.dsr_options import (  # noqa: E402,F401
    PRESETS, ROLE_GRANULARITIES, SCALES, TEACHER_MODES)

MIN_RANGE_M = 0.01           # normalisation range floor for a flat LR patch (metres)


@dataclasses.dataclass
class DSRConfig:
    """Model and loss hyper-parameters. 'paper' values marked (choice) are not in the paper."""

    preset: str = "paper"
    scale: int = 4
    filters: int = 64            # DSRNet/DENet width (port choice; BUILD_NOTES, DSR)
    n_blocks: int = 4            # N (choice: DBPN-M depth; the figure shows "N")
    residual: bool = True        # D_sr = bicubic(D_lr) + network output (choice)
    spnet_filters: int = 32      # structure CNN width (choice)
    spnet_layers: int = 3        # structure CNN convs (choice)
    fusion_temperature: float = 0.05  # w = softmax(-U / T) over the two nets (choice)
    affinity_grid: int = 16      # pooled grid of the affinity matrices (choice)
    affinity_weight: float = 1.0  # L_distill = L_P + affinity_weight * L_A (choice)
    side_weight: float = 1.0     # deep supervision of side outputs vs HR in L_task (choice)
    rho1: float = 0.1            # L_struc weight (choice; unknown in the paper)
    rho2: float = 0.1            # L_distill weight (choice; unknown in the paper)
    teacher_mode: str = "frozen"  # 'frozen': the teacher is fixed in its step (Algorithm 1)
    role_granularity: str = "epoch"  # the teacher is chosen per epoch (Algorithm 1) / 'batch'
    learning_rate: float = 1e-4  # Adam (choice: usual in this group's DSR work, unverified)
    beta_1: float = 0.9
    beta_2: float = 0.999

    def __post_init__(self):
        dbpn_setting(self.scale)
        if self.teacher_mode not in TEACHER_MODES:
            raise ValueError(f"teacher_mode={self.teacher_mode!r} is not one of {TEACHER_MODES}")
        if self.role_granularity not in ROLE_GRANULARITIES:
            raise ValueError(f"role_granularity={self.role_granularity!r} is not one of "
                             f"{ROLE_GRANULARITIES}")
        for name in ("filters", "n_blocks", "spnet_filters", "spnet_layers", "affinity_grid"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"DSRConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.fusion_temperature <= 0:
            raise ValueError(f"fusion_temperature must be > 0, got {self.fusion_temperature}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DSRConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def dsr_config(preset: str = "paper", **overrides) -> DSRConfig:
    """'paper': width 64 (port choice; BUILD_NOTES, DSR), N = 4; 'demo': width 32, N = 2, for CPUs."""
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not one of {PRESETS}")
    base = dict(preset=preset)
    if preset == "demo":
        base.update(filters=32, n_blocks=2, spnet_filters=16, learning_rate=5e-4)
    base.update(overrides)
    return DSRConfig(**base)


# ----------------------------------------------------------------------------------------
# Depth normalisation (the networks' input convention)
# ----------------------------------------------------------------------------------------

def normalize_depth(lr_m, min_range: float = MIN_RANGE_M):
    """Per-image LR range: returns (x, lo, hi) with x = (lr - lo) / (hi - lo), (B,1,1,1) lo/hi.

    hi - lo is floored at ``min_range`` metres so a flat patch does not divide by zero.
    """
    lr = tf.cast(lr_m, tf.float32)
    lo = tf.reduce_min(lr, axis=[1, 2, 3], keepdims=True)
    hi = tf.maximum(tf.reduce_max(lr, axis=[1, 2, 3], keepdims=True), lo + min_range)
    return (lr - lo) / (hi - lo), lo, hi


def to_normalized(depth_m, lo, hi):
    return (tf.cast(depth_m, tf.float32) - lo) / (hi - lo)


def from_normalized(x, lo, hi):
    return tf.cast(x, tf.float32) * (hi - lo) + lo


# ----------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package=_PACKAGE)
class BicubicUpsample(layers.Layer):
    """(B, h, w, C) -> (B, h*scale, w*scale, C), ``tf.image.resize`` bicubic (float32)."""

    def __init__(self, scale: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        size = tf.shape(x)[1:3] * self.scale
        return tf.image.resize(tf.cast(x, tf.float32), size, method="bicubic")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n * self.scale  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


def _conv_prelu(filters, kernel, name):
    return [layers.Conv2D(filters, kernel, padding="same", name=f"{name}_conv"),
            layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25),
                         name=f"{name}_prelu")]


def _track(owner, prefix, items):
    """Also sets each layer of a list as an attribute, so that ``tf.train.Checkpoint`` (which
    does not see Keras 3's layer lists) saves and restores it by name."""
    for i, item in enumerate(items):
        setattr(owner, f"{prefix}_{i}", item)
    return items


def _apply(seq, x):
    for layer in seq:
        x = layer(x)
    return x


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DSRNet(keras.Model):
    """LR depth (B, h, w, 1), normalised -> {'depth': (B, h*s, w*s, 1), 'features': [F^1..F^N]}.

    Conv block: 3x3 conv + PReLU, 1x1 conv + PReLU (DBPN's feature extraction). Block i:
    H_i = UpProjection(L_{i-1}); L_i = DownProjection(H_i) for i < N. F^i = H_i (HR).
    Conv block: 3x3 conv + PReLU, 3x3 conv to 1 channel (float32); plus the bicubic
    upsampled input when ``residual``.
    """

    def __init__(self, scale: int = 4, filters: int = 64, n_blocks: int = 4,
                 residual: bool = True, name: str = "dsrnet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale, self.filters, self.n_blocks = int(scale), int(filters), int(n_blocks)
        self.residual = bool(residual)
        dbpn_setting(self.scale)
        self.head = _track(self, "head", _conv_prelu(self.filters, 3, "head")
                           + _conv_prelu(self.filters, 1, "head1x1"))
        self.ups = _track(self, "up", [UpProjection(self.filters, self.scale, name=f"up{i + 1}")
                                       for i in range(self.n_blocks)])
        self.downs = _track(self, "down", [DownProjection(self.filters, self.scale,
                                                          name=f"down{i + 1}")
                                           for i in range(self.n_blocks - 1)])
        self.tail = _track(self, "tail", _conv_prelu(self.filters, 3, "tail"))
        self.out_conv = layers.Conv2D(1, 3, padding="same", dtype="float32", name="out")
        self.upsample = BicubicUpsample(self.scale, name="bicubic")

    def call(self, lr, training=False):
        x = _apply(self.head, lr)
        feats = []
        for i, up in enumerate(self.ups):
            h = up(x)
            feats.append(h)
            if i < len(self.downs):
                x = self.downs[i](h)
        out = self.out_conv(_apply(self.tail, feats[-1]))
        if self.residual:
            out = out + self.upsample(lr)
        return {"depth": out, "features": feats}

    def get_config(self):
        return {"scale": self.scale, "filters": self.filters, "n_blocks": self.n_blocks,
                "residual": self.residual, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DENet(keras.Model):
    """HR RGB (B, H, W, 3) in [0, 1] -> {'depth': (B, H, W, 1), 'features': [F^1..F^N]}.

    Conv block (3x3 conv + PReLU), N ``ResnetBlock``s (the project's residual block: reflect
    pad, conv, IN, ReLU, conv, IN, + x), conv block (3x3 conv + PReLU, 3x3 conv to 1, float32).
    """

    def __init__(self, filters: int = 64, n_blocks: int = 4, name: str = "denet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.filters, self.n_blocks = int(filters), int(n_blocks)
        self.head = _track(self, "head", _conv_prelu(self.filters, 3, "head"))
        self.blocks = _track(self, "block", [ResnetBlock(self.filters, name=f"res{i + 1}")
                                             for i in range(self.n_blocks)])
        self.tail = _track(self, "tail", _conv_prelu(self.filters, 3, "tail"))
        self.out_conv = layers.Conv2D(1, 3, padding="same", dtype="float32", name="out")

    def call(self, rgb, training=False):
        x = _apply(self.head, rgb)
        feats = []
        for block in self.blocks:
            x = block(x, training=training)
            feats.append(x)
        return {"depth": self.out_conv(_apply(self.tail, x)), "features": feats}

    def get_config(self):
        return {"filters": self.filters, "n_blocks": self.n_blocks, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SideOutputHeads(keras.Model):
    """Per-stage depth predictions: one 3x3 conv (float32) to 1 channel per stage feature."""

    def __init__(self, n_stages: int, name: str = "side_heads", **kwargs):
        super().__init__(name=name, **kwargs)
        self.n_stages = int(n_stages)
        self.convs = _track(self, "side", [
            layers.Conv2D(1, 3, padding="same", dtype="float32", name=f"side{i + 1}")
            for i in range(self.n_stages)])

    def call(self, features):
        if len(features) != self.n_stages:
            raise ValueError(f"SideOutputHeads({self.n_stages}) got {len(features)} features")
        return [conv(f) for conv, f in zip(self.convs, features)]

    def get_config(self):
        return {"n_stages": self.n_stages, "name": self.name}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SPNet(keras.Model):
    """Structure prediction: uncertainty fusion, then a structure CNN -> S (B, H, W, 1).

    U_sr = |D_sr - D_hr|, U_de = |D_de - D_hr| (no gradient); per pixel
    (w_sr, w_de) = softmax(-U_sr / T, -U_de / T): the more accurate net's feature dominates.
    F = w_sr F_sr^N + w_de F_de^N; S = conv3x3 (linear, float32) after
    ``layers - 1`` conv3x3 + PReLU.
    """

    def __init__(self, filters: int = 32, n_layers: int = 3, temperature: float = 0.05,
                 name: str = "spnet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.filters, self.n_layers = int(filters), int(n_layers)
        self.temperature = float(temperature)
        self.body = []
        for i in range(self.n_layers - 1):
            self.body += _conv_prelu(self.filters, 3, f"s{i + 1}")
        _track(self, "body", self.body)
        self.out_conv = layers.Conv2D(1, 3, padding="same", dtype="float32", name="structure")

    @staticmethod
    def fusion_weights(u_sr, u_de, temperature):
        logits = tf.stack([-tf.cast(u_sr, tf.float32), -tf.cast(u_de, tf.float32)], 0) / temperature
        w = tf.nn.softmax(logits, axis=0)
        return w[0], w[1]

    def call(self, inputs):
        f_sr, f_de, u_sr, u_de = inputs
        w_sr, w_de = self.fusion_weights(tf.stop_gradient(u_sr), tf.stop_gradient(u_de),
                                         self.temperature)
        fused = tf.cast(w_sr, f_sr.dtype) * f_sr + tf.cast(w_de, f_de.dtype) * f_de
        return self.out_conv(_apply(self.body, fused))

    def get_config(self):
        return {"filters": self.filters, "n_layers": self.n_layers,
                "temperature": self.temperature, "name": self.name}


def build_dsrnet(cfg: DSRConfig) -> DSRNet:
    return DSRNet(cfg.scale, cfg.filters, cfg.n_blocks, cfg.residual)


def build_denet(cfg: DSRConfig) -> DENet:
    return DENet(cfg.filters, cfg.n_blocks)


# ----------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------

def apply_gradients_if(pred, optimizer, tape, loss, variables) -> None:
    """``optimizer.apply_gradients(tape.gradient(loss, variables))`` iff ``pred`` (a bool
    scalar with the same value on every replica); the gradient is computed only then.

    Under a Mirrored/MultiWorkerMirrored strategy a ``tf.cond`` in replica context may not
    contain a synchronisation (the gradient all-reduce, the mirrored-variable update), so the
    cond runs in cross-replica context (``merge_call``) and its branch re-enters every replica
    (``call_for_each_replica``) with that replica's tape and loss: the pattern of Keras'
    LossScaleOptimizer. Under the default strategy this is a plain ``tf.cond``.
    """
    def step(tape, loss):
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])

    def cross_replica(strategy, pred, tape, loss):
        def run():
            strategy.extended.call_for_each_replica(step, args=(tape, loss))
            return tf.constant(True)
        tf.cond(strategy.experimental_local_results(pred)[0], run, lambda: tf.constant(False))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(pred, tape, loss))


ROLE_STAGE1, ROLE_DE_TEACHER, ROLE_DSR_TEACHER = -1.0, 0.0, 1.0
_LOSS_NAMES = ("loss_dsr", "loss_de", "loss_struc", "loss_distill", "e_dsr", "e_de",
               "dsr_teacher_fraction")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CrossTaskDistiller(keras.Model):
    """DSRNet + DENet + side heads + SPNet with the two-stage schedule of Sun et al. (2021).

    Batches are dicts: ``lr`` (B, h, w, 1) and ``hr`` (B, h*s, w*s, 1) depth in metres
    (hole-free), ``mask`` (B, H, W, 1) valid HR pixels, ``rgb`` (B, H, W, 3) in [0, 1].

    ``stage`` (a variable, set by the runner at epoch boundaries) selects the step in the
    graph (no Python branching):

    - stage 1: L_DSR + side and L_DE + side, each net on its own optimizer (independent
      pretraining).
    - stage 2 (Algorithm 1, text lines 5-12): e_dsr = mean|D_sr - D_hr|, e_de =
      mean|D_de - D_hr| (eqs. 1, 2; valid pixels, normalised depth; under a strategy the
      global batch, all-reduced, see :meth:`dsr_teaches`). "if e_dsr < e_de then fix DSRNet
      and update DENet, else fix DENet and update DSRNet" (lines 9-12; a tie goes to the else
      branch). ``role_granularity='epoch'`` (default): the loop of Algorithm 1 runs over
      epochs (line 7) and computes the average errors once per iteration (line 8), so the
      teacher is chosen at the start of each epoch by :meth:`begin_epoch` from the mean of
      the previous epoch's per-step errors (which data the averages use is not in the text:
      the previous epoch's training batches, at no extra cost) and held for the whole epoch;
      ``'batch'``: chosen on each batch's errors (the former rule). The student minimises
      L_task(student) + rho1 L_struc + rho2 L_distill(student <- stop_gradient(teacher));
      SPNet minimises L_struc. ``teacher_mode='frozen'`` leaves the teacher's variables
      untouched ("Fix DSRNet", line 10); ``'task'`` also steps the teacher on its own
      L_task + rho1 L_struc (never on L_distill). Each optimizer step is conditional
      (:func:`apply_gradients_if`), the forward pass and the losses are not (see
      :meth:`train_step`).

    Per step the logs carry ``role`` (1: DSRNet teaches, 0: DENet teaches, -1: stage 1),
    ``e_dsr``/``e_de`` of the step, and epoch means of the losses.
    """

    def __init__(self, config: DSRConfig | dict | str = "paper", **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = DSRConfig.from_dict(config)
        elif isinstance(config, str):
            config = dsr_config(config)
        self.config = config
        cfg = config
        self.dsrnet = build_dsrnet(cfg)
        self.denet = build_denet(cfg)
        self.dsr_heads = SideOutputHeads(cfg.n_blocks, name="dsr_side_heads")
        self.de_heads = SideOutputHeads(cfg.n_blocks, name="de_side_heads")
        self.spnet = SPNet(cfg.spnet_filters, cfg.spnet_layers, cfg.fusion_temperature)
        self.stage = tf.Variable(1, dtype=tf.int32, trainable=False, name="stage")
        # role_granularity='epoch': the teacher of the current epoch (1: DSRNet, 0: DENet)
        # and the running [sum e_dsr, sum e_de, steps] of the epoch (global-batch errors, the
        # same on every replica: the first replica's write is kept)
        self.epoch_teacher = tf.Variable(1, dtype=tf.int32, trainable=False,
                                         name="epoch_teacher")
        self.epoch_errors = tf.Variable(
            tf.zeros(3), trainable=False, name="epoch_errors",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in _LOSS_NAMES}
        self._build_all()

    def _build_all(self):
        s, f = self.config.scale, self.config.filters
        lr = tf.zeros((1, 2, 2, 1))
        out_sr = self.dsrnet(lr)
        out_de = self.denet(tf.zeros((1, 2 * s, 2 * s, 3)))
        self.dsr_heads(out_sr["features"])
        self.de_heads(out_de["features"])
        u = tf.zeros((1, 2 * s, 2 * s, 1))
        self.spnet((out_sr["features"][-1], out_de["features"][-1], u, u))
        del f

    # -- variables and optimizers -----------------------------------------------------------
    def dsr_variables(self):
        return self.dsrnet.trainable_variables + self.dsr_heads.trainable_variables

    def de_variables(self):
        return self.denet.trainable_variables + self.de_heads.trainable_variables

    def compile(self, dsr_optimizer=None, de_optimizer=None, sp_optimizer=None, **kwargs):
        """One Adam (or any optimizer) per network; none at all compiles for inference."""
        super().compile(**kwargs)
        opts = dict(dsr=dsr_optimizer, de=de_optimizer, sp=sp_optimizer)
        if all(o is None for o in opts.values()):
            self.dsr_optimizer = self.de_optimizer = self.sp_optimizer = None
            return
        missing = [k for k, o in opts.items() if o is None]
        if missing:
            raise ValueError(f"CrossTaskDistiller.compile: missing {missing} optimizer(s)")
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            opts = {k: (o if isinstance(o, keras.optimizers.LossScaleOptimizer)
                        else keras.optimizers.LossScaleOptimizer(o)) for k, o in opts.items()}
        self.dsr_optimizer, self.de_optimizer, self.sp_optimizer = opts["dsr"], opts["de"], opts["sp"]
        self.dsr_optimizer.build(self.dsr_variables())
        self.de_optimizer.build(self.de_variables())
        self.sp_optimizer.build(self.spnet.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        config = super().get_config()
        config.update({"config": self.config.to_dict()})
        return config

    # -- inference ------------------------------------------------------------------------
    def call(self, lr_normalized, training=False):
        return self.dsrnet(lr_normalized, training=training)["depth"]

    def super_resolve(self, lr_m):
        """LR depth in metres (B, h, w, 1) -> HR depth in metres (B, h*s, w*s, 1) (DSRNet)."""
        x, lo, hi = normalize_depth(lr_m)
        return from_normalized(self.dsrnet(x, training=False)["depth"], lo, hi)

    # -- losses -----------------------------------------------------------------------------
    def _forward(self, data, with_spnet: bool):
        cfg = self.config
        x, lo, hi = normalize_depth(data["lr"])
        hr = to_normalized(data["hr"], lo, hi)
        mask = tf.cast(data["mask"], tf.float32)
        rgb = tf.cast(data["rgb"], tf.float32)
        sr = self.dsrnet(x, training=True)
        de = self.denet(rgb, training=True)
        sr_side = self.dsr_heads(sr["features"])
        if cfg.residual:      # DSRNet's side outputs refine bicubic, as its main output does
            up = self.dsrnet.upsample(x)
            sr_side = [o + up for o in sr_side]
        de_side = self.de_heads(de["features"])
        e_dsr = losses.l1_loss(sr["depth"], hr, mask)
        e_de = losses.l1_loss(de["depth"], hr, mask)
        side = lambda outs: tf.add_n([losses.l1_loss(o, hr, mask) for o in outs]) / len(outs)  # noqa: E731
        out = dict(hr=hr, mask=mask, sr=sr, de=de, sr_side=sr_side, de_side=de_side,
                   e_dsr=e_dsr, e_de=e_de,
                   task_dsr=e_dsr + cfg.side_weight * side(sr_side),
                   task_de=e_de + cfg.side_weight * side(de_side))
        if with_spnet:
            u_sr = tf.abs(sr["depth"] - hr)
            u_de = tf.abs(de["depth"] - hr)
            s_map = self.spnet((sr["features"][-1], de["features"][-1], u_sr, u_de))
            out["s_map"] = s_map
            out["struc"] = losses.structure_loss(s_map, hr, mask)
        return out

    def _distill(self, f, dsr_teaches: bool):
        cfg = self.config
        if dsr_teaches:
            return losses.cross_task_distillation_loss(
                f["de_side"], f["sr_side"], f["de"]["features"], f["sr"]["features"],
                f["mask"], cfg.affinity_grid, cfg.affinity_weight)
        return losses.cross_task_distillation_loss(
            f["sr_side"], f["de_side"], f["sr"]["features"], f["de"]["features"],
            f["mask"], cfg.affinity_grid, cfg.affinity_weight)

    @staticmethod
    def global_errors(e_dsr, e_de):
        """(e_dsr, e_de) of the *global* batch (``losses.replica_mean`` of each replica's
        masked mean), without gradient: the same on every replica of a tf.distribute
        strategy, so every replica takes the one-device branch."""
        return tuple(tf.stop_gradient(losses.replica_mean(e)) for e in (e_dsr, e_de))

    @staticmethod
    def dsr_teaches(e_dsr, e_de):
        """Algorithm 1, line 9: DSRNet teaches iff e_dsr < e_de (a tie: DENet teaches),
        compared on the global batch's errors (:meth:`global_errors`)."""
        e_dsr, e_de = CrossTaskDistiller.global_errors(e_dsr, e_de)
        return e_dsr < e_de

    def begin_epoch(self) -> Optional[Dict[str, float]]:
        """Called at the start of every epoch (eagerly, by the runner's ``StageSchedule``):
        with ``role_granularity='epoch'`` the teacher of the coming epoch becomes the net
        with the lower mean error over the previous epoch's steps (Algorithm 1, lines 8-12),
        and the running sums restart. Returns the previous epoch's means and the teacher
        chosen (None when no step has run since the last call, e.g. the first epoch; the
        teacher is then kept)."""
        sums = self.epoch_errors.numpy()
        self.epoch_errors.assign(tf.zeros(3))
        if sums[2] <= 0:
            return None
        mean_dsr, mean_de = float(sums[0] / sums[2]), float(sums[1] / sums[2])
        self.epoch_teacher.assign(1 if mean_dsr < mean_de else 0)
        return dict(mean_e_dsr=mean_dsr, mean_e_de=mean_de, steps=int(sums[2]),
                    dsr_teaches=bool(mean_dsr < mean_de))

    @staticmethod
    def _scaled(optimizer, loss):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def _net_losses(self, f, stage1, dsr_teaches):
        """What each net minimises this step (one tf.where per net, so that a single gradient
        call per net covers every case): stage 1 its L_task; stage 2 the student's
        L_task + rho1 L_struc + rho2 L_distill(<- teacher), the teacher's L_task + rho1 L_struc
        (stepped in 'task' mode only). Also the distillation loss actually used."""
        cfg = self.config
        to_de = self._distill(f, dsr_teaches=True)      # DENet learns from DSRNet
        to_dsr = self._distill(f, dsr_teaches=False)    # DSRNet learns from DENet
        struc = f["struc"]
        student = lambda task, distill: task + cfg.rho1 * struc + cfg.rho2 * distill  # noqa: E731
        l_dsr = tf.where(stage1, f["task_dsr"], tf.where(
            dsr_teaches, f["task_dsr"] + cfg.rho1 * struc, student(f["task_dsr"], to_dsr)))
        l_de = tf.where(stage1, f["task_de"], tf.where(
            dsr_teaches, student(f["task_de"], to_de), f["task_de"] + cfg.rho1 * struc))
        return l_dsr, l_de, tf.where(dsr_teaches, to_de, to_dsr)

    def train_step(self, data):
        """Stage 1 or 2 by ``self.stage`` (see the class docstring). The forward pass (SPNet
        included, also in stage 1) and the losses run unconditionally; only the optimizer
        steps are conditional (:func:`apply_gradients_if`), since under tf.distribute a
        branch of ``tf.cond`` may not synchronise replicas (the masked means' all-reduce)."""
        if self.dsr_optimizer is None:
            raise ValueError("CrossTaskDistiller: compile(dsr_optimizer=..., de_optimizer=..., "
                             "sp_optimizer=...) before fit()")
        stage1 = tf.equal(self.stage, 1)
        with tf.GradientTape(persistent=True) as tape:
            f = self._forward(data, with_spnet=True)
            g_dsr, g_de = self.global_errors(f["e_dsr"], f["e_de"])
            if self.config.role_granularity == "batch":
                dsr_teaches = g_dsr < g_de
            else:                                    # held for the epoch (begin_epoch)
                dsr_teaches = tf.equal(self.epoch_teacher, 1)
            l_dsr, l_de, distill = self._net_losses(f, stage1, dsr_teaches)
            s_dsr = self._scaled(self.dsr_optimizer, losses.replica_share(l_dsr))
            s_de = self._scaled(self.de_optimizer, losses.replica_share(l_de))
            s_sp = self._scaled(self.sp_optimizer, losses.replica_share(f["struc"]))
        task_mode = tf.constant(self.config.teacher_mode == "task")
        stage2 = tf.logical_not(stage1)
        steps = (
            (tf.logical_or(stage1, tf.logical_or(tf.logical_not(dsr_teaches), task_mode)),
             self.dsr_optimizer, s_dsr, self.dsr_variables()),
            (tf.logical_or(stage1, tf.logical_or(dsr_teaches, task_mode)),
             self.de_optimizer, s_de, self.de_variables()),
            (stage2, self.sp_optimizer, s_sp, self.spnet.trainable_variables))
        for pred, optimizer, loss, variables in steps:
            apply_gradients_if(pred, optimizer, tape, loss, variables)
        del tape
        self.epoch_errors.assign_add(tf.stack([g_dsr, g_de, 1.0]))
        zero = tf.constant(0.0)
        struc, distill = tf.where(stage1, zero, f["struc"]), tf.where(stage1, zero, distill)
        e_dsr, e_de = g_dsr, g_de
        role = tf.where(stage1, ROLE_STAGE1,
                        tf.where(dsr_teaches, ROLE_DSR_TEACHER, ROLE_DE_TEACHER))
        l_dsr, l_de = f["task_dsr"], f["task_de"]
        for name, v in (("loss_dsr", l_dsr), ("loss_de", l_de), ("e_dsr", e_dsr),
                        ("e_de", e_de)):
            self.trackers[name].update_state(v)
        in_stage2 = tf.cast(role >= 0.0, tf.float32)
        self.trackers["loss_struc"].update_state(struc, sample_weight=in_stage2)
        self.trackers["loss_distill"].update_state(distill, sample_weight=in_stage2)
        self.trackers["dsr_teacher_fraction"].update_state(
            tf.cast(role > 0.5, tf.float32), sample_weight=in_stage2)
        logs = {name: t.result() for name, t in self.trackers.items()}
        logs.update(role=role, step_e_dsr=e_dsr, step_e_de=e_de, stage=tf.cast(self.stage, tf.float32))
        return logs
