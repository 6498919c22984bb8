"""Training / evaluation data for the face depth enhancers (Schlett, Rathgeb, Busch).

Ground truth: 256x256 16-bit face depth in millimetres (0 = hole) rendered from procedural
faces (``synthetic_faces``) or from any mesh through ``render.py``. Inputs are made on the
fly by ``degradation.degrade`` (holes -> noise -> blur -> optional DL helper), seeded by
(seed, global example index), so a run is reproducible and resumes exactly.

Network convention (paper section IV-J): depth normalised over a 250 mm window starting at
the ground truth's nearest point, holes = 1.0 (the paper's 65535 in 16-bit). The degraded
input shares its ground truth's window.

DL-Delta (section IV-C): each ground truth appears in three variants, interleaved in one
stream: unmodified holes ('none'), hole values randomised ('random') and randomised then
blurred ('blurred').
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from data_pipelines import degradation as deg
from data_pipelines.conventions import UNIT_HOLE
from data_pipelines.paired import AUTOTUNE, epoch_index_stream

HELPER_VARIANTS = ("none", "random", "blurred")
DELTA_VARIANTS = HELPER_VARIANTS


@dataclasses.dataclass
class FaceDepthSet:
    """Ground-truth depth (N, H, W) uint16 mm (0 = hole) with 68 landmarks (N, 68, 2) (x, y)."""

    depth_mm: np.ndarray
    landmarks: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.depth_mm.ndim != 3 or self.depth_mm.dtype != np.uint16:
            raise ValueError(f"FaceDepthSet.depth_mm must be uint16 (N,H,W) millimetres, got "
                             f"{self.depth_mm.dtype} {self.depth_mm.shape}")
        empty = np.flatnonzero((self.depth_mm > 0).reshape(len(self.depth_mm), -1).sum(1) == 0)
        if len(empty):
            raise ValueError(f"FaceDepthSet: ground truth image(s) {empty[:5].tolist()} are all "
                             "holes; a face is required")

    def __len__(self):
        return len(self.depth_mm)


def synthetic_ground_truth(count: int, seed: int = 0, image_size: int = 256,
                           identity_offset: int = 0, images_per_identity: int = 4) -> FaceDepthSet:
    """Procedural faces rendered to 16-bit depth (the embedded stand-in for PRNet meshes).

    The paper's ground truth is a complete face mesh (PRNet) rendered to depth, so the faces are
    drawn without sensor dropouts (``FaceConfig(sensor_holes=False)``) and the hair and clothing
    pixels are removed (0 = background): the depth covers face, ears and neck skin, eyes and
    mouth (``synthetic_faces.PARTS``)."""
    from data_pipelines import synthetic_faces as sf

    config = sf.FaceConfig(image_size=image_size, domain="source", seed=seed, sensor_holes=False)
    depths, marks = [], []
    for i in range(count):
        ex = sf.generate_face(identity_offset + i // images_per_identity, i % images_per_identity,
                              config, extras=True)
        keep = (ex["parts"] == sf.SKIN) | (ex["parts"] == sf.EYE) | (ex["parts"] == sf.MOUTH)
        depths.append(np.where(keep, ex["depth"], 0).astype(np.uint16))
        marks.append(ex["landmarks"])
    return FaceDepthSet(np.stack(depths), np.stack(marks).astype(np.float32))


def normalise_pair(gt_mm, degraded_mm):
    """(gt, degraded) mm -> network tensors: [0,1] over the gt's 250 mm window, holes = 1.0."""
    gt_norm, gt_valid, near = deg.normalize_face_depth(gt_mm)
    deg_norm, deg_valid, _ = deg.normalize_face_depth(degraded_mm, near_mm=near)
    y = deg.to_paper_convention(gt_norm, valid=gt_valid)
    x = deg.to_paper_convention(deg_norm, valid=deg_valid)
    return x, y, near


def mean_face_target(gt: FaceDepthSet, max_images: int = 256, face_only: bool = True) -> float:
    """Mean network-convention target over the ground truths' face (non-hole) pixels, the
    value a constant predictor of the face loss would output (first ``max_images`` images;
    ``face_only=False``: over all pixels, holes counting as ``UNIT_HOLE``, for the all-pixel
    losses).

    The enhancer runner starts the sigmoid head at this value (issue 21, BUILD_NOTES.md
    "DL-Delta collapse"): with a zero head bias the untrained output is 0.5, far above the
    faces' mean (~0.14), and Adam's first coherent steps then overshoot into saturation.
    """
    depth = tf.constant(gt.depth_mm[:max_images], tf.float32)
    norm, valid, _ = deg.normalize_face_depth(depth)
    if not face_only:
        return float(tf.reduce_mean(tf.where(valid, norm, UNIT_HOLE)))
    return float(tf.reduce_mean(tf.boolean_mask(norm, valid)))


