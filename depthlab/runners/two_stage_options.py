"""Options of the two-stage depth trainer, declared once (issue 17): stage 1 (sparse-to-dense,
experiment ``two_stage_stage1``) and stage 2 (pix2pix refiner on a trained stage 1,
experiment ``two_stage_stage2``). ``experiments/train_two_stage.py`` defines the union of both
classes' flags once and picks the class by ``--stage``; a field both classes declare means the
same thing in both (only its default may differ: ``epochs``, ``batch_size``,
``learning_rate``).

TensorFlow-free (``--help`` must be instant): the model's preset and loss names live here and
``depthlab.models.two_stage`` imports them from this module.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

from data_pipelines import nyu_splits
from data_pipelines import registry as data_registry
from depthlab.core.options import CommonOptions, OptionsError, config_override_option, option

STAGE1_PRESETS = ("sparse_to_dense", "paper", "demo")
STAGE2_PRESETS = ("paper", "demo")
STAGE1_LOSSES = ("berhu", "l1", "l2")
INPUT_TYPES = ("auto", "rgb", "rgbd", "d")
INPUT_CHANNELS = {"rgb": 3, "rgbd": 4, "d": 1}
#: the dataset view the trainer reads (data_pipelines/registry.py)
DATA_VIEW = "depth_completion_arrays"
STREAM_VIEW = "depth_completion_frames"
CROP_VIEW = "depth_completion_crop"
EXPERIMENT_STAGE1 = "two_stage_stage1"
EXPERIMENT_STAGE2 = "two_stage_stage2"

_EPOCHS_HELP = ("Epochs of this stage, each stage its own count (default 20 for stage 1, 200 "
                "for stage 2: the two-stage text, lines 623-628).")
_STEPS_HELP = "Steps per epoch."
_BATCH_HELP = "Batch size (default 10 for stage 1, 1 for stage 2)."
_LR_HELP = "Initial LR (stage 1 SGD default 0.01; stage 2 Adam default 2e-4)."


@dataclasses.dataclass
class Stage1Options(CommonOptions):
    """``--stage=1``: sparse-to-dense ResNet-50 + UpProj on RGB (+ sparse depth)."""

    dataset: str = option(
        data_registry.MIDDLEBURY_SAMPLE,
        "'middlebury_sample' is embedded (scikit-image's Middlebury 2014 "
        "Motorcycle, metric depth); the others read --data_dir.",
        choices=data_registry.names(view=DATA_VIEW))
    data_dir: Optional[str] = option(
        None, "sparse_to_dense_h5: the folder holding train/ and val/; nyu_depth_v2: the "
        "labeled .mat (or its folder).", resume=False)
    # the text's protocol (lines 522-526): NYU's official 249 / 215 scene split
    nyu_protocol: Optional[str] = option(
        None, nyu_splits.PROTOCOL_HELP + " Here: 'official_scenes' (the two-stage text, lines "
        "522-526). sparse_to_dense_h5's train/ and val/ folders already follow the official "
        "split.", choices=nyu_splits.PROTOCOLS)
    preset: str = option(
        "demo", "'sparse_to_dense' (the Torch original, 63.6M parameters), 'paper' (the same "
        "net, output resized to 256x256 for stage 2) or 'demo' (1/8 width, 1 block per stage; "
        "for CPUs).",
        choices=STAGE1_PRESETS)
    num_samples: int = option(200, "Sparse depth samples per image (0: RGB only).", lower=0)
    input_type: str = option("auto", "Network input; 'auto': rgb for --num_samples=0, else rgbd.",
                             choices=INPUT_TYPES)
    loss: str = option("berhu", "Stage-1 loss, masked to valid pixels.", choices=STAGE1_LOSSES)
    epochs: int = option(20, _EPOCHS_HELP, lower=1, extends=True)
    steps_per_epoch: int = option(100, _STEPS_HELP, lower=1)
    batch_size: int = option(10, _BATCH_HELP, lower=1)
    learning_rate: float = option(0.01, _LR_HELP, above=0.0)
    lr_decay_every: int = option(5, "Stage 1: multiply the LR by --lr_decay every N epochs.",
                                 lower=1)
    lr_decay: float = option(0.2, "Stage 1 LR factor (a decay: at most 1).", above=0.0,
                             upper=1.0)
    momentum: float = option(0.9, "Stage 1 SGD momentum (Nesterov).", lower=0.0, below=1.0)
    weight_decay: float = option(1e-4, "Stage 1 SGD weight decay.", lower=0.0)
    # Our choice (issue 21): sparse-to-dense does not clip; without it batch 2 on 32 px crops
    # diverges (BUILD_NOTES.md). 0 is stored as None (off).
    clip_norm: Optional[float] = option(
        10.0, "Stage 1: clip the global gradient norm to this before SGD (our choice, not in "
        "sparse-to-dense; BUILD_NOTES.md, issue 21). 0: off.", lower=0.0)
    crop_hw: Optional[Tuple[int, ...]] = option(
        None, "Network input size H,W (default 96,128 for the sample, 228,304 otherwise; each "
        ">= 32: the encoder down-samples by 32).", lower=32)
    base_filters: Optional[int] = option(None, "Override the encoder width (ResNet-50: 64).",
                                         lower=1)
    backbone_weights: Optional[str] = option(
        None, "A .weights.h5 of a 3-channel depthlab ResNetEncoder (e.g. converted ImageNet "
        "weights). None: train from scratch.")
    sample_downscale: int = option(2, "middlebury_sample: down-sampling of the image.", lower=1)
    train_limit: Optional[int] = option(None, "Use at most this many training frames.", lower=1)
    eval_limit: Optional[int] = option(None, "Evaluate at most this many frames.", lower=1,
                                       resume=False)
    config_override: Tuple[str, ...] = config_override_option()

    def __post_init__(self):
        if self.clip_norm is not None and self.clip_norm == 0:
            self.clip_norm = None
        if self.crop_hw is not None:
            self.crop_hw = tuple(int(v) for v in self.crop_hw)
        try:
            self.nyu_protocol = nyu_splits.resolve_protocol(
                self.dataset, self.nyu_protocol, "official_scenes", self.data_dir)
        except ValueError as e:
            raise OptionsError(str(e)) from None
        super().__post_init__()
        if self.crop_hw is None:
            self.crop_hw = tuple(int(v) for v in
                                 data_registry.get(self.dataset).reader(CROP_VIEW)())

    def check(self) -> None:
        if self.input_type in ("rgbd", "d") and self.num_samples == 0:
            raise OptionsError(f"--input_type={self.input_type} needs --num_samples > 0")
        try:
            data_registry.check_data_dir(self.dataset, self.data_dir)
        except ValueError as e:
            raise OptionsError(str(e)) from None
        if self.crop_hw is not None and (len(self.crop_hw) != 2 or min(self.crop_hw) < 32):
            raise OptionsError(f"--crop_hw={','.join(map(str, self.crop_hw))}: must be H,W "
                               "with H, W >= 32")

    @property
    def input_channels(self) -> int:
        kind = self.input_type
        if kind == "auto":
            kind = "rgb" if self.num_samples == 0 else "rgbd"
        return INPUT_CHANNELS[kind]


@dataclasses.dataclass
class Stage2Options(CommonOptions):
    """``--stage=2``: the pix2pix U-ResNet refiner on the frozen stage 1 of ``stage1_dir``."""

    stage1_dir: Optional[str] = option(
        None, "--stage=2: the --model_dir of a finished stage-1 run.", resume=False)
    stage2_preset: str = option("demo", "'paper' (pix2pix widths) or 'demo' (1/4 width).",
                                choices=STAGE2_PRESETS)
    # stage 2's own epoch count (text line 628: "batch size ... 1 with 200 epochs training"),
    # separate from stage 1's 20 (line 623)
    epochs: int = option(200, _EPOCHS_HELP, lower=1, extends=True)
    steps_per_epoch: int = option(100, _STEPS_HELP, lower=1)
    batch_size: int = option(1, _BATCH_HELP, lower=1)
    learning_rate: float = option(2e-4, _LR_HELP, above=0.0)
    lambda_l1: float = option(100.0, "Stage 2: weight of the L1 term (eq. 2).", lower=0.0)
    max_depth: float = option(10.0, "Stage 2: depth (m) mapped to +1.", lower=1e-3)
    config_override: Tuple[str, ...] = config_override_option()

    def check(self) -> None:
        if not self.stage1_dir:
            raise OptionsError("--stage=2 needs --stage1_dir")
        if not os.path.exists(os.path.join(self.stage1_dir, "stage1.keras")):
            raise OptionsError(f"--stage1_dir={self.stage1_dir} holds no stage1.keras; train "
                               "stage 1 first (--stage=1)")


#: --stage -> (experiment name, options class)
STAGES = {"1": (EXPERIMENT_STAGE1, Stage1Options), "2": (EXPERIMENT_STAGE2, Stage2Options)}
