"""Run options of one TS-GAN recognition experiment (paper section 4.2 "Face Recognition").

One run = one (backbone, inputs, fusion, protocol): the backbones VGG-16, Inception-v2,
ResNet-50 and SE-ResNet-50, RGB / D / D~ inputs and the feature-level, score-level, two-level
attention [41] and depth-guided attention [42] fusions of section 4.2; ``RunOptions.column``
names the run's column in the paper's Tables 2-4 (``COLUMNS``, ``COLUMN_LABELS``), and
``load_options`` reads a trained run's ``config.json`` back.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from data_pipelines import recognition_protocols as rp
from depthlab import collapse, training
from depthlab.nets.recognition_backbones import BACKBONES
from depthlab.recognition.models import FUSIONS, INPUTS, SCORE_RULES


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
class RunOptions:
    model_dir: str
    backbone: str = "resnet50"
    inputs: str = "rgb"
    fusion: str = "feature"
    protocol: str = "synthetic_faces"
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    fold: Optional[int] = None                # IIIT-D: None = all five folds
    protocol_file: Optional[str] = None
    generator: Optional[str] = None
    backbone_weights: Optional[str] = None
    image_size: int = 128
    width: float = 1.0
    embedding_dim: int = 512
    dropout: float = 0.0
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    fusion_learning_rate: float = 1e-2       # --fusion=feature_frozen: its classifier's Adam
    score_weight: float = 0.5
    score_rule: str = "mean"                  # models.SCORE_RULES
    score_validation_per_identity: int = 0    # > 0: w chosen on that many held-out images/id
    seed: int = 0
    mixed_precision: str = "float32"
    synthetic_identities: int = 50
    synthetic_images_per_identity: int = 40
    synthetic_domain: str = "target"
    train_per_identity: Optional[int] = None
    log_every: int = 20
    run_eagerly: bool = False                 # debugging / tiny test models (no tracing)
    strategy: str = "default"                 # training.STRATEGIES
    sync_batchnorm: bool = True               # distributed: BN over the global batch
    collapse_guard: str = "warn"              # collapse.MODES (classifier: one class)

    def __post_init__(self):
        collapse.check_mode(self.collapse_guard)
        checks = (("backbone", BACKBONES), ("inputs", INPUTS), ("fusion", FUSIONS),
                  ("protocol", rp.PROTOCOLS))
        for name, choices in checks:
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name}={getattr(self, name)!r} is not one of {choices}")
        if self.strategy not in training.STRATEGIES:
            raise ValueError(f"--strategy={self.strategy!r} is not one of {training.STRATEGIES}")
        for name in ("epochs", "batch_size", "image_size", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "fusion_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.score_weight <= 1.0:
            raise ValueError(f"--score_weight must be in [0, 1], got {self.score_weight}")
        if self.score_rule not in SCORE_RULES:
            raise ValueError(f"--score_rule={self.score_rule!r} is not one of {SCORE_RULES}")
        if self.score_validation_per_identity < 0:
            raise ValueError("--score_validation_per_identity must be >= 0, got "
                             f"{self.score_validation_per_identity}")
        if self.score_validation_per_identity and not (self.two_stream
                                                       and self.fusion == "score"):
            raise ValueError("--score_validation_per_identity applies to --fusion=score with "
                             f"--inputs=rgbd or rgbd_hallucinated, not --inputs={self.inputs} "
                             f"--fusion={self.fusion}")
        if self.inputs.endswith("hallucinated") and not self.generator:
            raise ValueError(f"--inputs={self.inputs} needs --generator=<TS-GAN SavedModel dir>")
        if self.inputs in ("depth", "rgbd") and self.protocol in rp.RGB_ONLY_PROTOCOLS:
            raise ValueError(f"--protocol={self.protocol} has no ground-truth depth; use "
                             "--inputs=rgb, depth_hallucinated or rgbd_hallucinated")
        if self.fold is not None and self.protocol != "iiitd_rgbd":
            raise ValueError("--fold applies to --protocol=iiitd_rgbd only")

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


def load_options(model_dir: str) -> RunOptions:
    path = os.path.join(model_dir, "config.json")
    record = training.read_json(path)
    names = {f.name for f in dataclasses.fields(RunOptions)}
    return RunOptions(**{k: v for k, v in record.items() if k in names})
