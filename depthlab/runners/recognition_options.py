"""Options of the TS-GAN face-recognition trainer (paper section 4.2 "Face Recognition",
Tables 2-5), declared once: ``experiments/train_recognition.py``'s flags are made from
:class:`RecognitionOptions`. TensorFlow-free (``--help`` answers at once): the choice
constants live here and the TF modules (``depthlab.recognition.backbones`` / ``models``) import
them from here.

One run = one (backbone, inputs, fusion, protocol): the backbones VGG-16, Inception-v2,
ResNet-50 and SE-ResNet-50, RGB / D / D~ inputs and the feature-level, score-level, two-level
attention [41] and depth-guided attention [42] fusions of section 4.2;
``RecognitionOptions.column`` names the run's column in the paper's Tables 2-4 (``COLUMNS``,
``COLUMN_LABELS``), :func:`role_names` the models a run trains one after another, and
:func:`load_options` reads a trained run's ``config.json`` back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Optional, Tuple

from data_pipelines.recognition_protocol_names import (IIITD_FOLDS, PROTOCOLS,
                                                       RGB_ONLY_PROTOCOLS)
from depthlab.core.options import CommonOptions, OptionsError, option

#: recognition backbones (``depthlab.recognition.backbones.build_backbone``)
BACKBONES = ("vgg16", "resnet50", "se_resnet50", "inception")
#: input columns (``depthlab.recognition.models.build_classifier``)
INPUTS = ("rgb", "depth", "depth_hallucinated", "rgbd", "rgbd_hallucinated")
#: the attention fusions [41, 42] (``models.ATTENTION_FUSIONS``' keys)
ATTENTION_FUSION_NAMES = ("two_level_attention", "depth_guided_attention")
FUSIONS = ("feature", "score", "feature_frozen", *ATTENTION_FUSION_NAMES)
#: score-fusion rules (``models.fuse_scores``)
SCORE_RULES = ("mean", "product")
SYNTHETIC_DOMAINS = ("source", "target")

COLUMNS = ("rgb", "rgbd_feature", "rgbd_score", "rgbd_hallucinated_feature",
           "rgbd_hallucinated_score", "depth", "depth_hallucinated",
           # extra columns (after the paper's Table 2-4 layout): feature fusion of separately
           # trained, frozen streams, and the attention fusions
           "rgbd_feature_frozen", "rgbd_hallucinated_feature_frozen",
           "rgbd_score_validated", "rgbd_hallucinated_score_validated",
           "rgbd_two_level_attention", "rgbd_depth_guided_attention",
           "rgbd_hallucinated_two_level_attention", "rgbd_hallucinated_depth_guided_attention")
COLUMN_LABELS = {"rgb": "RGB", "rgbd_feature": "RGB+D feature", "rgbd_score": "RGB+D score",
                 "rgbd_hallucinated_feature": "RGB+D~ feature",
                 "rgbd_hallucinated_score": "RGB+D~ score", "depth": "D only",
                 "depth_hallucinated": "D~ only",
                 "rgbd_feature_frozen": "RGB+D feature (frozen streams)",
                 "rgbd_hallucinated_feature_frozen": "RGB+D~ feature (frozen streams)",
                 "rgbd_score_validated": "RGB+D score (w from validation)",
                 "rgbd_hallucinated_score_validated": "RGB+D~ score (w from validation)",
                 "rgbd_two_level_attention": "RGB+D two-level att.",
                 "rgbd_depth_guided_attention": "RGB+D depth-guided att.",
                 "rgbd_hallucinated_two_level_attention": "RGB+D~ two-level att.",
                 "rgbd_hallucinated_depth_guided_attention": "RGB+D~ depth-guided att."}


@dataclasses.dataclass
class RecognitionOptions(CommonOptions):
    backbone: str = option("resnet50", "vgg16 / resnet50 (keras.applications), se_resnet50, "
                           "inception (BN-Inception).", choices=BACKBONES)
    inputs: str = option("rgb", "rgb | depth | depth_hallucinated (one stream) or rgbd | "
                         "rgbd_hallucinated (RGB + ground-truth D, or RGB + D~ from "
                         "--generator).", choices=INPUTS)
    fusion: str = option(
        "feature", "Two-stream fusion: 'feature' (concatenated embeddings -> classifier), "
        "'score' (weighted average of two separately trained classifiers' softmax), "
        "'feature_frozen' (train the RGB and the depth classifier separately, then a "
        "classifier on their concatenated, L2-normalised, frozen embeddings), "
        "'two_level_attention' (LSTM feature-map + spatial attention over the "
        "concatenated feature maps, Uppal et al. 2021a) or 'depth_guided_attention' "
        "(a depth-derived attention map weights the RGB feature maps, Uppal et al. "
        "2021b).", choices=FUSIONS)
    protocol: str = option("synthetic_faces", "Dataset protocol: synthetic_faces (embedded), "
                           "iiitd_rgbd (5 folds), eurecom_kinectfacedb (50/50 + "
                           "pose/occlusion), lfw_faces (62 subjects).", choices=PROTOCOLS)
    data_dir: Optional[str] = option(None, "TFDS data_dir of the real datasets (manual "
                                     "downloads in <data_dir>/manual/<dataset>/).",
                                     resume=False)
    manual_dir: Optional[str] = option(None, "Manual-download folder (default: "
                                       "<data_dir>/manual/...).", resume=False)
    fold: Optional[int] = option(None, "IIIT-D: train one fold (1-5) only; default all five.",
                                 lower=min(IIITD_FOLDS), upper=max(IIITD_FOLDS))
    protocol_file: Optional[str] = option(None, "CSV 'relpath,set' (set: train, test or a "
                                          "test-set name) overriding the protocol's split.")
    generator: Optional[str] = option(None, "TS-GAN generator SavedModel (for "
                                      "*_hallucinated).")
    backbone_weights: Optional[str] = option(
        None, "Local weights file for the backbone trunk (e.g. Keras' ImageNet *_notop.h5); "
        "default: train from scratch.", resume=False)
    image_size: int = option(128, "Input side in pixels (>= 32).", lower=32)
    width: float = option(1.0, "Channel multiplier of se_resnet50 / inception (1 = paper).",
                          lower=0.01)
    embedding_dim: int = option(512, "Embedding size per stream.", lower=1)
    dropout: float = option(0.0, "Dropout before the classifier.", lower=0.0, upper=0.95)
    epochs: int = option(30, "Epochs (of every trained model; may grow on resume: every model "
                         "is trained further).", lower=1, extends=True)
    batch_size: int = option(32, "Batch size.", lower=1)
    learning_rate: float = option(1e-3, "Adam learning rate.", above=0.0)
    fusion_learning_rate: float = option(
        1e-2, "--fusion=feature_frozen: Adam learning rate of the classifier trained on the "
        "frozen streams' embeddings (a linear layer on fixed features; 10x --learning_rate by "
        "default).", above=0.0)
    score_weight: float = option(
        0.5, "Score fusion: weight of the RGB classifier's softmax (depth gets 1 - w); "
        "replaced by the validated weight when --score_validation_per_identity > 0.",
        lower=0.0, upper=1.0, resume=False)
    score_rule: str = option(
        "mean", "Score fusion rule: 'mean' = w * p_rgb + (1 - w) * p_depth (the paper's "
        "average at w = 0.5); 'product' = the normalised weighted geometric mean "
        "p_rgb**w * p_depth**(1 - w).", choices=SCORE_RULES, resume=False)
    score_validation_per_identity: int = option(
        0, "Score fusion: > 0 chooses --score_weight on held-out images (stacking): the two "
        "members are trained again without the last N training images of each identity, and "
        "the grid weight (0, 0.05, ..., 1) with the best rank-1 on those images is used. "
        "0 = use --score_weight.", lower=0)
    synthetic_identities: int = option(50, "synthetic_faces: identities.", lower=2)
    synthetic_images_per_identity: int = option(40, "synthetic_faces: images per identity.",
                                                lower=2)
    synthetic_domain: str = option("target", "synthetic_faces domain: 'target' (wide pose, "
                                   "varied light) or 'source'.", choices=SYNTHETIC_DOMAINS)
    train_per_identity: Optional[int] = option(None, "synthetic_faces: training images per "
                                               "identity (default half); the rest test.",
                                               lower=1)
    run_eagerly: bool = option(False, "Run the train step eagerly (debugging; tiny models).",
                               resume=False)
    sync_batchnorm: bool = option(
        True, "With --strategy=mirrored/multi_worker: BatchNorm uses the statistics of the "
        "whole global batch (all-reduced, the same step as one device); false: each "
        "replica's own share (less communication).")
    # the binary's default (CommonOptions: 10)
    log_every: int = option(20, "Print progress every N steps.", lower=1, resume=False)

    def check(self) -> None:
        for name in ("learning_rate", "fusion_learning_rate"):
            if not getattr(self, name) > 0:
                raise OptionsError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.score_validation_per_identity and not (self.two_stream
                                                       and self.fusion == "score"):
            raise OptionsError("--score_validation_per_identity applies to --fusion=score with "
                               "--inputs=rgbd or rgbd_hallucinated, not "
                               f"--inputs={self.inputs} --fusion={self.fusion}")
        if self.inputs.endswith("hallucinated") and not self.generator:
            raise OptionsError(f"--inputs={self.inputs} needs --generator=<TS-GAN SavedModel "
                               "dir>")
        if self.inputs in ("depth", "rgbd") and self.protocol in RGB_ONLY_PROTOCOLS:
            raise OptionsError(f"--protocol={self.protocol} has no ground-truth depth; use "
                               "--inputs=rgb, depth_hallucinated or rgbd_hallucinated")
        if self.fold is not None and self.protocol != "iiitd_rgbd":
            raise OptionsError("--fold applies to --protocol=iiitd_rgbd only")

    @property
    def column(self) -> str:
        if self.inputs in ("rgb", "depth", "depth_hallucinated"):
            return self.inputs
        return f"{self.inputs}_{self.fusion}" + ("_validated" if self.validated_score else "")

    @property
    def validated_score(self) -> bool:
        """Score fusion whose weight is chosen on held-out training images (stacking)."""
        return self.score_validation_per_identity > 0

    @property
    def two_stream(self) -> bool:
        return self.inputs.startswith("rgbd")


#: the options' former name (tests, notebooks, experiments/ablation_table.py)
RunOptions = RecognitionOptions


def folds(opts: RecognitionOptions) -> List[Optional[int]]:
    """The folds a run trains: IIIT-D's five (or ``--fold``), one (None) otherwise."""
    if opts.protocol == "iiitd_rgbd":
        return [opts.fold] if opts.fold is not None else list(IIITD_FOLDS)
    return [None]


