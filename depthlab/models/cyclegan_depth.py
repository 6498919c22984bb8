"""Unpaired image -> depth synthesis (Suarez, Carpio, Sappa): CycleGAN / CUT / FastCUT / eq. 6.

One trainer, ``CycleGANDepth``, whose ``variant`` selects the paper's comparison rows:

- ``cyclegan``: G1 (image X -> depth Y), G2 (Y -> X), D_Y, D_X;
  L_G = LSGAN(G1, D_Y) + LSGAN(G2, D_X) + lambda_cycle * cycle (eq. 1, both directions)
        + lambda_identity * identity (eq. 2, both generators; ``identity_pairing``: 'target'
        |y - G1(y)| + |x - G2(x)|, the evident intent, or 'source', the equation as printed
        on line 52 of the text, |x - G1(x)| + |y - G2(y)|; ``losses.eq2_identity_loss``).
- ``cut``: G1 and D_Y only (no cycle); L_G = LSGAN + lambda_nce_x * PatchNCE(X)
  + lambda_nce_y * PatchNCE(Y) (the identity NCE on G1(y) vs y). CUT's default lambda_NCE = 1
  averaged over the two terms is lambda_nce_x = lambda_nce_y = 0.5.
- ``fastcut``: as ``cut`` with lambda_nce_x = 10 and no identity NCE (lambda_nce_y = 0).
- ``suarez``: eq. 6, lambda1 * LSGAN (eqs. 4, 5; both mappings) + lambda2 * PatchNCE(G1, H, X)
  + lambda3 * PatchNCE(G1, H, Y) + lambda4 * identity (eq. 2) + lambda5 * cycle (eq. 1).
- ``dclgan`` (Han et al., CVPRW 2021, eq. 8): G1, G2, D_Y, D_X, no cycle; dual PatchNCE with
  one embedding per domain, G1's encoder + heads H_X for X images and G2's encoder + heads H_Y
  for Y images: PatchNCE_X (eq. 4) keys H_X(G1_enc(x)), queries H_Y(G2_enc(G1(x)));
  PatchNCE_Y (eq. 5) keys H_Y(G2_enc(y)), queries H_X(G1_enc(G2(y))); L1 identity (eq. 7).
- ``simdcl`` (same paper, eq. 9): ``dclgan`` + lambda_sim * similarity loss (eq. 6) through
  four ``SimilarityProjector`` networks H_xr, H_xf, H_yr, H_yf.
- ``hnegsrc`` (Jung et al. 2022, arXiv 2203.01532): CUT's G1/D_Y/H with PatchNCE replaced by
  hDCE (decoupled contrastive loss with hard-negative weights) on x and on the identity y, plus
  the semantic relation consistency (SRC) loss on x.

The lambdas of the three contrastive rows are the *effective* weights of their authors' code
(which halves the paper's sums, see ``VARIANT_LAMBDAS``). Choices the papers leave open are
listed in ``CycleGANDepth``'s docstring.

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
from depthlab.nets.contrastive import (SimilarityProjector, hdce_gamma,
                                                     stack_patch_embeddings)
from depthlab.nets.resnet_gan import PatchDiscriminator, ResnetGenerator

_PACKAGE = "depthlab"

# the names the trainer's flags offer, defined once in the TF-free options module
from depthlab.runners.cyclegan_depth_options import (  # noqa: E402
    EXTRA_LAMBDA_NAMES, IDENTITY_PAIRINGS, LAMBDA_NAMES, VARIANTS)

_ALL_LAMBDAS = LAMBDA_NAMES + EXTRA_LAMBDA_NAMES

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
    # DCLGAN (Han et al. 2021, eq. 8): lambda_GAN 1, lambda_NCE 2, lambda_idt 1 in the paper;
    # its code (dcl_model.py) computes 0.5 (GAN_G + GAN_F) + 0.5 lambda_NCE (NCE_X + NCE_Y)
    # + 0.5 lambda_idt (idt_G + idt_F), i.e. the effective weights 0.5 / 1 / 1 / 0.5 here.
    "dclgan": dict(lambda_gan=0.5, lambda_nce_x=1.0, lambda_nce_y=1.0, lambda_identity=0.5,
                   lambda_cycle=0.0),
    # SimDCL (eq. 9): as DCLGAN plus lambda_SIM 10, which its code adds without the halving.
    "simdcl": dict(lambda_gan=0.5, lambda_nce_x=1.0, lambda_nce_y=1.0, lambda_identity=0.5,
                   lambda_cycle=0.0, lambda_sim=10.0),
    # HnegSRC (authors' horse2zebra script): lambda_HDCE 0.1 with --dce_idt (the two hDCE terms
    # averaged: 0.05 each), lambda_SRC 0.05, lambda_GAN 1.
    "hnegsrc": dict(lambda_gan=1.0, lambda_nce_x=0.05, lambda_nce_y=0.05, lambda_identity=0.0,
                    lambda_cycle=0.0, lambda_src=0.05),
}

_NO_CYCLE = ("cut", "fastcut", "hnegsrc")
_DUAL = ("dclgan", "simdcl")             # one encoder + NCE heads per domain
_NO_POOL = ("cut", "fastcut", "dclgan", "simdcl", "hnegsrc")  # their code: pool_size=0


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
    pool_size: int = -1               # -1: 50 for cyclegan/suarez, 0 for the contrastive rows
    lambda_sim: Optional[float] = None    # simdcl: similarity loss (Han et al. eq. 9)
    lambda_src: Optional[float] = None    # hnegsrc: semantic relation consistency
    sim_units: int = 64               # simdcl: output size of the four light networks
    hdce_gamma: float = 50.0          # hnegsrc: hard-negative weight temperature at step 0
    hdce_gamma_min: float = 10.0      # hnegsrc: ... at the end of the curriculum
    # hnegsrc: generator steps of the anneal gamma -> gamma_min (HnegSRC's --use_curriculum);
    # -1 = the run's total steps (the model's ``total_steps``), 0 = constant gamma
    hdce_curriculum_steps: int = -1
    # eq. 2's pairs (cyclegan, suarez): 'target' |y - G1(y)| + |x - G2(x)|, 'source' as printed
    identity_pairing: str = "target"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant={self.variant!r} is not one of {list(VARIANTS)}")
        if self.image_size <= 0 or self.image_size % (2 ** self.gen_downsamplings):
            raise ConfigError(f"image_size={self.image_size} must be > 0 and divisible by "
                              f"2**gen_downsamplings={2 ** self.gen_downsamplings}")
        for name in ("gen_filters", "gen_blocks", "nce_units", "nce_temperature",
                     "sim_units", "hdce_gamma", "hdce_gamma_min"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.num_patches < 0:
            raise ConfigError(f"num_patches must be >= 0, got {self.num_patches}")
        if self.hdce_curriculum_steps < -1:
            raise ConfigError(f"hdce_curriculum_steps must be >= -1 (-1: the run's total "
                              f"steps, 0: constant gamma), got {self.hdce_curriculum_steps}")
        if self.identity_pairing not in IDENTITY_PAIRINGS:
            raise ConfigError(f"identity_pairing={self.identity_pairing!r} is not one of "
                              f"{list(IDENTITY_PAIRINGS)}")
        if len(self.disc_filters) != len(self.disc_strides):
            raise ConfigError("disc_filters and disc_strides must have the same length")
        for name in _ALL_LAMBDAS:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        if self.lambda_sim and self.variant != "simdcl":
            raise ConfigError("lambda_sim is the similarity loss of variant 'simdcl' only")
        if self.lambda_src and self.variant != "hnegsrc":
            raise ConfigError("lambda_src is the SRC loss of variant 'hnegsrc' only")
        if self.variant in _NO_CYCLE and (self.lambdas["lambda_cycle"] > 0
                                          or self.lambdas["lambda_identity"] > 0):
            raise ConfigError(f"variant={self.variant!r} has one generator: lambda_cycle and "
                              "lambda_identity must be 0")

    @property
    def lambdas(self) -> Dict[str, float]:
        """The eq. 6 weights (``LAMBDA_NAMES``), plus ``lambda_sim`` / ``lambda_src`` for the
        variants that have those terms."""
        out = dict(VARIANT_LAMBDAS[self.variant])
        out.update({k: float(getattr(self, k)) for k in _ALL_LAMBDAS
                    if getattr(self, k) is not None})
        return out

    @property
    def is_dual(self) -> bool:
        """DCLGAN/SimDCL: an encoder and NCE heads per domain (G1 for X, G2 for Y)."""
        return self.variant in _DUAL

    @property
    def has_cycle(self) -> bool:
        """True when G2 and D_X exist (the cycle variants)."""
        return self.variant not in _NO_CYCLE

    @property
    def uses_nce(self) -> bool:
        """True when G1's encoder and the patch heads are needed (NCE, hDCE, SRC or SIM)."""
        lam = self.lambdas
        return (lam["lambda_nce_x"] > 0 or lam["lambda_nce_y"] > 0
                or lam.get("lambda_src", 0.0) > 0 or lam.get("lambda_sim", 0.0) > 0)

    @property
    def effective_pool_size(self) -> int:
        if self.pool_size >= 0:
            return self.pool_size
        return 0 if self.variant in _NO_POOL else 50

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


