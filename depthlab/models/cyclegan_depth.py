"""Unpaired image -> depth synthesis (Suarez, Carpio, Sappa): CycleGAN / CUT / FastCUT / eq. 6.

One trainer, ``CycleGANDepth``, whose ``variant`` selects the paper's comparison rows:

- ``cyclegan``: G1 (image X -> depth Y), G2 (Y -> X), D_Y, D_X;
  L_G = LSGAN(G1, D_Y) + LSGAN(G2, D_X) + lambda_cycle * cycle (eq. 1, both directions)
        + lambda_identity * identity (eq. 2, both generators).
- ``cut``: G1 and D_Y only (no cycle); L_G = LSGAN + lambda_nce_x * PatchNCE(X)
  + lambda_nce_y * PatchNCE(Y) (the identity NCE on G1(y) vs y). CUT's default lambda_NCE = 1
  averaged over the two terms is lambda_nce_x = lambda_nce_y = 0.5.
- ``fastcut``: as ``cut`` with lambda_nce_x = 10 and no identity NCE (lambda_nce_y = 0).
- ``suarez``: eq. 6, lambda1 * LSGAN (eqs. 4, 5; both mappings) + lambda2 * PatchNCE(G1, H, X)
  + lambda3 * PatchNCE(G1, H, Y) + lambda4 * identity (eq. 2) + lambda5 * cycle (eq. 1).

Networks come from ``depthlab.nets.resnet_gan`` (ResNet generator, PatchGAN, instance norm),
laid out by this module's own config (``generator_kwargs``/``discriminator_kwargs``). The
PatchNCE head H (``depthlab.layers.PatchNCEHead``, one per layer) reads features of several
encoder layers of G1 (``nce_layer_names``), ``num_patches`` locations per layer sampled with
stateless random indices (seeded by ``seed`` and the generator step), shared by query and key.

Tensors: image x in [-1, 1] (B, S, S, 3) (gray replicated to 3 channels or RGB); depth y in
[-1, 1], (B, S, S, 1) or 3 channels, replicated to 3 inside so that both domains have the same
channel count (needed by the identity terms); G1's first output channel is the depth.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from data_pipelines.conventions import rgb_to_gray3, tanh_depth_to_unit
from depthlab import losses
from depthlab.configs import ConfigError
from depthlab.layers import ImagePool, PatchNCEHead, ReflectionPad2D, ResnetBlock
from depthlab.nets.resnet_gan import PatchDiscriminator, ResnetGenerator

_PACKAGE = "depthlab"

# the names the trainer's flags offer, defined once in the TF-free options module
from depthlab.runners.cyclegan_depth_options import LAMBDA_NAMES, VARIANTS  # noqa: E402

# Default loss weights per variant (BUILD_NOTES.md, "CycleGAN depth synthesis").
VARIANT_LAMBDAS: Dict[str, Dict[str, float]] = {
    # CycleGAN (Zhu et al. 2017): lambda_cyc 10, identity 0.5 * lambda_cyc.
    "cyclegan": dict(lambda_gan=1.0, lambda_nce_x=0.0, lambda_nce_y=0.0, lambda_identity=5.0,
                     lambda_cycle=10.0),
    # CUT (Park et al. 2020): lambda_NCE 1 with nce_idt, the two NCE terms averaged.
    "cut": dict(lambda_gan=1.0, lambda_nce_x=0.5, lambda_nce_y=0.5, lambda_identity=0.0,
                lambda_cycle=0.0),
    # FastCUT: lambda_NCE 10, no identity NCE.
    "fastcut": dict(lambda_gan=1.0, lambda_nce_x=10.0, lambda_nce_y=0.0, lambda_identity=0.0,
                    lambda_cycle=0.0),
    # Suarez et al. eq. 6: the paper states no weight; ours (lambda1..lambda5).
    "suarez": dict(lambda_gan=1.0, lambda_nce_x=1.0, lambda_nce_y=1.0, lambda_identity=5.0,
                   lambda_cycle=10.0),
}

_NO_CYCLE = ("cut", "fastcut")


@dataclasses.dataclass(frozen=True)
class CycleGANDepthConfig:
    """Hyper-parameters of ``CycleGANDepth``. ``None`` lambdas take the variant's default."""

    variant: str = "suarez"
    image_size: int = 256
    gen_filters: int = 64
    gen_downsamplings: int = 2
    gen_blocks: int = 9
    disc_filters: Tuple[int, ...] = (64, 128, 256, 512)
    disc_strides: Tuple[int, ...] = (2, 2, 2, 1)
    lambda_gan: Optional[float] = None
    lambda_nce_x: Optional[float] = None
    lambda_nce_y: Optional[float] = None
    lambda_identity: Optional[float] = None
    lambda_cycle: Optional[float] = None
    nce_units: int = 256
    num_patches: int = 256            # per layer; 0 = every location
    nce_temperature: float = 0.07
    pool_size: int = -1               # -1: 50 for the cycle variants, 0 (no pool) for CUT's

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant={self.variant!r} is not one of {list(VARIANTS)}")
        if self.image_size <= 0 or self.image_size % (2 ** self.gen_downsamplings):
            raise ConfigError(f"image_size={self.image_size} must be > 0 and divisible by "
                              f"2**gen_downsamplings={2 ** self.gen_downsamplings}")
        for name in ("gen_filters", "gen_blocks", "nce_units", "nce_temperature"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.num_patches < 0:
            raise ConfigError(f"num_patches must be >= 0, got {self.num_patches}")
        if len(self.disc_filters) != len(self.disc_strides):
            raise ConfigError("disc_filters and disc_strides must have the same length")
        for name in LAMBDA_NAMES:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        if self.variant in _NO_CYCLE and (self.lambdas["lambda_cycle"] > 0
                                          or self.lambdas["lambda_identity"] > 0):
            raise ConfigError(f"variant={self.variant!r} has one generator: lambda_cycle and "
                              "lambda_identity must be 0")

    @property
    def lambdas(self) -> Dict[str, float]:
        out = dict(VARIANT_LAMBDAS[self.variant])
        out.update({k: float(getattr(self, k)) for k in LAMBDA_NAMES
                    if getattr(self, k) is not None})
        return out

    @property
    def has_cycle(self) -> bool:
        """True when G2 and D_X exist (the cycle variants)."""
        return self.variant not in _NO_CYCLE

    @property
    def uses_nce(self) -> bool:
        lam = self.lambdas
        return lam["lambda_nce_x"] > 0 or lam["lambda_nce_y"] > 0

    @property
    def effective_pool_size(self) -> int:
        if self.pool_size >= 0:
            return self.pool_size
        return 50 if self.has_cycle else 0

    def generator_kwargs(self) -> Dict[str, Any]:
        """``ResnetGenerator`` arguments of G1/G2 (3-channel domains both ways)."""
        return dict(image_size=self.image_size, input_channels=3, output_channels=3,
                    filters=self.gen_filters, n_downsamplings=self.gen_downsamplings,
                    n_blocks=self.gen_blocks)

    def discriminator_kwargs(self) -> Dict[str, Any]:
        """``PatchDiscriminator`` arguments of D_Y/D_X: the 70x70 PatchGAN of CycleGAN/CUT
        (no IN on the first conv, s1 1-map conv with a bias)."""
        return dict(image_size=self.image_size, input_channels=3,
                    filters=tuple(self.disc_filters), strides=tuple(self.disc_strides),
                    first_norm=False, final_stride=1, final_norm=False)

    def replace(self, **changes) -> "CycleGANDepthConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown CycleGANDepthConfig field(s): {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["disc_filters"], d["disc_strides"] = list(self.disc_filters), list(self.disc_strides)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "CycleGANDepthConfig":
        d = dict(d)
        for key in ("disc_filters", "disc_strides"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


# Named presets. 'paper': the issue's / paper's setting (256x256, ResNet-9 G, 70x70 PatchGAN,
# CUT's 256 patches x 256 units). 'demo': small enough for a CPU run of a few minutes (64x64,
# ResNet-3 G with 16 filters, 3-layer PatchGAN, 64 patches); not a paper setting.
PRESETS: Dict[str, CycleGANDepthConfig] = {
    "paper": CycleGANDepthConfig(),
    "demo": CycleGANDepthConfig(image_size=64, gen_filters=16, gen_blocks=3,
                                disc_filters=(16, 32, 64), disc_strides=(2, 2, 1),
                                num_patches=64, nce_units=64),
}


def cyclegan_depth_config(preset: str = "paper", **overrides) -> CycleGANDepthConfig:
    """The named preset with field ``overrides`` (``None`` values are ignored)."""
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is not one of {sorted(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[preset].replace(**changes) if changes else PRESETS[preset]


def nce_layer_names(generator: keras.Model) -> List[str]:
    """Encoder layers of a ResNet generator whose outputs feed PatchNCE.

    CUT's ``nce_layers=0,4,8,12,16`` on its ResNet-9 generator are: the reflection-padded
    input, the two stride-2 downsampling convs, and the outputs of residual blocks 1 and 5.
    Here: the first ``ReflectionPad2D``, every stride-2 ``Conv2D``, ``ResnetBlock`` 0 and
    ``ResnetBlock`` n_blocks // 2 (duplicates dropped).
    """
    pads = [l for l in generator.layers if isinstance(l, ReflectionPad2D)]
    downs = [l for l in generator.layers
             if type(l) is keras.layers.Conv2D and tuple(l.strides) == (2, 2)]
    blocks = [l for l in generator.layers if isinstance(l, ResnetBlock)]
    chosen = pads[:1] + downs
    if blocks:
        chosen += [blocks[0], blocks[len(blocks) // 2]]
    names: List[str] = []
    for layer in chosen:
        if layer.name not in names:
            names.append(layer.name)
    return names


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GrayReplicate(keras.layers.Layer):
    """RGB (.., 3) -> luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) replicated to 3
    channels: the "gray image" input of G1, inside a deployable model."""

    def call(self, x):
        return rgb_to_gray3(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3,)


def deployable_generator(model: "CycleGANDepth", input_mode: str = "rgb") -> keras.Model:
    """G1 taking RGB in [-1, 1]: G1 itself (``rgb``) or gray conversion then G1 (``gray``)."""
    if input_mode == "rgb":
        return model.g1
    if input_mode != "gray":
        raise ValueError(f"input_mode must be 'gray' or 'rgb', got {input_mode!r}")
    size = model.config.image_size
    inputs = keras.Input((size, size, 3), name="rgb")
    return keras.Model(inputs, model.g1(GrayReplicate(name="to_gray")(inputs)),
                       name="g1_from_rgb")


def to_three_channels(x):
    x = tf.cast(x, tf.float32)
    return tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CycleGANDepth(keras.Model):
    """Unpaired image -> depth trainer (see the module docstring for the four variants).

    ``train_step`` takes a dict with ``image`` (x, domain X) and ``depth`` (y, domain Y; an
    unpaired sample). Per step: one generator update (G1, G2 and the NCE heads, one optimizer)
    then one discriminator update (D_Y and D_X, one optimizer) on pooled fakes generated before
    the G update. LSGAN discriminator loss ``0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))``
    as in CycleGAN/CUT.
    """

    def __init__(self, config: CycleGANDepthConfig | dict | None = None, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        if config is None:
            config = CycleGANDepthConfig()
        elif isinstance(config, dict):
            config = CycleGANDepthConfig.from_dict(config)
        self.config = config
        self.seed = int(seed)
        cfg = config
        self.lambdas = cfg.lambdas
        g_kwargs, d_kwargs = cfg.generator_kwargs(), cfg.discriminator_kwargs()
        self.g1 = ResnetGenerator(**g_kwargs, name="g1_image2depth")
        self.d_y = PatchDiscriminator(**d_kwargs, name="d_depth")
        self.g2 = self.d_x = None
        if cfg.has_cycle:
            self.g2 = ResnetGenerator(**g_kwargs, name="g2_depth2image")
            self.d_x = PatchDiscriminator(**d_kwargs, name="d_image")
        self.nce_layers: List[str] = []
        self.encoder = None
        self.nce_heads: List[PatchNCEHead] = []
        if cfg.uses_nce:
            self.nce_layers = nce_layer_names(self.g1)
            self.encoder = keras.Model(self.g1.inputs,
                                       [self.g1.get_layer(n).output for n in self.nce_layers],
                                       name="g1_encoder")
            for i, out in enumerate(self.encoder.outputs):
                head = PatchNCEHead(cfg.nce_units, name=f"nce_head_{i}")
                head.build((None, None, int(out.shape[-1])))
                self.nce_heads.append(head)
        shape = (cfg.image_size, cfg.image_size, 3)
        self.pool_y = self.pool_x = None
        if cfg.effective_pool_size > 0:
            self.pool_y = ImagePool(cfg.effective_pool_size, shape, seed=self.seed * 2 + 1,
                                    name="fake_depth_pool")
            self.pool_y.build((None,) + shape)
            if cfg.has_cycle:
                self.pool_x = ImagePool(cfg.effective_pool_size, shape, seed=self.seed * 2 + 2,
                                        name="fake_image_pool")
                self.pool_x.build((None,) + shape)
        self.loss_names = self._loss_names()
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.loss_names}
        self.eval_trackers = {n: keras.metrics.Mean(name=n) for n in ("l1", "rmse")}

    def _loss_names(self) -> Tuple[str, ...]:
        lam = self.lambdas
        names = ["g_loss", "gan_loss"]
        if lam["lambda_nce_x"] > 0:
            names.append("nce_x_loss")
        if lam["lambda_nce_y"] > 0:
            names.append("nce_y_loss")
        if lam["lambda_identity"] > 0:
            names.append("identity_loss")
        if lam["lambda_cycle"] > 0:
            names.append("cycle_loss")
        return tuple(names) + ("d_loss",)

    # -- Keras plumbing -----------------------------------------------------------------
    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Takes the generator optimizer (G1, G2, NCE heads) and the discriminator optimizer.

        Under ``mixed_float16`` each is wrapped in a LossScaleOptimizer. With neither, the
        model is compiled for ``evaluate``/``predict`` only. XLA is opt-in
        (``jit_compile=True``): Keras' ``"auto"`` would turn it on, and on CPU the XLA build of
        this step costs far more than the few steps of a test or a demo.
        """
        kwargs.setdefault("jit_compile", False)
        super().compile(**kwargs)
        if g_optimizer is None and d_optimizer is None:
            self.g_optimizer = self.d_optimizer = None
            return
        if g_optimizer is None or d_optimizer is None:
            raise ValueError("CycleGANDepth.compile: give both g_optimizer and d_optimizer")
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            wrap = lambda o: (o if isinstance(o, keras.optimizers.LossScaleOptimizer)  # noqa: E731
                              else keras.optimizers.LossScaleOptimizer(o))
            g_optimizer, d_optimizer = wrap(g_optimizer), wrap(d_optimizer)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Build slots now so that checkpoints restore them before the first step.
        self.g_optimizer.build(self.generator_variables())
        self.d_optimizer.build(self.discriminator_variables())

    def generator_variables(self):
        out = list(self.g1.trainable_variables)
        if self.g2 is not None:
            out += self.g2.trainable_variables
        for head in self.nce_heads:
            out += head.trainable_variables
        return out

    def discriminator_variables(self):
        out = list(self.d_y.trainable_variables)
        if self.d_x is not None:
            out += self.d_x.trainable_variables
        return out

    @property
    def metrics(self):
        return list(self.trackers.values()) + list(self.eval_trackers.values())

    def call(self, image, training=False):
        """G1: image in [-1, 1] -> depth in [-1, 1] (3 identical-target channels)."""
        return self.g1(to_three_channels(image), training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"config": self.config.to_dict(), "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config=config.pop("config"), seed=config.pop("seed", 0),
                   **{k: v for k, v in config.items() if k in ("name", "trainable")})

    # -- losses -----------------------------------------------------------------------------
    def _sample_ids(self, num_locations: int, layer: int, step):
        """Stateless random patch locations for one layer (shared by query, key and batch)."""
        seed = tf.stack([tf.cast(self.seed, tf.int64) * 1000 + layer, tf.cast(step, tf.int64)])
        order = tf.argsort(tf.random.stateless_uniform([num_locations], seed), stable=True)
        n = self.config.num_patches
        return order if n == 0 or n >= num_locations else order[:n]

    def patch_nce(self, source, output, step, training=True):
        """PatchNCE between G1's input ``source`` (keys) and ``output`` = G1(source) (queries):
        the mean over the chosen encoder layers of ``losses.patch_nce_loss``."""
        feats_k = self.encoder(source, training=training)
        feats_q = self.encoder(output, training=training)
        total = 0.0
        for i, (fk, fq, head) in enumerate(zip(feats_k, feats_q, self.nce_heads)):
            b = tf.shape(fk)[0]
            h, w, c = fk.shape[1], fk.shape[2], fk.shape[3]
            fk = tf.reshape(tf.cast(fk, tf.float32), [b, h * w, c])
            fq = tf.reshape(tf.cast(fq, tf.float32), [b, h * w, c])
            ids = self._sample_ids(h * w, i, step)
            k = head(tf.gather(fk, ids, axis=1))
            q = head(tf.gather(fq, ids, axis=1))
            total += losses.patch_nce_loss(q, k, self.config.nce_temperature)
        return total / float(len(self.nce_heads))

    @staticmethod
    def _d_loss(real_scores, fake_scores):
        return 0.5 * losses.lsgan_discriminator_loss(real_scores, fake_scores)

    @staticmethod
    def _scaled(optimizer, loss):
        scaled = losses.replica_share(loss)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            scaled = optimizer.scale_loss(scaled)
        return scaled

    def generator_losses(self, x, y, step, training=True) -> Dict[str, tf.Tensor]:
        """All generator-side terms of the variant and their weighted sum ``g_loss``; also the
        fakes ``fake_y`` = G1(x) and (cycle variants) ``fake_x`` = G2(y) for the D step."""
        lam = self.lambdas
        out: Dict[str, tf.Tensor] = {}
        fake_y = self.g1(x, training=training)
        gan = losses.lsgan_generator_loss(self.d_y(fake_y, training=training))
        fake_x = None
        if self.g2 is not None:
            fake_x = self.g2(y, training=training)
            gan += losses.lsgan_generator_loss(self.d_x(fake_x, training=training))
        total = lam["lambda_gan"] * gan
        out["gan_loss"] = gan
        if lam["lambda_nce_x"] > 0:
            out["nce_x_loss"] = self.patch_nce(x, fake_y, step, training)
            total += lam["lambda_nce_x"] * out["nce_x_loss"]
        idt_y = None
        if lam["lambda_nce_y"] > 0 or lam["lambda_identity"] > 0:
            idt_y = self.g1(y, training=training)
        if lam["lambda_nce_y"] > 0:
            out["nce_y_loss"] = self.patch_nce(y, idt_y, step + 7919, training)
            total += lam["lambda_nce_y"] * out["nce_y_loss"]
        if lam["lambda_identity"] > 0:
            idt = losses.identity_loss(idt_y, y)
            if self.g2 is not None:
                idt += losses.identity_loss(self.g2(x, training=training), x)
            out["identity_loss"] = idt
            total += lam["lambda_identity"] * idt
        if lam["lambda_cycle"] > 0:
            cyc = losses.cycle_loss(x, self.g2(fake_y, training=training))
            cyc += losses.cycle_loss(y, self.g1(fake_x, training=training))
            out["cycle_loss"] = cyc
            total += lam["lambda_cycle"] * cyc
        out["g_loss"] = total
        out["fake_y"], out["fake_x"] = fake_y, fake_x
        return out

    def train_step(self, data):
        x = to_three_channels(data["image"])
        y = to_three_channels(data["depth"])
        step = self.g_optimizer.iterations

        g_vars = self.generator_variables()
        with tf.GradientTape() as tape:
            terms = self.generator_losses(x, y, step, training=True)
            scaled = self._scaled(self.g_optimizer, terms["g_loss"])
        grads = tape.gradient(scaled, g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars))

        fake_y = tf.stop_gradient(terms.pop("fake_y"))
        fake_x = terms.pop("fake_x")
        if self.pool_y is not None:
            fake_y = self.pool_y(fake_y)
        if fake_x is not None:
            fake_x = tf.stop_gradient(fake_x)
            if self.pool_x is not None:
                fake_x = self.pool_x(fake_x)
        d_vars = self.discriminator_variables()
        with tf.GradientTape() as tape:
            d_loss = self._d_loss(self.d_y(y, training=True), self.d_y(fake_y, training=True))
            if self.d_x is not None:
                d_loss += self._d_loss(self.d_x(x, training=True),
                                       self.d_x(fake_x, training=True))
            scaled = self._scaled(self.d_optimizer, d_loss)
        grads = tape.gradient(scaled, d_vars)
        self.d_optimizer.apply_gradients(zip(grads, d_vars))
        terms["d_loss"] = d_loss

        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in terms}

    def test_step(self, data):
        """L1 and RMSE of G1 on [0, 1] depth against the *paired* ``depth`` of the batch."""
        pred = tanh_depth_to_unit(self(data["image"], training=False), clip=True)
        gt = tanh_depth_to_unit(data["depth"], clip=True)
        err = pred - gt
        self.eval_trackers["l1"].update_state(tf.reduce_mean(tf.abs(err), axis=[1, 2, 3]))
        self.eval_trackers["rmse"].update_state(
            tf.sqrt(tf.reduce_mean(tf.square(err), axis=[1, 2, 3])))
        return {n: t.result() for n, t in self.eval_trackers.items()}


def build_cyclegan_depth(variant: str = "suarez", seed: int = 0, **overrides) -> CycleGANDepth:
    """A ``CycleGANDepth`` of ``variant`` with config ``overrides`` (not compiled)."""
    return CycleGANDepth(CycleGANDepthConfig(variant=variant, **overrides), seed=seed)
