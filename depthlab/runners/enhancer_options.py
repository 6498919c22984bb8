"""Options of the face depth enhancer trainer (Schlett, Rathgeb, Busch, section IV-C),
declared once: ``experiments/train_enhancer.py``'s flags are made from this dataclass.
TensorFlow-free (``--help`` answers at once).

The paper's training schedule (``face-depth-enhancement-schlett.txt``) is the default:

* l. 970-974: DL-Alpha, -Beta and -Gamma train on 240,000 pairs, "30 000 thereof being used in
  training for 10 epochs before moving on to the next 30 000"; "All network models were saved
  only if their loss value improved during training"; l. 974-976: the 240,000 degraded images
  use hole value randomisation (helper 'random').
* l. 978-981: before that, DL-Alpha was trained "on 70 000 synthesized image pairs without
  deep-learning-specific degradation, and on 60 000 pairs using the deep-learning-specific
  blurred hole background degradation afterwards" (two pre-training stages, helpers 'none'
  and 'blurred'); l. 987-988: Beta and Gamma only on the 240,000.
* l. 990-1000: DL-Delta: 60,000 ground truths (a subset of the 240,000), three degraded
  variants each ('none', 'random', 'blurred') interleaved, 30,000 images = 10,000 ground
  truths per chunk, 10 epochs each, 6 chunks. l. 1002-1006 and 1072-1074: Delta-k repeats
  this from Delta-(k-1) "on the same data".

What the text leaves open is a flag with a documented default: the pre-training stages'
chunking (l. 978-981 gives only their sizes; default: the same 30,000 x 10 epochs), which
ground truths they use (l. 978-981; default: the first ones of the same set, like Delta's
subset, l. 990-991), what "improved" is compared with across sessions (l. 973-974; default:
within each stage, since l. 982-986 has the 240,000 training determine the saved model),
where a stage starts (l. 978-981; default: the previous stage's saved model, as Delta-k starts
from its "preceding network model", l. 1003-1005), the loss, optimizer, learning rate and
batch size (never stated).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from depthlab.core.options import CommonOptions, OptionsError, option

#: Table III's four networks, and the text's reading of DL-Gamma (l. 931-934: "identical to
#: DL-Alpha's, except that the 2D convolution window kernel size has been increased from 3x3
#: ... to 5x5"), which the 'table' architecture's exact counts contradict (models/enhancers.py).
VARIANTS = ("alpha", "beta", "gamma", "delta", "gamma_text")
#: 'paper': layouts that satisfy every Table III count and sentence (fitted widths and a dense
#: bottleneck); 'table': plain U-Nets with textbook widths (Gamma = Delta at 5x5).
ARCHITECTURES = ("paper", "table")
#: 'mse'/'l1' over all pixels; 'face_mse'/'face_l1' over the ground truth's non-hole pixels.
LOSSES = ("face_mse", "face_l1", "mse", "l1")
#: the DL helper degradations (data_pipelines.face_enhancement.HELPER_VARIANTS)
HELPERS = ("none", "random", "blurred")
#: Start of the sigmoid head's bias: 'face_mean' = logit of the training targets' mean face
#: depth (issue 21: prevents the saturated-sigmoid collapse), 'zeros' = Keras' default.
OUTPUT_BIAS_INITS = ("face_mean", "zeros")
#: seed offset of Delta-k's retraining (k = --repeat) with --repeat_data=fresh:
#: seed + REPEAT_SEED_STRIDE * (k - 1)
REPEAT_SEED_STRIDE = 7919
#: where "loss improved" is compared (--best_scope)
BEST_SCOPES = ("stage", "run")
#: weights a stage after the first starts from (--stage_start)
STAGE_STARTS = ("best", "last")
#: ground truths of the pre-training stages (--pretrain_data)
PRETRAIN_DATA = ("shared", "disjoint")
#: Delta-k's data (--repeat_data): the same pairs as Delta-1 (l. 1072-1074) or fresh ones
REPEAT_DATA = ("same", "fresh")
#: hole shapes of the degradation (data_pipelines.degradation.DegradationConfig.hole_shape)
HOLE_SHAPES = ("polygon", "ellipse")
#: --image_size must be a multiple of 2**levels of the variant's U-Net (paper preset,
#: ``depthlab.models.enhancers.get_spec``; a test pins these)
SIZE_MULTIPLE = {"alpha": 256, "beta": 256, "gamma": 256,
                 "gamma_text": 256, "delta": 128}



def repeat_seed(seed: int, repeat: int, repeat_data: str) -> int:
    """The seed Delta-k (k = ``repeat``) trains with: ``seed`` itself for the paper's same data
    (l. 1072-1074), ``seed + REPEAT_SEED_STRIDE * (k - 1)`` for fresh data."""
    if repeat_data not in REPEAT_DATA:
        raise OptionsError(f"--repeat_data={repeat_data!r} is not one of {list(REPEAT_DATA)}")
    return int(seed) + (REPEAT_SEED_STRIDE * (int(repeat) - 1) if repeat_data == "fresh" else 0)


#: l. 970-972 (240,000 pairs) and l. 990-991 (DL-Delta: 60,000 ground truths)
PAPER_GROUND_TRUTHS = {"alpha": 240_000, "beta": 240_000, "gamma": 240_000,
                       "gamma_text": 240_000, "delta": 60_000}
#: l. 972-973 and 997-998: 30,000 degraded images per chunk (Delta: 10,000 ground truths x 3)
PAPER_CHUNK_IMAGES = 30_000
#: l. 978-981: DL-Alpha's pre-training, in order: 70,000 pairs without helper degradation,
#: then 60,000 with the blurred hole background
PAPER_PRETRAINING = (("pretrain_plain", 70_000, ("none",)),
                     ("pretrain_blurred", 60_000, ("blurred",)))

@dataclasses.dataclass
class EnhancerOptions(CommonOptions):
    variant: str = option("delta", "Enhancer (Table III); 'gamma_text' = DL-Alpha's layout with "
                          "5x5 kernels, the text's reading of DL-Gamma (l. 931-934).",
                          choices=VARIANTS)
    architecture: str = option(
        "paper", "Layout family (depthlab/models/enhancers.py): 'paper' satisfies every Table "
        "III count and sentence (fitted widths, dense bottleneck); 'table' = plain U-Nets with "
        "textbook widths whose exact counts make Gamma = Delta at 5x5.", choices=ARCHITECTURES)
    ground_truths: Optional[int] = option(
        None, "Ground truths of the main training stage (default: the paper's, l. 970-972 and "
        "990-991: 240,000; Delta 60,000). May grow on resume: the faces are a pure function of "
        "(seed, index), so more ground truths add chunks after the trained ones.", lower=1,
        extends=True)
    chunk_size: Optional[int] = option(
        None, "Ground truths per chunk (default: the paper's 30,000 degraded images per chunk, "
        "l. 972-973 / 997-998: 30,000; Delta 10,000 ground truths x 3 variants).", lower=1)
    epochs_per_chunk: int = option(10, "Epochs per chunk (paper: 10, l. 972 / 998).", lower=1)
    pretrain_ground_truths: Optional[Tuple[int, ...]] = option(
        None, "DL-Alpha's two pre-training stages, ground truths without helper degradation, "
        "then with the blurred hole background (default: the paper's 70000,60000, l. "
        "978-981; 0,0 skips them). Only for --variant=alpha.", lower=0)
    pretrain_data: str = option(
        "shared", "Ground truths of the pre-training stages (l. 978-981 does not say): "
        "'shared' = the first ones of the main set (as Delta's 60,000 are a subset, l. "
        "990-991), 'disjoint' = ground truths after the main set's.", choices=PRETRAIN_DATA)
    best_scope: str = option(
        "stage", "Where 'saved only if their loss value improved' (l. 973-974) compares: "
        "within each training stage (default: l. 982-986 has the last, 240,000-pair training "
        "determine DL-Alpha's behaviour, so its models must replace the pre-training's), or "
        "over the whole run.", choices=BEST_SCOPES)
    stage_start: str = option(
        "best", "Weights a stage after the first starts from (l. 978-981 does not say): the "
        "previous stage's saved (best) model, as Delta-k starts from its 'preceding network "
        "model' (l. 1003-1005), or the last weights.", choices=STAGE_STARTS)
    steps_per_epoch: Optional[int] = option(None, "Steps per epoch (default: one pass over the "
                                            "chunk's pairs).", lower=1)
    batch_size: int = option(8, "Batch size (the paper does not say).", lower=1)
    learning_rate: float = option(1e-3, "Adam learning rate of each stage's first chunk (the "
                                  "paper does not say).", above=0.0)
    lr_decay_per_chunk: float = option(0.5, "LR factor per chunk within a stage (a decay: at "
                                       "most 1).", above=0.0, upper=1.0)
    loss: str = option("face_mse", "Training loss (the paper does not say): face_* average over "
                       "the ground truth's non-hole pixels (Table IV's pixel set), mse/l1 over "
                       "all pixels.", choices=LOSSES)
    helper: Optional[str] = option(None, "DL helper degradation of the main stage for "
                                   "alpha/beta/gamma (default 'random', the paper's 240,000 "
                                   "pairs, l. 974-976); delta mixes all three.", choices=HELPERS)
    repeat: int = option(1, "Delta-k retraining index (k > 1 needs --init_from).", lower=1,
                         upper=4, resume=False)
    repeat_data: str = option(
        "same", "Data of Delta-k (k = --repeat > 1): 'same' pairs as Delta-1 (l. 1072-1074: "
        "'subsequent training iterations on the same data'), or 'fresh' (the binary then trains "
        f"with seed --seed + {REPEAT_SEED_STRIDE} x (k - 1), recorded as the run's seed).",
        choices=REPEAT_DATA, resume=False)
    init_from: Optional[str] = option(None, "model_dir of the previous model to start from "
                                      "(its best.weights.h5).")
    image_size: int = option(256, "Face depth size in pixels (the paper's 256; alpha, beta and "
                             "gamma down-sample 8 times, delta 7: a multiple of "
                             "SIZE_MULTIPLE[variant]).", lower=128, multiple_of=128)
    hole_shape: str = option(
        "polygon", "Degradation hole shape (Fig. 5: 'Generate Random Hole Vertices', "
        "'Combine Vertices'): a convex polygon of random vertices on an ellipse of random "
        "size, aspect and orientation (l. 496-498), or the ellipse itself (before issue 18).",
        choices=HOLE_SHAPES)
    hole_vertices: Tuple[int, ...] = option(
        (3, 8), "Vertices per hole polygon, lo,hi (the text gives no number).", lower=3)
    hole_vertex_jitter: float = option(
        1.0, "Random shift of each vertex's angle, as a fraction of the angular step 2 pi / n "
        "(0 = regular polygons; the text gives no value).", lower=0.0, upper=1.0)
    outline_region_width: int = option(
        1, "Width in px of the outline region the outline holes are centred in (Fig. 5: "
        "'Generate Outline Region'; 1 = the traced outline pixels; the text gives no width).",
        lower=1)
    output_bias_init: str = option(
        "face_mean", "Start of the sigmoid head's bias: logit of the mean face target "
        "(default; issue 21: with 'zeros', Keras' default, some seeds collapse to a saturated "
        "constant output).", choices=OUTPUT_BIAS_INITS)

    def check(self) -> None:
        if self.repeat > 1 and not self.init_from:
            raise OptionsError("--repeat > 1 needs --init_from=<model_dir of the previous model>")
        if self.init_from and self.repeat == 1:
            raise OptionsError("--init_from needs --repeat > 1")
        lo_hi = tuple(self.hole_vertices)
        if len(lo_hi) != 2 or not 3 <= int(lo_hi[0]) <= int(lo_hi[1]):
            raise OptionsError(f"--hole_vertices={','.join(map(str, lo_hi))}: expected lo,hi "
                               "with 3 <= lo <= hi")
        if self.pretrain_ground_truths is not None:
            sizes = tuple(self.pretrain_ground_truths)
            if len(sizes) != len(PAPER_PRETRAINING) or any(int(n) < 0 for n in sizes):
                raise OptionsError(f"--pretrain_ground_truths={','.join(map(str, sizes))}: "
                                   f"expected {len(PAPER_PRETRAINING)} counts >= 0 (plain, "
                                   "blurred), e.g. 70000,60000 or 0,0")
            if self.variant != "alpha" and any(sizes):
                raise OptionsError(f"--pretrain_ground_truths is DL-Alpha's pre-training "
                                   f"(l. 978-981, 987-988); --variant={self.variant} has none")

        if self.image_size % SIZE_MULTIPLE[self.variant]:
            raise OptionsError(f"--image_size={self.image_size} must be a multiple of "
                               f"{SIZE_MULTIPLE[self.variant]} for --variant={self.variant} "
                               "(the U-Net's down-samplings)")

    def degradation_config(self):
        """The degradation's :class:`DegradationConfig` with these options' hole settings
        (the other values are its documented defaults)."""
        from data_pipelines.degradation import DegradationConfig

        return DegradationConfig(hole_shape=self.hole_shape,
                                 vertex_count_range=tuple(int(v) for v in self.hole_vertices),
                                 vertex_jitter=float(self.hole_vertex_jitter),
                                 outline_region_width=int(self.outline_region_width))

    @property
    def variants(self):
        """The degradation variants of the main stage: Delta all three, the others one helper."""
        return HELPERS if self.variant == "delta" else (self.helper or "random",)

    @property
    def main_ground_truths(self) -> int:
        """--ground_truths, or the paper's count for the variant."""
        return int(self.ground_truths or PAPER_GROUND_TRUTHS[self.variant])

    @property
    def main_chunk_size(self) -> int:
        """--chunk_size, or the paper's 30,000 images per chunk in ground truths."""
        return int(self.chunk_size or PAPER_CHUNK_IMAGES // len(self.variants))

    def stage_specs(self) -> List[Tuple[str, int, int, Tuple[str, ...], int]]:
        """The training stages in order as ``(name, first, ground_truths, variants,
        chunk_size)``: DL-Alpha's pre-training (l. 978-981) then the main stage. Stages of
        size 0 are listed (a plan skips them)."""
        main = self.main_ground_truths
        out = []
        if self.variant == "alpha":
            sizes = (tuple(self.pretrain_ground_truths) if self.pretrain_ground_truths
                     is not None else tuple(n for _, n, _ in PAPER_PRETRAINING))
            first = main
            for (name, _, variants), n in zip(PAPER_PRETRAINING, sizes):
                start = 0 if self.pretrain_data == "shared" else first
                out.append((name, start, int(n), variants,
                            int(self.chunk_size or PAPER_CHUNK_IMAGES // len(variants))))
                first += int(n) if self.pretrain_data == "disjoint" else 0
        out.append(("main", 0, main, tuple(self.variants), self.main_chunk_size))
        return out

    def total_ground_truths(self) -> int:
        """Ground truths the run renders (the largest index any stage uses, plus one)."""
        return max(first + n for _, first, n, _, _ in self.stage_specs())