def nce_layer_names(generator: keras.Model, include_input: bool = True) -> List[str]:
    """Encoder layers of a ResNet generator whose outputs feed PatchNCE.

    CUT's ``nce_layers=0,4,8,12,16`` on its ResNet-9 generator are: the reflection-padded
    input, the two stride-2 downsampling convs, and the outputs of residual blocks 1 and 5.
    Here: the first ``ReflectionPad2D``, every stride-2 ``Conv2D``, ``ResnetBlock`` 0 and
    ``ResnetBlock`` n_blocks // 2 (duplicates dropped). ``include_input=False`` drops the
    padded input: DCLGAN/SimDCL's ``nce_layers=4,8,12,16``.
    """
    pads = [l for l in generator.layers if isinstance(l, ReflectionPad2D)]
    downs = [l for l in generator.layers
             if type(l) is keras.layers.Conv2D and tuple(l.strides) == (2, 2)]
    blocks = [l for l in generator.layers if isinstance(l, ResnetBlock)]
    chosen = (pads[:1] if include_input else []) + downs
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
    """Unpaired image -> depth trainer (see the module docstring for the seven variants).

    ``train_step`` takes a dict with ``image`` (x, domain X) and ``depth`` (y, domain Y; an
    unpaired sample). Per step: one generator update (G1, G2 and the NCE heads, one optimizer)
    then one discriminator update (D_Y and D_X, one optimizer) on pooled fakes generated before
    the G update. LSGAN discriminator loss ``0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))``
    as in CycleGAN/CUT.

    DCLGAN / SimDCL / HnegSRC: where Suarez et al. (who only name them, "trained with the same
    dataset and experimental configurations"), the method papers and their code differ or are
    silent, we chose (*code* = the authors' repository):

    - LSGAN for all three (Suarez eqs. 4-5 and the *code* default ``gan_mode=lsgan``; the
      DCLGAN paper, sec. 4.1, says hinge). D loss 0.5 (real + fake) per discriminator, no image
      pool (*code*: ``pool_size=0``).
    - Weights: the *code*'s effective ones (``VARIANT_LAMBDAS``): DCLGAN's code halves the
      paper's eq. 8 sum except SimDCL's lambda_SIM 10 term; HnegSRC's horse2zebra script
      (lambda_HDCE 0.1 averaged over x and identity, lambda_SRC 0.05, gamma 50 -> 10).
    - One Adam for G1, G2, every head and SimDCL's light networks, the runner's lr/betas (the
      *code* gives the heads their own Adam with the same settings, DCLGAN's with PyTorch's
      defaults lr 1e-3, betas 0.9/0.999). Keras default initialisers (*code*: N(0, 0.02)).
      Constant learning rate, no flip-equivariance (as the other rows here).
    - PatchNCE negatives: the other patches of the same image (``losses.patch_nce_loss``);
      DCLGAN's code pools every patch of the batch as negatives, the same at its batch 1.
      SRC/hDCE relations per image (HnegSRC's code: one matrix over the batch; same at batch 1).
    - DCLGAN layers: ``nce_layers=4,8,12,16`` (no padded input); HnegSRC: CUT's 0,4,8,12,16.
    - SimDCL eq. 6: mean |.| over the 64 entries (*code*: ``L1Loss('sum')`` is a mean; the paper
      writes a sum); light networks as the *code*'s ``MappingF``; fake stacks at fresh patch
      locations, real stacks = the NCE keys, both with gradients; per-image vectors.
    - hDCE's reported value is the objective itself (the *code* logs the plain PatchNCE CE
      with the hDCE gradient). The gamma curriculum (``nets.contrastive.hdce_gamma``) is the
      *code*'s ``--use_curriculum``: one gamma per epoch, gamma + (gamma_min - gamma) * e / E
      for the 1-based epoch e of E = n_epochs + n_epochs_decay, i.e. over the whole run. Here
      it spans ``hdce_curriculum_steps`` generator steps, by default (-1) the run's total
      steps (``total_steps``, epochs x ``steps_per_epoch``, given by the runner), one value
      per epoch of ``steps_per_epoch`` steps; 0 keeps gamma at ``hdce_gamma``. Extending a
      finished run's ``--epochs`` re-spans the curriculum over the new total.
    - Identity pair of HnegSRC at the x pair's patch locations (*code* reuses them); DCLGAN's
      Y-side NCE at independent ones (*code* samples per call).
    """

    def __init__(self, config: CycleGANDepthConfig | dict | None = None, seed: int = 0,
                 total_steps: Optional[int] = None, steps_per_epoch: int = 1, **kwargs):
        """``total_steps``: the run's generator steps (epochs x ``steps_per_epoch``), which
        HnegSRC's curriculum spans when ``hdce_curriculum_steps`` is -1."""
        super().__init__(**kwargs)
        if config is None:
            config = CycleGANDepthConfig()
        elif isinstance(config, dict):
            config = CycleGANDepthConfig.from_dict(config)
        self.config = config
        self.seed = int(seed)
        if total_steps is not None and int(total_steps) < 1:
            raise ValueError(f"CycleGANDepth: total_steps must be >= 1, got {total_steps}")
        if int(steps_per_epoch) < 1:
            raise ValueError(f"CycleGANDepth: steps_per_epoch must be >= 1, got "
                             f"{steps_per_epoch}")
        self.total_steps = None if total_steps is None else int(total_steps)
        self.steps_per_epoch = int(steps_per_epoch)
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
        # DCLGAN/SimDCL: G2's encoder and its heads H_Y (``nce_heads`` is then H_X).
        self.nce_layers_y: List[str] = []
        self.encoder_y = None
        self.nce_heads_y: List[PatchNCEHead] = []
        # SimDCL's four light networks H_xr, H_xf, H_yr, H_yf (eq. 6).
        self.sim_projectors: Dict[str, SimilarityProjector] = {}
        if cfg.uses_nce:
            self.nce_layers = nce_layer_names(self.g1, include_input=not cfg.is_dual)
            self.encoder = keras.Model(self.g1.inputs,
                                       [self.g1.get_layer(n).output for n in self.nce_layers],
                                       name="g1_encoder")
            for i, out in enumerate(self.encoder.outputs):
                head = PatchNCEHead(cfg.nce_units, name=f"nce_head_{i}")
                head.build((None, None, int(out.shape[-1])))
                self.nce_heads.append(head)
            if cfg.is_dual:
                self.nce_layers_y = nce_layer_names(self.g2, include_input=False)
                self.encoder_y = keras.Model(
                    self.g2.inputs, [self.g2.get_layer(n).output for n in self.nce_layers_y],
                    name="g2_encoder")
                for i, out in enumerate(self.encoder_y.outputs):
                    head = PatchNCEHead(cfg.nce_units, name=f"nce_head_y_{i}")
                    head.build((None, None, int(out.shape[-1])))
                    self.nce_heads_y.append(head)
            if self.lambdas.get("lambda_sim", 0.0) > 0:
                p = min(self._num_sampled(int(o.shape[1]) * int(o.shape[2]))
                        for o in self.encoder.outputs + self.encoder_y.outputs)
                stack = (None, p, cfg.nce_units, len(self.nce_layers))
                for key in ("xr", "xf", "yr", "yf"):
                    proj = SimilarityProjector(cfg.sim_units, name=f"sim_{key}")
                    proj.build(stack)
                    self.sim_projectors[key] = proj
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
        nce = "hdce" if self.config.variant == "hnegsrc" else "nce"
        if lam["lambda_nce_x"] > 0:
            names.append(f"{nce}_x_loss")
        if lam["lambda_nce_y"] > 0:
            names.append(f"{nce}_y_loss")
        if lam.get("lambda_src", 0.0) > 0:
            names.append("src_loss")
        if lam.get("lambda_sim", 0.0) > 0:
            names.append("sim_loss")
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
        for head in self.nce_heads_y:
            out += head.trainable_variables
        for key in sorted(self.sim_projectors):
            out += self.sim_projectors[key].trainable_variables
        return out

    def discriminator_variables(self):
        out = list(self.d_y.trainable_variables)
        if self.d_x is not None:
            out += self.d_x.trainable_variables
        return out

    def checkpoint_objects(self) -> Dict[str, Any]:
        """Every trackable part of the training state, by checkpoint name: g1, d_y, the two
        optimizers (when compiled) and, where the variant has them, g2, d_x, pool_x, pool_y,
        nce_head_{i} (H, or H_X of DCLGAN/SimDCL), nce_head_y_{i} (H_Y) and sim_{xr,xf,yr,yf}
        (SimDCL's light networks). The names of the first four variants are those the runner
        has always written."""
        objects: Dict[str, Any] = dict(g1=self.g1, d_y=self.d_y)
        for name in ("g_optimizer", "d_optimizer"):
            if getattr(self, name, None) is not None:
                objects[name] = getattr(self, name)
        for name in ("g2", "d_x", "pool_x", "pool_y"):
            if getattr(self, name) is not None:
                objects[name] = getattr(self, name)
        for i, head in enumerate(self.nce_heads):
            objects[f"nce_head_{i}"] = head
        for i, head in enumerate(self.nce_heads_y):
            objects[f"nce_head_y_{i}"] = head
        for key, proj in sorted(self.sim_projectors.items()):
            objects[f"sim_{key}"] = proj
        return objects

    @property
    def metrics(self):
        return list(self.trackers.values()) + list(self.eval_trackers.values())

    def call(self, image, training=False):
        """G1: image in [-1, 1] -> depth in [-1, 1] (3 identical-target channels)."""
        return self.g1(to_three_channels(image), training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"config": self.config.to_dict(), "seed": self.seed,
                       "total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config=config.pop("config"), seed=config.pop("seed", 0),
                   total_steps=config.pop("total_steps", None),
                   steps_per_epoch=config.pop("steps_per_epoch", 1),
                   **{k: v for k, v in config.items() if k in ("name", "trainable")})

    @property
    def curriculum_steps(self) -> int:
        """HnegSRC's anneal span in generator steps (``hdce_curriculum_steps``; -1 resolved to
        ``total_steps``); 0 = constant gamma."""
        steps = self.config.hdce_curriculum_steps
        if steps != -1:
            return steps
        if self.total_steps is None:
            raise ValueError("CycleGANDepth: hdce_curriculum_steps=-1 spans the run's total "
                             "steps; build the model with total_steps=... (the runner does) "
                             "or set hdce_curriculum_steps (0: constant gamma)")
        return self.total_steps

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

    # -- DCLGAN / SimDCL / HnegSRC --------------------------------------------------------
    _Y_SALT = 7919                   # step offset of the second set of patch locations

    def _num_sampled(self, num_locations: int) -> int:
        n = self.config.num_patches
        return num_locations if n == 0 or n >= num_locations else n

    def embed_patches(self, encoder, heads, image, step, training=True) -> List[tf.Tensor]:
        """Per-layer head embeddings (B, P_l, nce_units) of ``image`` at the stateless patch
        locations of ``step`` (``_sample_ids``: the same locations for any image and for G1's
        and G2's encoders, whose layers have the same sizes)."""
        feats = encoder(image, training=training)
        out = []
        for i, (f, head) in enumerate(zip(feats, heads)):
            b = tf.shape(f)[0]
            h, w, c = f.shape[1], f.shape[2], f.shape[3]
            f = tf.reshape(tf.cast(f, tf.float32), [b, h * w, c])
            out.append(head(tf.gather(f, self._sample_ids(h * w, i, step), axis=1)))
        return out

    @staticmethod
    def _layer_mean(fn, queries, keys, *extra) -> tf.Tensor:
        terms = [fn(q, k, *[e[i] for e in extra]) for i, (q, k) in enumerate(zip(queries, keys))]
        return tf.add_n(terms) / float(len(terms))

    def _dual_generator_losses(self, x, y, step, training=True) -> Dict[str, tf.Tensor]:
        """DCLGAN (Han et al. 2021, eq. 8) and SimDCL (eq. 9) generator terms.

        gan_loss = LSGAN(D_Y(G1(x))) + LSGAN(D_X(G2(y)));
        nce_x_loss = eq. 4: PatchNCE(H_Y(G2_enc(G1(x))) queries, H_X(G1_enc(x)) keys);
        nce_y_loss = eq. 5: PatchNCE(H_X(G1_enc(G2(y))) queries, H_Y(G2_enc(y)) keys);
        identity_loss = eq. 7: |G2(x) - x| + |G1(y) - y| (means);
        sim_loss (simdcl) = eq. 6: |H_xr(z_x) - H_xf(z_G2(y))| + |H_yr(z_y) - H_yf(z_G1(x))|,
        where z_* are the (B, P, units, L) stacks of the H_X / H_Y embeddings: the real ones
        are the NCE keys (with gradient here, as in the code), the fake ones are sampled at
        fresh locations (the code's ``*_noid`` pools).
        """
        lam = self.lambdas
        enc_x, heads_x = self.encoder, self.nce_heads          # G_enc + H_X: domain X
        enc_y, heads_y = self.encoder_y, self.nce_heads_y      # F_enc + H_Y: domain Y
        step_y = step + self._Y_SALT
        out: Dict[str, tf.Tensor] = {}
        fake_y = self.g1(x, training=training)
        fake_x = self.g2(y, training=training)
        gan = (losses.lsgan_generator_loss(self.d_y(fake_y, training=training))
               + losses.lsgan_generator_loss(self.d_x(fake_x, training=training)))
        out["gan_loss"] = gan
        total = lam["lambda_gan"] * gan
        use_sim = lam.get("lambda_sim", 0.0) > 0
        z_x = z_y = None
        if lam["lambda_nce_x"] > 0 or use_sim:
            z_x = self.embed_patches(enc_x, heads_x, x, step, training)
        if lam["lambda_nce_y"] > 0 or use_sim:
            z_y = self.embed_patches(enc_y, heads_y, y, step_y, training)
        if lam["lambda_nce_x"] > 0:
            q = self.embed_patches(enc_y, heads_y, fake_y, step, training)
            out["nce_x_loss"] = self._layer_mean(
                lambda a, b: losses.patch_nce_loss(a, b, self.config.nce_temperature), q, z_x)
            total += lam["lambda_nce_x"] * out["nce_x_loss"]
        if lam["lambda_nce_y"] > 0:
            q = self.embed_patches(enc_x, heads_x, fake_x, step_y, training)
            out["nce_y_loss"] = self._layer_mean(
                lambda a, b: losses.patch_nce_loss(a, b, self.config.nce_temperature), q, z_y)
            total += lam["lambda_nce_y"] * out["nce_y_loss"]
        if use_sim:
            fz_x = self.embed_patches(enc_x, heads_x, fake_x, step + 2 * self._Y_SALT, training)
            fz_y = self.embed_patches(enc_y, heads_y, fake_y, step + 3 * self._Y_SALT, training)
            proj = self.sim_projectors
            sim = (losses.dcl_similarity_loss(proj["xr"](stack_patch_embeddings(z_x)),
                                              proj["xf"](stack_patch_embeddings(fz_x)))
                   + losses.dcl_similarity_loss(proj["yr"](stack_patch_embeddings(z_y)),
                                                proj["yf"](stack_patch_embeddings(fz_y))))
            out["sim_loss"] = sim
            total += lam["lambda_sim"] * sim
        if lam["lambda_identity"] > 0:         # eq. 7: the 'target' pairs of eq. 2
            idt = losses.eq2_identity_loss(x, y, lambda t: self.g1(t, training=training),
                                           lambda t: self.g2(t, training=training), "target")
            out["identity_loss"] = idt
            total += lam["lambda_identity"] * idt
        if lam["lambda_cycle"] > 0:          # not DCLGAN's; allowed as an ablation
            cyc = (losses.cycle_loss(x, self.g2(fake_y, training=training))
                   + losses.cycle_loss(y, self.g1(fake_x, training=training)))
            out["cycle_loss"] = cyc
            total += lam["lambda_cycle"] * cyc
        out["g_loss"] = total
        out["fake_y"], out["fake_x"] = fake_y, fake_x
        return out

    def _hnegsrc_generator_losses(self, x, y, step, training=True) -> Dict[str, tf.Tensor]:
        """HnegSRC (Jung et al. 2022) generator terms, on CUT's single G1 / D_Y / H.

        gan_loss = LSGAN(D_Y(G1(x)));
        hdce_x_loss = mean over layers of hDCE(H(G1_enc(G1(x))), H(G1_enc(x)), w(x));
        hdce_y_loss = the same on the identity pair (G1(y), y), weights from y (``--dce_idt``);
        src_loss = mean over layers of SRC(H(G1_enc(G1(x))), H(G1_enc(x))) (x only, as the code).
        w = ``losses.hard_negative_weights`` of the source embeddings at temperature
        ``hdce_gamma(step)`` (the curriculum). Both pairs use the same patch locations (the
        code reuses one ``sample_ids``).
        """
        lam, cfg = self.lambdas, self.config
        out: Dict[str, tf.Tensor] = {}
        fake_y = self.g1(x, training=training)
        gan = losses.lsgan_generator_loss(self.d_y(fake_y, training=training))
        out["gan_loss"] = gan
        total = lam["lambda_gan"] * gan
        gamma = hdce_gamma(step, cfg.hdce_gamma, cfg.hdce_gamma_min, self.curriculum_steps,
                           self.steps_per_epoch)

        def hdce(q, k):
            return losses.hard_negative_dce_loss(q, k, losses.hard_negative_weights(k, gamma),
                                                 cfg.nce_temperature)

        k = q = None
        if lam["lambda_nce_x"] > 0 or lam["lambda_src"] > 0:
            k = self.embed_patches(self.encoder, self.nce_heads, x, step, training)
            q = self.embed_patches(self.encoder, self.nce_heads, fake_y, step, training)
        if lam["lambda_nce_x"] > 0:
            out["hdce_x_loss"] = self._layer_mean(hdce, q, k)
            total += lam["lambda_nce_x"] * out["hdce_x_loss"]
        if lam["lambda_nce_y"] > 0:
            idt_y = self.g1(y, training=training)
            k_y = self.embed_patches(self.encoder, self.nce_heads, y, step, training)
            q_y = self.embed_patches(self.encoder, self.nce_heads, idt_y, step, training)
            out["hdce_y_loss"] = self._layer_mean(hdce, q_y, k_y)
            total += lam["lambda_nce_y"] * out["hdce_y_loss"]
        if lam["lambda_src"] > 0:
            out["src_loss"] = self._layer_mean(losses.semantic_relation_consistency_loss, q, k)
            total += lam["lambda_src"] * out["src_loss"]
        out["g_loss"] = total
        out["fake_y"], out["fake_x"] = fake_y, None
        return out

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
        if self.config.is_dual:
            return self._dual_generator_losses(x, y, step, training)
        if self.config.variant == "hnegsrc":
            return self._hnegsrc_generator_losses(x, y, step, training)
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
        if lam["lambda_nce_y"] > 0:
            idt_y = self.g1(y, training=training)
            out["nce_y_loss"] = self.patch_nce(y, idt_y, step + 7919, training)
            total += lam["lambda_nce_y"] * out["nce_y_loss"]
        if lam["lambda_identity"] > 0:
            # eq. 2 (``identity_pairing``), reusing G1(x), G2(y), G1(y) where computed above
            def g1(t):
                if t is x:
                    return fake_y
                if t is y and idt_y is not None:
                    return idt_y
                return self.g1(t, training=training)

            def g2(t):
                return fake_x if t is y else self.g2(t, training=training)
            idt = losses.eq2_identity_loss(x, y, g1, g2, self.config.identity_pairing)
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


def build_cyclegan_depth(variant: str = "suarez", seed: int = 0,
                         total_steps: Optional[int] = None, steps_per_epoch: int = 1,
                         **overrides) -> CycleGANDepth:
    """A ``CycleGANDepth`` of ``variant`` with config ``overrides`` (not compiled), for a run of
    ``total_steps`` generator steps (HnegSRC's default curriculum spans them)."""
    return CycleGANDepth(CycleGANDepthConfig(variant=variant, **overrides), seed=seed,
                         total_steps=total_steps, steps_per_epoch=steps_per_epoch)
