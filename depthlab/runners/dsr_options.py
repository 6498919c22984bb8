"""Options of cross-task distillation DSR (Sun et al., CVPR 2021), declared once.

TensorFlow-free (``experiments/train_dsr_distill.py --help`` imports only this): the flags,
the validation and the resume rule come from :class:`DSROptions`. The choices the model
module needs too (scales, presets, teacher modes, role granularities) are defined here and
imported by ``depthlab.models.dsr_distill``.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from data_pipelines import nyu_splits
from data_pipelines import registry as datasets
from depthlab.core.options import CommonOptions, OptionsError, config_override_option, option

SCALES = (4, 8, 16)          # the paper's scales; DBPN units also accept 2
TEACHER_MODES = ("frozen", "task")
#: when the teacher is chosen: once per epoch from the previous epoch's mean errors
#: (Algorithm 1, lines 7-12 of the text) or on every batch (the former rule)
ROLE_GRANULARITIES = ("epoch", "batch")
PRESETS = ("paper", "demo")
#: the datasets' view this trainer reads (data_pipelines.registry)
DATA_VIEW = "rgbd_records"


@dataclasses.dataclass
class DSROptions(CommonOptions):
    """``experiments.train_dsr_distill``'s flags (one field each)."""

    scale: int = option(4, "Super-resolution factor (4, 8 or 16).", choices=SCALES)
    dataset: str = option(
        datasets.MIDDLEBURY_SAMPLE,
        "'middlebury_sample' is embedded (scikit-image's Middlebury 2014 "
        "Motorcycle); the others read --data_dir.", choices=datasets.names(view=DATA_VIEW))
    data_dir: Optional[str] = option(
        None, "nyu_depth_v2: the labeled .mat (or its folder); middlebury: a folder of scenes "
        "in the 2005/2006/2014 layouts.", resume=False)
    nyu_protocol: Optional[str] = option(
        None, nyu_splits.PROTOCOL_HELP + " Here: 'first1000' (the DKN / FDSR split of the "
        "DSR comparisons; the DSR text names none).", choices=nyu_splits.PROTOCOLS)
    preset: str = option("demo", "'paper' (width 64, N=4) or 'demo' (width 32, N=2; for CPUs, "
                         "not a paper setting).", choices=PRESETS)
    epochs: int = option(20, "Total epochs (stage 1 + stage 2).", lower=1, extends=True)
    stage1_epochs: int = option(10, "Epochs of independent pretraining (Algorithm 1 step 1: "
                                "100).", lower=1)
    steps_per_epoch: int = option(100, "Steps per epoch.", lower=1)
    batch_size: int = option(8, "Patches per step (global: divided across the replicas; the "
                             "stage-2 roles are chosen on the global batch's errors).", lower=1)
    patch_size: int = option(64, "HR patch size (a multiple of --scale).", lower=16)
    teacher_mode: str = option(
        "frozen", "'frozen': the teacher is fixed during a stage-2 step (Algorithm 1); 'task': "
        "it still trains on its own task loss (never on the distillation loss).",
        choices=TEACHER_MODES)
    role_granularity: str = option(
        "epoch", "Stage 2: when the teacher is chosen. 'epoch' (Algorithm 1): at the start of "
        "each epoch, the net with the lower mean error (eqs. 1, 2) over the previous epoch's "
        "steps teaches for the whole epoch; 'batch': the lower error of each batch (the "
        "former rule).", choices=ROLE_GRANULARITIES)
    train_limit: Optional[int] = option(None, "Use at most this many training images.", lower=1)
    eval_limit: Optional[int] = option(None, "Evaluate at most this many images.", lower=1,
                                       resume=False)
    eval_every: int = option(1, "Held-out RMSE every N epochs (0: only at the end).", lower=0,
                             resume=False)
    config_override: Tuple[str, ...] = config_override_option()

    def __post_init__(self):
        try:
            self.nyu_protocol = nyu_splits.resolve_protocol(
                self.dataset, self.nyu_protocol, "first1000", self.data_dir)
        except ValueError as e:
            raise OptionsError(str(e)) from None
        super().__post_init__()

    def check(self) -> None:
        if self.patch_size % self.scale:
            raise OptionsError(f"--patch_size must be a multiple of --scale (--patch_size="
                               f"{self.patch_size}, --scale={self.scale})")
        if self.stage1_epochs > self.epochs:
            raise OptionsError(f"--stage1_epochs must be <= --epochs (--stage1_epochs="
                               f"{self.stage1_epochs}, --epochs={self.epochs})")
        spec = datasets.get(self.dataset)
        if spec.needs_data_dir and not self.data_dir:
            raise OptionsError(f"--data_dir is required for --dataset={self.dataset} (only "
                               f"datasets without files need none): {spec.layout}")
