"""Options of the face depth enhancer trainer (Schlett, Rathgeb, Busch, section IV-C),
declared once: ``experiments/train_enhancer.py``'s flags are made from this dataclass.
TensorFlow-free (``--help`` answers at once)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from depthlab.core.options import CommonOptions, OptionsError, option

VARIANTS = ("alpha", "beta", "gamma", "delta")
#: 'mse'/'l1' over all pixels; 'face_mse'/'face_l1' over the ground truth's non-hole pixels.
LOSSES = ("face_mse", "face_l1", "mse", "l1")
#: the DL helper degradations (data_pipelines.face_enhancement.HELPER_VARIANTS)
HELPERS = ("none", "random", "blurred")
#: Start of the sigmoid head's bias: 'face_mean' = logit of the training targets' mean face
#: depth (issue 21: prevents the saturated-sigmoid collapse), 'zeros' = Keras' default.
OUTPUT_BIAS_INITS = ("face_mean", "zeros")
#: seed offset of Delta-k's retraining (k = --repeat): seed + REPEAT_SEED_STRIDE * (k - 1)
REPEAT_SEED_STRIDE = 7919
#: --image_size must be a multiple of 2**levels of the variant's U-Net (paper preset,
#: ``depthlab.models.enhancers.get_spec``; a test pins these)
SIZE_MULTIPLE = {"alpha": 256, "beta": 256, "gamma": 256, "delta": 128}


@dataclasses.dataclass
class EnhancerOptions(CommonOptions):
    variant: str = option("delta", "Enhancer (Table III).", choices=VARIANTS)
    ground_truths: int = option(
        600, "Synthetic ground-truth faces (paper: 240,000; Delta: 60,000). May grow on "
        "resume: the faces are a pure function of (seed, index), so more ground truths add "
        "chunks after the trained ones.", lower=1, extends=True)
    chunk_size: int = option(200, "Ground truths per chunk (paper: 30,000 pairs; Delta 10,000 "
                             "ground truths x 3 variants).", lower=1)
    epochs_per_chunk: int = option(10, "Epochs per chunk (paper: 10).", lower=1)
    steps_per_epoch: Optional[int] = option(None, "Steps per epoch (default: one pass over the "
                                            "chunk's pairs).", lower=1)
    batch_size: int = option(8, "Batch size (the paper does not say).", lower=1)
    learning_rate: float = option(1e-3, "Adam learning rate of the first chunk.", above=0.0)
    lr_decay_per_chunk: float = option(0.5, "LR factor per chunk (a decay: at most 1).",
                                       above=0.0, upper=1.0)
    loss: str = option("face_mse", "Training loss (the paper does not say): face_* average over "
                       "the ground truth's non-hole pixels (Table IV's pixel set), mse/l1 over "
                       "all pixels.", choices=LOSSES)
    helper: Optional[str] = option(None, "DL helper degradation for alpha/beta/gamma (default "
                                   "'random', the paper's 240,000 pairs); delta mixes all.",
                                   choices=HELPERS)
    repeat: int = option(1, "Delta-k retraining index (k > 1 needs --init_from); the binary "
                         f"trains with seed --seed + {REPEAT_SEED_STRIDE} x (k - 1), recorded "
                         "as the run's seed.", lower=1, upper=4, resume=False)
    init_from: Optional[str] = option(None, "model_dir of the previous model to start from "
                                      "(its best.weights.h5).")
    image_size: int = option(256, "Face depth size in pixels (the paper's 256; alpha, beta and "
                             "gamma down-sample 8 times, delta 7: a multiple of "
                             "SIZE_MULTIPLE[variant]).", lower=128, multiple_of=128)
    output_bias_init: str = option(
        "face_mean", "Start of the sigmoid head's bias: logit of the mean face target "
        "(default; issue 21: with 'zeros', Keras' default, some seeds collapse to a saturated "
        "constant output).", choices=OUTPUT_BIAS_INITS)

    def check(self) -> None:
        if self.repeat > 1 and not self.init_from:
            raise OptionsError("--repeat > 1 needs --init_from=<model_dir of the previous model>")
        if self.init_from and self.repeat == 1:
            raise OptionsError("--init_from needs --repeat > 1")
        if self.image_size % SIZE_MULTIPLE[self.variant]:
            raise OptionsError(f"--image_size={self.image_size} must be a multiple of "
                               f"{SIZE_MULTIPLE[self.variant]} for --variant={self.variant} "
                               "(the U-Net's down-samplings)")

    @property
    def variants(self):
        """The degradation variants trained: Delta all three, the others one helper."""
        return HELPERS if self.variant == "delta" else (self.helper or "random",)
