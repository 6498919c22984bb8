"""Options of the CycleGAN depth synthesis trainer (Suarez, Carpio, Sappa), declared once:
``experiments/train_cyclegan_depth.py``'s flags are made from this dataclass.
TensorFlow-free (``--help`` answers at once): the names the flags offer as choices live here
and ``depthlab.models.cyclegan_depth`` imports them from this module."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from data_pipelines import registry as datasets
from depthlab.core.options import (CommonOptions, OptionsError, config_override_option,
                                   option)

#: the paper's comparison rows, one code path (depthlab.models.cyclegan_depth)
VARIANTS = ("cyclegan", "cut", "fastcut", "suarez", "dclgan", "simdcl", "hnegsrc")
#: lambda1..lambda5 of eq. 6
LAMBDA_NAMES = ("lambda_gan", "lambda_nce_x", "lambda_nce_y", "lambda_identity", "lambda_cycle")
#: weights of the terms only the contrastive rows have (SimDCL's similarity loss, HnegSRC's
#: semantic relation consistency); set with --config_override=lambda_sim=... / lambda_src=...
EXTRA_LAMBDA_NAMES = ("lambda_sim", "lambda_src")
#: names of depthlab.models.cyclegan_depth.PRESETS
PRESET_NAMES = ("demo", "paper")
#: domain X: the gray image (BT.601 luma, 3 channels) or the RGB image
INPUT_MODES = ("gray", "rgb")
#: the data_pipelines.registry view this trainer reads
DATA_VIEW = "unpaired_depth"
#: the model-config fields with a flag of their own (None: the preset's / variant's value)
CONFIG_FLAGS = LAMBDA_NAMES + ("image_size", "num_patches", "nce_temperature", "pool_size")

_LAMBDA_HELP = {
    "lambda_gan": "lambda1 of eq. 6: LSGAN terms (eqs. 4, 5).",
    "lambda_nce_x": "lambda2 of eq. 6: PatchNCE(G1, H, X) between x and G1(x).",
    "lambda_nce_y": "lambda3 of eq. 6: PatchNCE(G1, H, Y) between y and G1(y) (identity NCE).",
    "lambda_identity": "lambda4 of eq. 6: L1 identity (eq. 2), both generators.",
    "lambda_cycle": "lambda5 of eq. 6: L1 cycle consistency (eq. 1), both directions.",
}
_COMMON = {f.name: f for f in dataclasses.fields(CommonOptions)}


def _lambda(name: str):
    # a model-config field: the resume rule compares the effective model config
    # (config.json's 'model'), so the flag itself is not a resume field (as config_override)
    return option(None, _LAMBDA_HELP[name] + " Default: the variant's.", lower=0.0,
                  resume=False)


@dataclasses.dataclass
class CycleGANDepthOptions(CommonOptions):
    # This trainer's progress default (50 steps; CommonOptions' 10) is kept.
    log_every: int = option(50, _COMMON["log_every"].metadata["help"], lower=1, resume=False)

    # -- model config (the preset + these flags + --config_override) --------------------------
    # Not resume fields themselves: the resume rule compares the effective model config.
    variant: str = option(
        "suarez", "Which row: 'cyclegan', 'cut', 'fastcut' or 'suarez' (the paper's eq. 6).",
        choices=VARIANTS, resume=False)
    preset: str = option(
        "paper", "Network size: 'paper' (256x256, ResNet-9 G, 70x70 PatchGAN, 256 patches) or "
        "'demo' (64x64, small networks, for CPUs; not a paper setting).",
        choices=PRESET_NAMES, resume=False)
    image_size: Optional[int] = option(None, "Square training size (default: the preset's).",
                                       lower=4, resume=False)
    lambda_gan: Optional[float] = _lambda("lambda_gan")
    lambda_nce_x: Optional[float] = _lambda("lambda_nce_x")
    lambda_nce_y: Optional[float] = _lambda("lambda_nce_y")
    lambda_identity: Optional[float] = _lambda("lambda_identity")
    lambda_cycle: Optional[float] = _lambda("lambda_cycle")
    num_patches: Optional[int] = option(None, "PatchNCE patches per layer (CUT: 256; 0 = all).",
                                        lower=0, resume=False)
    nce_temperature: Optional[float] = option(None, "PatchNCE temperature (CUT: 0.07).",
                                              above=0.0, resume=False)
    pool_size: Optional[int] = option(None, "Fake-image pool (-1: 50 for cycle variants, 0 for "
                                      "CUT/FastCUT).", lower=-1, resume=False)
    config_override: Tuple[str, ...] = config_override_option()

    # -- schedule and optimiser ------------------------------------------------------------------
    epochs: int = option(200, "Epochs.", lower=1, extends=True)
    steps_per_epoch: Optional[int] = option(None, "Steps per epoch (default: one pass over the "
                                            "training images).", lower=1)
    batch_size: int = option(1, "Batch size (paper: 1).", lower=1)
    learning_rate: float = option(2e-4, "Adam learning rate, G and D (paper: 2e-4).", above=0.0)
    beta_1: float = option(0.5, "Adam beta_1 (paper: 0.5).", lower=0.0, below=1.0)

    # -- data --------------------------------------------------------------------------------------
    dataset: str = option(
        datasets.SYNTHETIC_FACES,
        "'synthetic_faces' (embedded, generated on the fly) or "
        "'nyu_depth_v2' (the labeled .mat, first 1000 frames train, last 449 test).",
        choices=datasets.names(view=DATA_VIEW))
    data_dir: Optional[str] = option(None, "nyu_depth_v2: nyu_depth_v2_labeled.mat or its "
                                     "folder.", resume=False)
    input_mode: str = option("gray", "Domain X: the gray image (BT.601 luma, 3 channels) or the "
                             "RGB image.", choices=INPUT_MODES)
    synthetic_identities: int = option(20, "synthetic_faces: training identities.", lower=1)
    synthetic_images_per_identity: int = option(10, "synthetic_faces: images per identity.",
                                                lower=1)
    eval_limit: Optional[int] = option(None, "Evaluate on at most this many test images.",
                                       lower=1, resume=False)

    # -- execution -------------------------------------------------------------------------------
    jit_compile: bool = option(False, "Compile the train step with XLA.", resume=False)
    run_eagerly: bool = option(False, "Run the train step eagerly (debugging; one device).",
                               resume=False)

    def check(self) -> None:
        try:
            datasets.check_data_dir(self.dataset, self.data_dir)
        except ValueError as e:
            raise OptionsError(str(e)) from None

    def config_flags(self):
        """The flag-backed model-config fields that are set ({name: value})."""
        return {k: getattr(self, k) for k in CONFIG_FLAGS if getattr(self, k) is not None}
