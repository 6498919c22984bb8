"""TS-GAN's run options, declared once (issue 17): the flags of ``experiments.train_tsgan``,
their validation and the resume rule's fields all come from :class:`TSGANOptions`.

TensorFlow-free (``--help`` must answer at once): the choices come from TF-free modules
(``depthlab.configs``, ``data_pipelines.registry``, ``data_pipelines.recognition_protocol_names``).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from data_pipelines import registry as datasets
from data_pipelines.recognition_protocol_names import CURTIN_PROTOCOLS
from depthlab.configs import TSGAN_ABLATIONS, TSGAN_METHODS, TSGAN_PRESETS
from depthlab.core.options import CommonOptions, OptionsError, config_override_option, option

#: the views of ``data_pipelines.registry`` TS-GAN reads: paired RGB-D (teacher) and RGB
#: (the student's target domain)
PAIRED_VIEW = "paired_faces"
TARGET_VIEW = "rgb_faces"
#: default datasets: the embedded procedural faces (``data_pipelines.registry``)
DEFAULT_SOURCE = datasets.get("synthetic_faces").name
DEFAULT_TARGET = datasets.get("synthetic_faces_target").name
#: --target_protocol: 'paper' = the recognition protocol's training images only; 'all' = the
#: whole target split (what every run before this option read)
TARGET_PROTOCOLS = ("paper", "all")
#: real face datasets whose recognition protocol decides the student's images (paper lines
#: 595-606); equal to ``data_pipelines.recognition_protocols.STUDENT_PROTOCOLS`` and
#: ``IIITD_FOLDS`` (a test pins it), here without that module's TensorFlow import
STUDENT_PROTOCOLS = ("iiitd_rgbd", "eurecom_kinectfacedb", "lfw_faces")
IIITD_FOLDS = (1, 2, 3, 4, 5)


@dataclasses.dataclass
class TSGANOptions(CommonOptions):
    """Everything about a TS-GAN run: method, preset, data, budget (flags of train_tsgan)."""

    method: str = option(
        "tsgan", "What to train: 'tsgan' (Algorithm 1) or a paper Table 1 baseline: 'fcn' "
        "(encoder-decoder, absolute-error loss only [4]), 'cgan' (pix2pix-style conditional "
        "GAN + L1 [33]), 'cyclegan' (unpaired RGB <-> depth with cycle losses [24]). Same "
        "networks, data, budget flags and export.", choices=TSGAN_METHODS)
    preset: str = option(
        "code", "Hyper-parameter preset: 'code' (the authors' repository), 'paper' (the "
        "paper's text) or 'demo' (small, for CPUs; not a paper setting).",
        choices=tuple(TSGAN_PRESETS))
    config_override: Tuple[str, ...] = config_override_option()
    dataset: str = option(
        DEFAULT_SOURCE, "Paired RGB-D source (teacher). 'synthetic_faces' is generated on the "
        "fly.", choices=datasets.names(view=PAIRED_VIEW))
    target_dataset: str = option(
        DEFAULT_TARGET, "Unpaired RGB target domain (student).",
        choices=datasets.names(view=TARGET_VIEW))
    curtin_protocol: Optional[str] = option(
        None, "--dataset=curtinfaces subject split: 'paper_47_5' = paper sec. 5.1, 47 subjects "
        "train / the last 5 (48-52) test; splits 'train' and 'test'.",
        choices=sorted(CURTIN_PROTOCOLS))
    target_protocol: Optional[str] = option(
        None, "Which target images the student trains on. 'paper' (default for iiitd_rgbd, "
        "eurecom_kinectfacedb, lfw_faces; paper lines 595-607, 617-619): only the recognition "
        "protocol's training images, never a recognition test image (IIIT-D: fold "
        "--target_fold's training set; EURECOM: the 468 of the 50/50 split; LFW: all but the "
        "62 x 20 test images). 'all' (default otherwise): the whole target split.",
        choices=TARGET_PROTOCOLS)
    target_fold: Optional[int] = option(
        None, "--target_dataset=iiitd_rgbd with --target_protocol=paper: the recognition fold "
        "(1-5) whose training images the student sees (one generator per fold).",
        lower=min(IIITD_FOLDS), upper=max(IIITD_FOLDS))
    target_split_seed: int = option(
        0, "--target_protocol=paper: the seed of the EURECOM 50/50 and LFW draws; use "
        "train_recognition's --seed.", lower=0)
    data_dir: Optional[str] = option(
        None, "TFDS data_dir for real datasets; manual downloads are read from "
        "<data_dir>/manual/<dataset>/.", resume=False)
    target_data_dir: Optional[str] = option(
        None, "TFDS data_dir of the target dataset (default: --data_dir).", resume=False)
    train_split: str = option("train", "Split of --dataset the teacher trains on.")
    target_split: str = option("train", "Split of --target_dataset the student trains on "
                                        "(--target_protocol=all).")
    eval_split: str = option("test", "Held-out split of --dataset (step-0 and final metrics, "
                                     "sample grids, collapse probe).", resume=False)
    eval_limit: Optional[int] = option(
        None, "At most this many held-out images (default: all).", lower=1, resume=False)
    epochs: Optional[int] = option(None, "Epochs (default: the preset's).", lower=1,
                                   extends=True)
    steps_per_epoch: Optional[int] = option(
        None, "Steps per epoch (default: one pass over the paired data).", lower=1)
    batch_size: Optional[int] = option(None, "Batch size (default: the preset's).", lower=1)
    ablation: str = option(
        "none", "Paper Table 5: 'teacher_only' (no student) or 'a2b_only' (G_A2B with the "
        "pixel loss, no discriminator).", choices=TSGAN_ABLATIONS)
    synthetic_identities: int = option(
        100, "synthetic_faces: training identities (held out: a quarter as many, at least 4).",
        lower=1)
    synthetic_images_per_identity: int = option(2, "synthetic_faces: images per identity.",
                                                lower=1)
    synthetic_diffuse_light: float = option(
        0.0, "synthetic_faces: share of the paired (source-domain) faces, training and held-out, "
        "lit by diffuse light only (FaceConfig.diffuse_light_fraction; 0 = faces v4; "
        "BUILD_NOTES 'Diffuse light and resize-conv').", lower=0.0, upper=1.0)
    jit_compile: bool = option(False, "Compile the train step with XLA.", resume=False)

    def check(self) -> None:
        self._check_target_protocol()
        if self.method != "tsgan" and self.ablation != "none":
            raise OptionsError(f"--ablation={self.ablation} is a TS-GAN ablation; --method="
                               f"{self.method} takes none")
        if self.curtin_protocol is not None and self.dataset.split("/")[0] != "curtinfaces":
            raise OptionsError(f"--curtin_protocol={self.curtin_protocol} needs "
                               f"--dataset=curtinfaces, got {self.dataset!r}")
        if self.synthetic_diffuse_light and self.dataset != DEFAULT_SOURCE:
            raise OptionsError(f"--synthetic_diffuse_light={self.synthetic_diffuse_light} "
                               f"renders procedural faces: it needs --dataset=synthetic_faces, "
                               f"got {self.dataset!r}")

    def _check_target_protocol(self) -> None:
        """Resolves ``target_protocol`` (None -> 'paper' for IIIT-D / EURECOM / LFW targets,
        else 'all') and checks it with ``target_fold`` (paper lines 595-607)."""
        base = self.target_dataset.split("/")[0]
        if self.target_protocol is None:
            self.target_protocol = "paper" if base in STUDENT_PROTOCOLS else "all"
        paper = self.target_protocol == "paper"
        if paper and base not in STUDENT_PROTOCOLS:
            raise OptionsError(f"--target_protocol=paper needs a --target_dataset with a "
                               f"recognition protocol ({', '.join(STUDENT_PROTOCOLS)}), got "
                               f"{self.target_dataset!r}; use --target_protocol=all")
        if paper and base == "iiitd_rgbd":
            if self.target_fold not in IIITD_FOLDS:
                raise OptionsError(
                    f"--target_fold must be one of {list(IIITD_FOLDS)} with --target_dataset="
                    f"iiitd_rgbd --target_protocol=paper (the recognition fold whose training "
                    f"images the student sees), got {self.target_fold}")
        elif self.target_fold is not None:
            raise OptionsError(f"--target_fold={self.target_fold} applies only to "
                               f"--target_dataset=iiitd_rgbd with --target_protocol=paper "
                               f"(got --target_dataset={self.target_dataset} "
                               f"--target_protocol={self.target_protocol})")
        if paper and self.target_split != "train":
            raise OptionsError(f"target_split={self.target_split!r}: with "
                               "--target_protocol=paper the recognition protocol picks the "
                               "student's images")
