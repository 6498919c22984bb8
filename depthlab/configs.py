"""Typed configs and named presets.

Every place where a paper and its public code disagree is a field here, and each paper
gets at least a ``'code'`` preset (what the authors' repository does) and a ``'paper'``
preset (what the text says). BUILD_NOTES.md records why each value was chosen.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Tuple

# TF-free (the configs stay importable without TensorFlow)
from data_pipelines.conventions import FRAMING_LOG_ZOOM_MAX, FRAMING_SHIFT_MAX


class ConfigError(ValueError):
    """A config value is invalid; the message names the field."""


def _check_choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {sorted(choices)}")


def _check_positive(name: str, value) -> None:
    if value is None or value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TSGANConfig:
    """TS-GAN (Uppal et al., ICCV 2021) hyper-parameters.

    BUILD_NOTES "Presets: code vs paper" lists every paper/code difference with its paper line.
    """

    preset: str = "code"
    image_size: int = 128
    depth_channels: int = 3            # the code decodes depth as 3-channel; G outputs 3
    gen_filters: int = 64
    gen_downsamplings: int = 2
    gen_blocks: int = 9                # code 9, paper 6
    gen_upsample: str = "transpose"    # decoder: 'transpose' convs (code, paper l. 526-529) |
                                       # 'resize' (bilinear x2 + 3x3 conv; no checkerboard)
    disc_filters: Tuple[int, ...] = (64, 128, 256, 512)
    disc_strides: Tuple[int, ...] = (2, 2, 2, 1)
    disc_first_norm: bool = False      # IN on D's first conv: code no, paper yes (l. 538-539)
    disc_final_stride: int = 1         # stride of D's 1-map conv: code 1, paper 2 (l. 540-541)
    disc_final_norm: bool = False      # IN + LReLU on the 1-map conv too (the most literal reading)
    lambda_pixel: float = 10.0         # eq. 3 weight
    lambda_cycle: float = 10.0         # eq. 6 weight: code 10, paper 5
    lambda_gradient: float = 0.0       # teacher's depth-gradient L1 (losses.gradient_l1_loss;
                                       # not in the paper or code: 0 = TS-GAN's eq. 7)
    gradient_scales: int = 1           # lambda_gradient: over 1 (full), 2 (+ 2x pooled), ... scales
    lambda_landmark: float = 0.0       # G_A2B's landmark head: weight of the mean squared error
                                       # of K extra output maps to landmark heat maps
                                       # (data_pipelines.landmark_heatmaps; not in the paper or
                                       # code: 0 = no head, TS-GAN's G)
    landmark_sigma: float = 1.5        # the heat maps' Gaussian sigma, pixels at image_size
    landmark_foreground_weight: float = 0.0  # extra weight of the maps' blobs in the head's
                                       # squared error (losses.heatmap_loss; 0 = plain mean)
    landmark_decay_epoch: int = -1     # lambda_landmark constant (-1) or, from this epoch, linear
                                       # to 0 at the last step (schedules.LinearDecay)
    lr_teacher: float = 2e-4
    lr_student: float = 2e-6
    lr_disc: float = 2e-6              # used when disc_lr == 'own'
    disc_lr: str = "own"               # 'own': lr_disc (code) | 'component': D_depth at the
                                       # teacher's lr/schedule, D_RGB at the student's (paper)
    beta_1: float = 0.9
    beta_2: float = 0.999
    decay: str = "linear"              # 'linear' to 0 (code) | 'step' x factor every start
                                       # epochs | 'compound' x factor per epoch after start
                                       # (paper, Algorithm 1 l. 506-508)
    decay_factor: float = 0.5
    decay_epoch_teacher: int = 10      # code 10, paper 25
    decay_epoch_student: int = 20      # code 20, paper 50
    decay_epoch_disc: int = 10         # code: D decays with the teacher
    epochs: int = 100
    batch_size: int = 1
    pool_size: int = 50
    d_rgb_real: str = "source"         # D_RGB's real images: source RGB (code) or target RGB
    update_order: str = "code"         # 'code': teacher G, student G, one joint D step;
                                       # 'algorithm1': teacher G, D_depth, student G, D_RGB
    d_depth_student_fakes: bool = True  # D_depth also trained on student fakes (code; not eq. 2)
    regenerate_fakes: bool = False     # algorithm1: each D step judges fakes of the G just
                                       # updated (Algorithm 1 l. 493-505), not the G step's
    gan_half: bool = False             # the 1/2 factors of eqs. 1, 2, 4, 5 (the code has none)
    mask_pixel_loss: bool = False      # code: L1 over every pixel, background included
    mask_close_px: int = 0             # mask_pixel_loss: 0 = L1 over valid depth only; k > 0 =
                                       # also over the background, skipping only the holes
                                       # inside the valid mask closed by a k x k square
                                       # (losses.hole_tolerant_mask; not in the paper or code)
    reproduce_flip_bug: bool = False   # code flips RGB and depth independently
    framing_shift: float = 0.0         # random shift of each training image (fraction of its
                                       # size, per axis; data_pipelines.framing_jitter); code:
                                       # load_size = crop_size = 128, no random crop
    framing_log_zoom: float = 0.0      # random zoom exp(U(-z, z)) about the centre (code: none)

    def __post_init__(self):
        _check_positive("image_size", self.image_size)
        if self.image_size % (2 ** self.gen_downsamplings):
            raise ConfigError(f"image_size={self.image_size} must be divisible by "
                              f"2**gen_downsamplings={2 ** self.gen_downsamplings}")
        _check_choice("depth_channels", self.depth_channels, {1, 3})
        _check_choice("decay", self.decay, {"linear", "step", "compound"})
        _check_choice("gen_upsample", self.gen_upsample, {"transpose", "resize"})
        _check_choice("d_rgb_real", self.d_rgb_real, {"source", "target"})
        _check_choice("update_order", self.update_order, {"code", "algorithm1"})
        _check_choice("disc_lr", self.disc_lr, {"own", "component"})
        _check_choice("disc_final_stride", self.disc_final_stride, {1, 2})
        if self.update_order == "algorithm1" and self.d_depth_student_fakes:
            raise ConfigError("update_order='algorithm1' trains D_depth on eq. 2 (teacher fakes "
                              "only): d_depth_student_fakes must be False")
        if self.regenerate_fakes and self.update_order != "algorithm1":
            raise ConfigError("regenerate_fakes=True needs update_order='algorithm1'")
        if len(self.disc_filters) != len(self.disc_strides):
            raise ConfigError("disc_filters and disc_strides must have the same length, got "
                              f"{self.disc_filters} and {self.disc_strides}")
        for name in ("gen_filters", "gen_blocks", "epochs", "batch_size", "lr_teacher",
                     "lr_student", "lr_disc"):
            _check_positive(name, getattr(self, name))
        if self.pool_size < 0:
            raise ConfigError(f"pool_size must be >= 0, got {self.pool_size}")
        if not 0.0 <= self.framing_shift <= FRAMING_SHIFT_MAX:
            raise ConfigError(f"framing_shift must be in [0, {FRAMING_SHIFT_MAX}], got "
                              f"{self.framing_shift}")
        if not 0.0 <= self.framing_log_zoom <= FRAMING_LOG_ZOOM_MAX:
            raise ConfigError(f"framing_log_zoom must be in [0, {FRAMING_LOG_ZOOM_MAX}], got "
                              f"{self.framing_log_zoom}")
        if self.lambda_gradient < 0:
            raise ConfigError(f"lambda_gradient must be >= 0, got {self.lambda_gradient}")
        _check_positive("gradient_scales", self.gradient_scales)
        if self.lambda_landmark < 0:
            raise ConfigError(f"lambda_landmark must be >= 0, got {self.lambda_landmark}")
        _check_positive("landmark_sigma", self.landmark_sigma)
        if self.landmark_foreground_weight < 0:
            raise ConfigError(f"landmark_foreground_weight must be >= 0, got "
                              f"{self.landmark_foreground_weight}")
        if self.landmark_decay_epoch < -1:
            raise ConfigError(f"landmark_decay_epoch must be -1 (constant) or >= 0, got "
                              f"{self.landmark_decay_epoch}")
        if self.lambda_landmark and self.reproduce_flip_bug:
            raise ConfigError("lambda_landmark needs the landmark maps flipped with the RGB: "
                              "reproduce_flip_bug=True flips RGB and depth independently")
        if self.mask_close_px < 0:
            raise ConfigError(f"mask_close_px must be >= 0, got {self.mask_close_px}")
        if self.mask_close_px and not self.mask_pixel_loss:
            raise ConfigError(f"mask_close_px={self.mask_close_px} needs mask_pixel_loss=True "
                              "(without a mask the L1 already covers every pixel)")

    def replace(self, **changes) -> "TSGANConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown TSGANConfig field(s): {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TSGANConfig":
        d = dict(d)
        for key in ("disc_filters", "disc_strides"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


#: TS-GAN's Table 5 ablations (``depthlab.models.tsgan.ABLATIONS``; here, TF-free, for the
#: binary's flags): 'teacher_only' (no student) or 'a2b_only' (G_A2B + pixel loss, no D).
TSGAN_ABLATIONS = ("none", "teacher_only", "a2b_only")
#: train_tsgan --method: TS-GAN (Algorithm 1) or a paper Table 1 baseline
#: (``depthlab.models.tsgan_baselines.METHODS``).
TSGAN_METHODS = ("tsgan", "fcn", "cgan", "cyclegan")
#: Labels of paper Table 1's columns, per method.
TSGAN_METHOD_LABELS = {"fcn": "FCN", "cgan": "cGAN", "cyclegan": "CycleGAN", "tsgan": "TS-GAN"}

TSGAN_PRESETS: Dict[str, TSGANConfig] = {
    # The public repository's defaults (train_tsgan.py + module.py, commit 8605b4e).
    "code": TSGANConfig(preset="code"),
    # The paper's text (line numbers of tsgan-uppal.txt; BUILD_NOTES "Presets: code vs
    # paper"): 6 residual blocks (l. 523); D of four k4-s2 convs (64,128,256,256), IN on all,
    # + a k4-s2 1-map conv (l. 536-541); lambda_cyc 5 (l. 556); Algorithm 1's order (l.
    # 490-505) with eq. 2's D_depth (teacher fakes only) and eq. 5's D_RGB (target RGB real);
    # the 1/2 LSGAN factors (eqs. 1, 2, 4, 5); two learning rates, teacher (G_A2B's teacher
    # step, D_depth) and student (student step, D_RGB) (l. 551-552), each x0.5 per epoch
    # after epoch 25 / 50 (Algorithm 1 l. 506-508, l. 553-556).
    "paper": TSGANConfig(
        preset="paper", gen_blocks=6, disc_filters=(64, 128, 256, 256),
        disc_strides=(2, 2, 2, 2), disc_first_norm=True, disc_final_stride=2,
        lambda_cycle=5.0, beta_1=0.5, decay="compound", disc_lr="component",
        decay_epoch_teacher=25, decay_epoch_student=50, decay_epoch_disc=25,
        d_rgb_real="target", update_order="algorithm1", d_depth_student_fakes=False,
        regenerate_fakes=True, gan_half=True),
    # Not a paper preset: a small network for the 2-CPU README demo and the tests. Same
    # topology as 'paper', narrower and at 64x64, with a faster student/D so that the
    # student half visibly trains within a few hundred steps; the pixel L1 is masked to the
    # face so that the few steps go into face depth rather than the background. lambda_pixel
    # 200 (code 10; issue 20): in the demo's 200 steps on the camera-like faces the
    # discriminators' terms at weight 1 against 10 x L1 left G_A2B worse than a flat face
    # over the face front; measured, seed 0, 48 unseen faces per domain (face-front RMSE
    # mm, source / target; best flat face 13.4 / 14.5): lambda_pixel 10 -> 21.1 / 58.1,
    # 50 -> 12.3 / 38.3, 200 -> 10.6 / 20.5 (BUILD_NOTES, "The demo on the new faces").
    # Framing jitter (shift 10 %, zoom exp(+-0.12); issue 20): photographs' crops are framed
    # less alike than the embedded faces, and without it the generator places its face
    # template by position in the frame (BUILD_NOTES, "Faces v4 and framing jitter").
    # Batch 4 (was 8; issue 20, session 24): 400 steps of 4 in the time of about 220 of 8;
    # over seeds 0 / 1 / 2 the stand-in head's face front 12.9 / 11.5 / 12.4 mm against 14.4 /
    # 11.8 / 10.9 at batch 8 (best flat 13.8), unseen target faces 12.7 / 13.1 / 12.7 against
    # 13.3 / 13.6 / 14.0 (flat 14.3) (BUILD_NOTES, "Batch 4: more steps in the same time").
    # A landmark head on G_A2B (lambda_landmark 2500, decaying to 0 over the run; issue 20,
    # session 25; not TS-GAN's, the export is depth alone): over seeds 0 / 1 / 2 the
    # astronaut's nose tip +9.3 / +4.9 / +12.1 mm in front of her eyes and her chin +15.8 /
    # +10.4 / +11.4 in front of her neck (no head: -11.3 / -2.9 / -1.9 and about -22), the
    # stand-in head's face front 13.5 / 12.2 / 10.5 mm against 12.9 / 11.5 / 12.4 (flat 13.8);
    # unseen target-domain faces worse, 14.7 / 13.8 / 15.0 against 12.7 / 13.1 / 12.7 (flat
    # 14.3) (BUILD_NOTES, "A landmark head, and what more steps do"). Only --method=tsgan on
    # the embedded faces has landmarks: elsewhere --config_override=lambda_landmark=0.
    # The head's squared error weighted 1 + 20 x the maps' height (landmark_foreground_weight;
    # session 26): with the plain mean the nose-tip and chin maps stayed near -1 everywhere
    # (peaks 0.04-0.11 of 1 on every face); weighted, lambda 1000 (BUILD_NOTES, "Weighting the
    # landmark blobs").
    "demo": TSGANConfig(
        preset="demo", image_size=64, gen_filters=32, gen_blocks=6, lambda_pixel=200.0,
        disc_filters=(32, 64, 128, 128), disc_strides=(2, 2, 2, 2), lambda_cycle=5.0,
        lr_teacher=1e-3, lr_student=2e-4, lr_disc=2e-4, beta_1=0.5, decay="linear",
        decay_epoch_teacher=5, decay_epoch_student=5, decay_epoch_disc=5, epochs=8,
        batch_size=4, pool_size=50, d_rgb_real="target", mask_pixel_loss=True,
        framing_shift=0.1, framing_log_zoom=0.12, lambda_landmark=1000.0,
        landmark_foreground_weight=20.0, landmark_decay_epoch=0),
}


def tsgan_config(preset: str = "code", **overrides) -> TSGANConfig:
    """Returns the named preset with ``overrides`` applied (unknown names are errors)."""
    if preset not in TSGAN_PRESETS:
        raise ConfigError(f"unknown TS-GAN preset {preset!r}; choose one of "
                          f"{sorted(TSGAN_PRESETS)}")
    return TSGAN_PRESETS[preset].replace(**overrides) if overrides else TSGAN_PRESETS[preset]