def degrade_with_variant(gt_mm, seeds, variant_ids, config: deg.DegradationConfig):
    """Degrades a batch (B,H,W) and applies the DL helper named by ``variant_ids`` per example
    (0 none, 1 random, 2 blurred). Returns degraded mm with the helper applied. The degradation
    itself runs XLA-compiled (``jit_compile=True``: equal to the plain graph up to float32
    rounding, ~2x faster per batch in this tf.data pipeline on CPU)."""
    base = dataclasses.replace(config, helper="none")
    degraded, holes = deg.degrade(gt_mm, seeds, base, jit_compile=True)
    seeds = tf.cast(seeds, tf.int64)
    helper_seeds = tf.stack([seeds[:, 0] + 1_000_003, seeds[:, 1]], axis=-1)   # a distinct stream
    rand = deg.randomize_hole_values(degraded, helper_seeds, hole_mask=holes)
    blur = deg.randomize_hole_values_blurred(degraded, helper_seeds, hole_mask=holes,
                                             kernel_size=config.helper_blur_kernel_size)
    v = tf.reshape(variant_ids, [-1, 1, 1])
    return tf.where(v == 1, rand, tf.where(v == 2, blur, degraded))


def make_enhancer_dataset(gt: FaceDepthSet, batch_size: int, seed: int = 0, training: bool = True,
                          variants: Sequence[str] = ("random",), start_index: int = 0,
                          config: Optional[deg.DegradationConfig] = None,
                          repeat: bool = True, fixed_degradation: bool = True) -> tf.data.Dataset:
    """Batches of (x, y), both (B, H, W, 1) float32 in the network convention.

    Element ``i`` is ground truth ``perm_e[i // V]`` in variant ``variants[i % V]`` (the
    Delta interleave when V = 3). With ``fixed_degradation`` (the paper: a fixed set of
    degraded pairs trained for several epochs) the degradation is seeded by (seed, example
    index), so each pair is the same every epoch; otherwise by (seed, i), fresh every epoch.
    """
    for v in variants:
        if v not in HELPER_VARIANTS:
            raise ValueError(f"variant {v!r} is not one of {HELPER_VARIANTS}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    config = config or deg.DegradationConfig()
    variant_ids = tf.constant([HELPER_VARIANTS.index(v) for v in variants], tf.int32)
    n_var = len(variants)
    depth_all = tf.constant(gt.depth_mm)

    if training:
        stream = epoch_index_stream(len(gt) * n_var, seed, shuffle=True, start_index=start_index)
    else:
        total = len(gt) * n_var
        stream = tf.data.Dataset.range(start_index, total).map(lambda i: (i, i))
        if repeat:
            stream = stream.repeat()

    def gather(global_index, idx):
        gt_idx, var = idx // n_var, tf.gather(variant_ids, tf.cast(idx % n_var, tf.int32))
        key = idx if fixed_degradation else global_index
        return key, tf.cast(tf.gather(depth_all, gt_idx), tf.float32), var

    def make_pair(key, gt_mm, var):
        seeds = deg.index_seeds(seed, key)
        degraded = degrade_with_variant(gt_mm, seeds, var, config)
        x, y, _ = normalise_pair(gt_mm, degraded)
        return x[..., None], y[..., None]

    ds = stream.map(gather, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(make_pair, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def chunk_schedule(total_pairs: int, chunk_size: int, epochs_per_chunk: int) -> Tuple[int, int]:
    """(number of chunks, total epochs) of the paper's chunked schedule (section IV-C)."""
    if chunk_size <= 0 or epochs_per_chunk <= 0 or total_pairs <= 0:
        raise ValueError(f"chunk schedule needs positive sizes, got total={total_pairs}, "
                         f"chunk={chunk_size}, epochs={epochs_per_chunk}")
    chunks = -(-total_pairs // chunk_size)
    return chunks, chunks * epochs_per_chunk