def fold_name(fold: Optional[int]) -> str:
    return "all" if fold is None else f"fold{fold}"


def model_roles(opts: RecognitionOptions) -> Tuple[str, ...]:
    """The roles of ``depthlab.recognition.models.build_classifier``, in training order."""
    if opts.inputs == "rgb":
        return ("rgb",)
    if opts.inputs in ("depth", "depth_hallucinated"):
        return ("depth",)
    if opts.fusion == "score":
        return ("rgb", "depth")
    if opts.fusion == "feature_frozen":
        return ("rgb", "depth", "fused")
    return ("fused",)


def role_names(opts: RecognitionOptions) -> List[Tuple[Optional[int], str]]:
    """(fold, role directory name) of every model the run trains, in training order: per fold
    the run's roles, then (validated score fusion) 'rgb_val' and 'depth_val'."""
    out = []
    for fold in folds(opts):
        out += [(fold, role) for role in model_roles(opts)]
        if opts.validated_score:
            out += [(fold, role + "_val") for role in model_roles(opts)]
    return out


def load_options(model_dir: str) -> RecognitionOptions:
    """A trained run's options from its ``config.json`` (keys of other trainers' records and of
    newer fields are tolerated; fields older records lack take their defaults)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        record = json.load(f)
    names = {f.name for f in dataclasses.fields(RecognitionOptions)}
    return RecognitionOptions(**{k: v for k, v in record.items() if k in names})
