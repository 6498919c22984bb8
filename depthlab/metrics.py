"""Evaluation metrics shared by the depth papers (the public metric API).

Scalar metrics take ONE image, (H, W) or (H, W, 1), as NumPy arrays or tensors, compute in
float64 and return a Python float. Depth-error metrics take an optional boolean ``mask`` of
valid pixels (same shape as ``gt``); the default mask is ``gt > 0 and finite`` (0 = hole,
the house convention). An empty mask raises ``ValueError("... mask selects no pixels")``.
For the log/ratio metrics (abs_rel, log10, delta) pred and gt values <= EPS inside the mask
are clipped to ``EPS`` (1e-6) so they stay finite.

| metric | formula over the N pixels used | pixels used | range |
|---|---|---|---|
| rmse | sqrt(mean((p - g)^2)) | mask | [0, inf), depth units |
| mae, abs_diff | mean(abs(p - g)) | mask | [0, inf), depth units |
| l1_norm | sum(abs(p - g)) (the L1 norm of the error vector) | mask | [0, inf), grows with N |
| l2_norm | sqrt(sum((p - g)^2)) (the L2 norm; = rmse * sqrt(N)) | mask | [0, inf), grows with N |
| abs_rel | mean(abs(p - g) / g) | mask, p and g clipped to EPS | [0, inf) |
| log10_error | mean(abs(log10 p - log10 g)) | mask, clipped to EPS | [0, inf) |
| delta_accuracy | fraction with max(p / g, g / p) < threshold (strict) | mask, clipped to EPS | [0, 1] |
| psnr | 10 log10(max_val^2 / mean((p - g)^2)) | mask (default: all pixels) | dB; inf if equal |
| ssim | mean SSIM map, 11x11 Gaussian (sigma 1.5), K1 0.01, K2 0.03 | the (H-10)x(W-10) valid positions | [-1, 1] |

The face depth enhancement measures (Schlett et al., Tables IV-VII: roughness, hole
percentage, falsification RMSE, landmark holes, PAD) have one owner, ``depthlab.face_eval``.

``abs_diff`` / ``l1_norm`` / ``l2_norm`` above are the literal per-valid-pixel readings
(eval_tsgan ``--protocol=valid_pixels``, keys ``abs_diff, l1, l2``). TS-GAN Table 1 on the
PAPER's scale (Uppal et al., ICCV 2021, lines 622-640 and 707-719; eval_tsgan's default
``--protocol=paper``) is the ``paper_*`` functions and ``PaperTable1Accumulator`` at the end
of this module: all pixels of [0, 1] depth, L1 norm = per-pixel mean, L2 norm = pooled RMSE
in 8-bit grey levels, Abs. Diff. = |mean(p) - mean(g)|, delta in percent over ground truth
> 0. The reasoning, and which parts stay a guess, is in BUILD_NOTES.md ("TS-GAN Table 1
metrics on the paper's scale").

NaN policy (one rule for every scalar metric here: rmse, mae, abs_diff, l1_norm, l2_norm,
abs_rel, log10_error, delta_accuracy, psnr, ssim, mean_depth_metrics and the ``paper_*``
functions): a non-finite value (NaN, +inf or -inf) among the EVALUATED pixels (those the mask
selects; all pixels for ssim, the paper protocol and psnr without a mask) raises
``ValueError`` naming the argument (``pred`` = the prediction, ``gt`` = the target) and the
count, e.g. ``"rmse: pred (prediction) holds 1 non-finite value(s) (NaN/inf) among the 4096
evaluated pixels"``. Nothing returns NaN for a NaN input and no NaN pixel is counted as a miss.
Pixels outside the mask are not looked at, so the default mask (gt > 0 and finite) leaves
non-finite ground-truth holes out. A non-numeric dtype raises ``TypeError``; a wrong shape or
an empty mask ``ValueError``. The graph version ``batch_depth_metrics`` cannot raise per image
inside ``test_step``: an image with a non-finite evaluated value gets NaN in EVERY metric
(delta included), never a number.

Per-image values are averaged over images by the callers (sparse-to-dense's batch-1
protocol). ``batch_depth_metrics`` is the graph-friendly batched version for
``keras.Model.test_step``; ``frechet_distance`` / ``FIDCalculator`` compute FID from an
injectable feature extractor.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

EPS = 1e-6

__all__ = [
    "EPS", "rmse", "mae", "abs_diff", "l1_norm", "l2_norm", "abs_rel", "log10_error",
    "delta_accuracy", "psnr", "ssim",
    "batch_depth_metrics", "BATCH_METRIC_KEYS", "frechet_distance", "activation_statistics",
    "FIDCalculator", "load_fid_feature_extractor", "mean_depth_metrics", "SPARSE_TO_DENSE_KEYS",
    "PAPER_TABLE1_KEYS", "PAPER_DELTA_THRESHOLDS", "GREY_LEVELS", "paper_abs_diff",
    "paper_l1_norm", "paper_rmse", "paper_delta", "paper_l2_norm", "PaperTable1Accumulator",
    "paper_table1_metrics",
]


# ----------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------

def _to_numpy(x, name: str) -> np.ndarray:
    if tf.is_tensor(x):
        x = tf.cast(x, tf.float64) if x.dtype != tf.bool else x
        x = x.numpy()
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) \
            or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name}: expected a real numeric array or tensor, got dtype {x.dtype}")
    return x


def _check_finite(values: np.ndarray, name: str) -> None:
    """The NaN policy (module docstring): non-finite evaluated values raise ValueError."""
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN/inf) among the "
                         f"{values.size} evaluated pixels")


def _check_scalar(value, name: str, lower: float, strict: bool = True) -> float:
    """A finite real number > ``lower`` (>= when not strict), else ValueError naming it."""
    a = value.numpy() if tf.is_tensor(value) else np.asarray(value)
    if isinstance(value, (bool, np.bool_)) or a.ndim != 0 or not (
            np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(a)
    if not np.isfinite(v) or (v <= lower if strict else v < lower):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {lower:g} (a finite "
                         f"number), got {value!r}")
    return v


def _image(x, name: str) -> np.ndarray:
    """(H, W) or (H, W, 1) -> float64 (H, W)."""
    a = _to_numpy(x, name)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected one image of shape (H, W) or (H, W, 1), got "
                         f"shape {a.shape}")
    return a.astype(np.float64)


def _mask(mask, shape, name: str = "mask") -> np.ndarray:
    m = _to_numpy(mask, name)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != shape:
        raise ValueError(f"{name}: shape {m.shape} does not match the image shape {shape}")
    return m.astype(bool)


def _pair(pred, gt, mask, fn: str, default_all: bool = False):
    """(pred[mask], gt[mask]) as float64 vectors; default mask = gt > 0 and finite."""
    p, g = _image(pred, f"{fn}: pred"), _image(gt, f"{fn}: gt")
    if p.shape != g.shape:
        raise ValueError(f"{fn}: pred shape {p.shape} != gt shape {g.shape}")
    if mask is None:
        m = np.ones(g.shape, bool) if default_all else (np.isfinite(g) & (g > 0))
    else:
        m = _mask(mask, g.shape, f"{fn}: mask")
    if not m.any():
        raise ValueError(f"{fn}: the mask selects no pixels (image shape {g.shape})")
    p, g = p[m], g[m]
    _check_finite(p, f"{fn}: pred (prediction)")
    _check_finite(g, f"{fn}: gt (target)")
    return p, g


# ----------------------------------------------------------------------------------------
# Scalar per-image depth metrics
# ----------------------------------------------------------------------------------------

def rmse(pred, gt, mask=None) -> float:
    """Root mean squared error sqrt(mean((p - g)^2)) over the mask (default gt > 0)."""
    p, g = _pair(pred, gt, mask, "rmse")
    return float(np.sqrt(np.mean((p - g) ** 2)))


def mae(pred, gt, mask=None) -> float:
    """Mean absolute error mean(|p - g|) over the mask (default gt > 0)."""
    p, g = _pair(pred, gt, mask, "mae")
    return float(np.mean(np.abs(p - g)))


def abs_diff(pred, gt, mask=None) -> float:
    """mean(|p - g|) over the mask (= ``mae``): eval_tsgan ``--protocol=valid_pixels``'s
    ``abs_diff``. Not Table 1's "Abs. Diff." on the paper's scale (``paper_abs_diff``)."""
    p, g = _pair(pred, gt, mask, "abs_diff")
    return float(np.mean(np.abs(p - g)))


def l1_norm(pred, gt, mask=None) -> float:
    """||p - g||_1 = sum(|p - g|) over the mask (default gt > 0): ``--protocol=valid_pixels``'s
    ``l1``. A sum, so it grows with the number of valid pixels; Table 1's "L1 Norm" is a
    per-pixel mean (``paper_l1_norm``).
    """
    p, g = _pair(pred, gt, mask, "l1_norm")
    return float(np.sum(np.abs(p - g)))


def l2_norm(pred, gt, mask=None) -> float:
    """||p - g||_2 = sqrt(sum((p - g)^2)) = rmse * sqrt(N) (``--protocol=valid_pixels``'s
    ``l2``); Table 1's "L2 Norm" on the paper's scale is ``paper_l2_norm``."""
    p, g = _pair(pred, gt, mask, "l2_norm")
    return float(np.sqrt(np.sum((p - g) ** 2)))


def abs_rel(pred, gt, mask=None) -> float:
    """Absolute relative error mean(|p - g| / g) (Eigen et al. 2014), p and g clipped to EPS."""
    p, g = _pair(pred, gt, mask, "abs_rel")
    p, g = np.maximum(p, EPS), np.maximum(g, EPS)
    return float(np.mean(np.abs(p - g) / g))


def log10_error(pred, gt, mask=None) -> float:
    """mean(|log10 p - log10 g|) over the mask, p and g clipped to EPS (sparse-to-dense LG10)."""
    p, g = _pair(pred, gt, mask, "log10_error")
    p, g = np.maximum(p, EPS), np.maximum(g, EPS)
    return float(np.mean(np.abs(np.log10(p) - np.log10(g))))


def delta_accuracy(pred, gt, threshold: float = 1.25, mask=None) -> float:
    """Fraction in [0, 1] of mask pixels with max(p / g, g / p) < threshold (strict).

    Use threshold 1.25, 1.25**2, 1.25**3 for delta_1..3 (Eigen et al. 2014). Strict "<" as
    the sparse-to-dense PyTorch code (its Torch version uses "<="). p, g clipped to EPS.
    """
    _check_scalar(threshold, "delta_accuracy: threshold", 1.0)
    p, g = _pair(pred, gt, mask, "delta_accuracy")
    p, g = np.maximum(p, EPS), np.maximum(g, EPS)
    return float(np.mean(np.maximum(p / g, g / p) < threshold))


# ----------------------------------------------------------------------------------------
# Image-quality metrics
# ----------------------------------------------------------------------------------------

def psnr(pred, gt, max_val: float, mask=None) -> float:
    """Peak signal-to-noise ratio 10 log10(max_val^2 / MSE) in dB; ``inf`` when MSE = 0.

    MSE over all pixels (default) or over ``mask``; ``max_val`` is the data range (e.g. 1.0
    for [0, 1] depth, 255 for 8-bit, 65535 for 16-bit). Equals skimage's
    ``peak_signal_noise_ratio(gt, pred, data_range=max_val)``.
    """
    max_val = _check_scalar(max_val, "psnr: max_val", 0.0)
    p, g = _pair(pred, gt, mask, "psnr", default_all=True)
    mse = float(np.mean((p - g) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(max_val ** 2 / mse))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    w = np.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return w / w.sum()


def _filter_valid(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the 1-D kernel ``w`` along both axes."""
    k = len(w)
    rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ w
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ w


def ssim(pred, gt, max_val: float, win_size: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean structural similarity (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5).

    Local statistics use population (biased) covariances; C1 = (k1 max_val)^2,
    C2 = (k2 max_val)^2. Edge handling: the SSIM map is evaluated only where the window lies
    fully inside the image (the (H-10) x (W-10) 'valid' positions), and averaged there.
    This equals ``tf.image.ssim(..., max_val, filter_size=11, filter_sigma=1.5)`` (VALID
    convolution) and skimage's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=max_val)``, which filters with reflect padding
    but then crops 5 pixels from every border before averaging, so both use the same
    positions and agree to float precision (tested). Needs H, W >= win_size.
    """
    max_val = _check_scalar(max_val, "ssim: max_val", 0.0)
    if isinstance(win_size, bool) or not isinstance(win_size, (int, np.integer)) \
            or win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"ssim: win_size must be a positive odd integer, got {win_size!r}")
    sigma = _check_scalar(sigma, "ssim: sigma", 0.0)
    p, g = _image(pred, "ssim: pred"), _image(gt, "ssim: gt")
    if p.shape != g.shape:
        raise ValueError(f"ssim: pred shape {p.shape} != gt shape {g.shape}")
    if min(p.shape) < win_size:
        raise ValueError(f"ssim: image shape {p.shape} is smaller than the {win_size}x"
                         f"{win_size} window")
    _check_finite(p, "ssim: pred (prediction)")
    _check_finite(g, "ssim: gt (target)")
    w = _gaussian_1d(win_size, sigma)
    mu_p, mu_g = _filter_valid(p, w), _filter_valid(g, w)
    var_p = _filter_valid(p * p, w) - mu_p ** 2
    var_g = _filter_valid(g * g, w) - mu_g ** 2
    cov = _filter_valid(p * g, w) - mu_p * mu_g
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    smap = ((2 * mu_p * mu_g + c1) * (2 * cov + c2)) / (
        (mu_p ** 2 + mu_g ** 2 + c1) * (var_p + var_g + c2))
    return float(np.mean(smap))


# ----------------------------------------------------------------------------------------
# Batched, graph-friendly depth metrics for keras.Model.test_step
# ----------------------------------------------------------------------------------------

BATCH_METRIC_KEYS = ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3",
                     "abs_rel", "log10")


def batch_depth_metrics(pred, gt, mask=None) -> Dict[str, tf.Tensor]:
    """Per-image depth metrics of a batch as float32 tensors of shape (B,), pure TF ops.

    ``pred``, ``gt``: (B, H, W) or (B, H, W, 1); ``mask``: bool of the same shape, default
    ``gt > 0 and finite``. Keys: ``abs_diff, l1, l2, rmse, delta1, delta2, delta3, abs_rel,
    log10`` (each equals the scalar function of the same meaning on that image: abs_diff,
    l1_norm, l2_norm, rmse, delta_accuracy at 1.25^i, abs_rel, log10_error), plus
    ``valid_pixels`` (the per-image mask count, float32). An image whose mask is empty gets
    NaN in every metric (use ``valid_pixels > 0`` as a sample weight), and so does an image
    with a non-finite pred or gt value inside its mask (the NaN policy). Works under
    ``tf.function`` and with bfloat16/float16 inputs (computed in float32).
    """
    pred = tf.cast(pred, tf.float32)
    gt = tf.cast(gt, tf.float32)
    if pred.shape.rank == 4:
        pred = pred[..., 0]
    if gt.shape.rank == 4:
        gt = gt[..., 0]
    if pred.shape.rank != 3 or gt.shape.rank != 3:
        raise ValueError(f"batch_depth_metrics: expected (B, H, W[, 1]) tensors, got pred "
                         f"{pred.shape} and gt {gt.shape}")
    if mask is None:
        mask = tf.math.is_finite(gt) & (gt > 0)
    else:
        mask = tf.cast(mask, tf.bool)
        if mask.shape.rank == 4:
            mask = mask[..., 0]
    m = tf.cast(mask, tf.float32)
    n = tf.reduce_sum(m, axis=[1, 2])
    nan = tf.constant(float("nan"), tf.float32)

    def msum(values):
        return tf.reduce_sum(tf.where(mask, values, 0.0), axis=[1, 2])

    def mmean(values):
        return tf.where(n > 0, msum(values) / tf.maximum(n, 1.0), nan)

    diff = pred - gt
    absd = tf.abs(diff)
    sq = tf.square(diff)
    pc, gc = tf.maximum(pred, EPS), tf.maximum(gt, EPS)
    ratio = tf.maximum(pc / gc, gc / pc)
    log10 = tf.abs(tf.math.log(pc) - tf.math.log(gc)) / np.float32(np.log(10.0))
    out = {
        "abs_diff": mmean(absd),
        "l1": tf.where(n > 0, msum(absd), nan),
        "l2": tf.where(n > 0, tf.sqrt(msum(sq)), nan),
        "rmse": tf.sqrt(mmean(sq)),
        "abs_rel": mmean(tf.abs(pc - gc) / gc),
        "log10": mmean(log10),
        "valid_pixels": n,
    }
    for i in (1, 2, 3):
        out[f"delta{i}"] = mmean(tf.cast(ratio < np.float32(1.25 ** i), tf.float32))
    finite = tf.math.is_finite(pred) & tf.math.is_finite(gt)
    bad = tf.reduce_any(mask & ~finite, axis=[1, 2])   # the NaN policy: NaN in every metric
    return {k: (v if k == "valid_pixels" else tf.where(bad, nan, v)) for k, v in out.items()}


# ----------------------------------------------------------------------------------------
# FID
# ----------------------------------------------------------------------------------------

def activation_statistics(acts) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of activations (N, D) in float64; covariance with N - 1 (np.cov),
    as the reference FID code (Heusel et al. 2017, TTUR)."""
    a = np.asarray(_to_numpy(acts, "activation_statistics: acts"), dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"activation_statistics: expected activations (N, D), got "
                         f"shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"activation_statistics: need at least 2 samples, got {a.shape[0]}")
    return a.mean(axis=0), np.atleast_2d(np.cov(a, rowvar=False))


def _sym_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix by eigen-decomposition (negative eigs -> 0)."""
    vals, vecs = np.linalg.eigh((s + s.T) / 2.0)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017), float64.

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)). The trace term is computed
    as tr((S1^(1/2) S2 S1^(1/2))^(1/2)), whose matrix is symmetric PSD, so it comes from a
    real eigen-decomposition (eigenvalues below 0 from round-off are clipped to 0): no
    complex ``sqrtm`` and no imaginary parts to discard. Clipped at 0 from below.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"frechet_distance: shapes mu1 {mu1.shape}, sigma1 {s1.shape}, "
                         f"mu2 {mu2.shape}, sigma2 {s2.shape} do not describe two "
                         f"{d}-dimensional Gaussians")
    r1 = _sym_sqrt(s1)
    inner = r1 @ s2 @ r1
    vals = np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None)
    tr_covmean = float(np.sum(np.sqrt(vals)))
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


class FIDCalculator:
    """FID between two image sets with an injected feature extractor.

    ``feature_extractor``: a callable mapping a float32 batch (n, H, W, C) to features
    (n, D) (or (n, h, w, D), average-pooled here). ``load_fid_feature_extractor`` builds one
    from an Inception-v3 pool3 model file, with the Inception preprocessing included; the
    images passed to ``distance`` are then float [0, 1] RGB (repeat depth to 3 channels).
    """

    def __init__(self, feature_extractor: Callable, batch_size: int = 50):
        if not callable(feature_extractor):
            raise TypeError(f"FIDCalculator: feature_extractor must be callable, got "
                            f"{type(feature_extractor).__name__}")
        if batch_size < 1:
            raise ValueError(f"FIDCalculator: batch_size must be >= 1, got {batch_size}")
        self.feature_extractor, self.batch_size = feature_extractor, int(batch_size)

    def features(self, images) -> np.ndarray:
        images = np.asarray(_to_numpy(images, "FIDCalculator: images"), dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"FIDCalculator: expected images (N, H, W, C), got "
                             f"shape {images.shape}")
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            f = self.feature_extractor(tf.constant(images[start:start + self.batch_size]))
            f = np.asarray(_to_numpy(f, "feature extractor output"), dtype=np.float64)
            if f.ndim == 4:
                f = f.mean(axis=(1, 2))
            out.append(f.reshape(f.shape[0], -1))
        return np.concatenate(out, axis=0)

    def statistics(self, images) -> Tuple[np.ndarray, np.ndarray]:
        return activation_statistics(self.features(images))

    def distance(self, real_images, fake_images) -> float:
        mu1, s1 = self.statistics(real_images)
        mu2, s2 = self.statistics(fake_images)
        return frechet_distance(mu1, s1, mu2, s2)


_FID_HELP = ("an Inception-v3 pool3 feature extractor (2048-d) saved as a SavedModel directory "
             "or a .keras file, e.g. keras.applications.InceptionV3(include_top=False, "
             "pooling='avg', weights='imagenet').save('inception_v3_pool3.keras'); pass its "
             "path with --fid_weights")


def _wrap_extractor(fn: Callable, input_size: Optional[Tuple[int, int]]) -> Callable:
    """[0, 1] images -> resize to the model's input size (bilinear) -> [-1, 1] -> features."""

    def extract(images):
        x = tf.cast(images, tf.float32)
        if input_size is not None and tuple(x.shape[1:3]) != tuple(input_size):
            x = tf.image.resize(x, input_size, method="bilinear")
        out = fn(x * 2.0 - 1.0)
        if isinstance(out, dict):
            if len(out) != 1:
                raise ValueError(f"FID feature extractor returned several outputs "
                                 f"{sorted(out)}; expected one")
            out = next(iter(out.values()))
        return out

    return extract


def load_fid_feature_extractor(path: Optional[str]) -> Optional[Callable]:
    """Feature extractor for ``FIDCalculator`` from a local file, or None (FID skipped).

    ``path``: a SavedModel directory (its ``serving_default`` signature, or the loaded
    object when it is callable) or a ``.keras`` / ``.h5`` Keras model. The returned callable
    takes float [0, 1] RGB batches, resizes them to the model's static input size (else
    299x299), maps to [-1, 1] (Inception-v3 preprocessing) and returns the features.
    None or a missing path logs a warning naming the file needed and returns None.
    Numbers from Keras' InceptionV3 differ slightly from the original TF1 FID graph.
    """
    if not path:
        logging.warning("FID skipped: no feature extractor given; it needs %s.", _FID_HELP)
        return None
    if not os.path.exists(path):
        logging.warning("FID skipped: %s does not exist; it needs %s.", path, _FID_HELP)
        return None
    if os.path.isdir(path):
        obj = tf.saved_model.load(path)
        signatures = getattr(obj, "signatures", {})
        if "serving_default" in signatures:
            fn = signatures["serving_default"]
            spec = list(fn.structured_input_signature[1].values())
            shape = spec[0].shape if spec else tf.TensorShape(None)
            if spec and len(spec) != 1:
                raise ValueError(f"{path}: serving_default takes {len(spec)} inputs; expected 1")
            key = next(iter(fn.structured_input_signature[1]))
            call = lambda x, _fn=fn, _k=key: _fn(**{_k: x})  # noqa: E731
        elif callable(obj):
            call, shape = obj, tf.TensorShape(None)
        else:
            raise ValueError(f"{path}: the SavedModel has no serving_default signature and is "
                             f"not callable; it needs {_FID_HELP}")
    elif path.endswith((".keras", ".h5")):
        import keras

        model = keras.saving.load_model(path, compile=False)
        call = lambda x, _m=model: _m(x, training=False)  # noqa: E731
        shape = tf.TensorShape(model.input_shape)
    else:
        raise ValueError(f"{path}: not a SavedModel directory or a .keras/.h5 file; it needs "
                         f"{_FID_HELP}")
    size = None
    if shape.rank == 4 and shape[1] is not None and shape[2] is not None:
        size = (int(shape[1]), int(shape[2]))
    elif shape.rank is None or shape.rank == 4:
        size = (299, 299)
    return _wrap_extractor(call, size)


def rank1_accuracy(scores, labels) -> float:
    """Closed-set identification rank-1 accuracy (TS-GAN Tables 2-5): the fraction of probes
    whose highest-scoring class is their identity. ``scores`` (N, C) (logits, probabilities or
    similarities: higher = more likely), ``labels`` (N,) ints in [0, C). A tie counts as a hit
    only if the true class is the first maximum (``argmax``), so ties never inflate accuracy
    beyond one class per probe."""
    return rank_k_accuracy(scores, labels, 1)


def rank_k_accuracy(scores, labels, k: int) -> float:
    """Fraction of probes whose identity is among the ``k`` highest scores (strictly fewer than
    ``k`` classes score higher than the true class; ties resolved by class index as argmax)."""
    s = _to_numpy(scores, "scores").astype(np.float64)
    y = _to_numpy(labels, "labels").astype(np.int64).reshape(-1)
    if s.ndim != 2 or s.shape[0] != y.shape[0]:
        raise ValueError(f"rank-k accuracy: scores must be (N, C) with N = len(labels), got "
                         f"{s.shape} and {y.shape}")
    if s.shape[0] == 0:
        raise ValueError("rank-k accuracy: no probes")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"rank-k accuracy: labels must be in [0, {s.shape[1]}), got "
                         f"[{y.min()}, {y.max()}]")
    if k < 1:
        raise ValueError(f"rank-k accuracy: k must be >= 1, got {k}")
    true = s[np.arange(len(y)), y]
    cls = np.arange(s.shape[1])[None, :]
    ahead = (s > true[:, None]) | ((s == true[:, None]) & (cls < y[:, None]))
    return float(np.mean(ahead.sum(axis=1) < k))


def nearest_neighbour_scores(probe, gallery, gallery_labels, num_classes: int):
    """(N_probe, C) identification scores from embeddings: for each class the best cosine
    similarity between the probe and that class's gallery embeddings (-inf if it has none)."""
    p = _to_numpy(probe, "probe").astype(np.float64)
    g = _to_numpy(gallery, "gallery").astype(np.float64)
    gl = _to_numpy(gallery_labels, "gallery_labels").astype(np.int64).reshape(-1)
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    sim = p @ g.T
    out = np.full((len(p), int(num_classes)), -np.inf)
    for c in np.unique(gl):
        out[:, c] = sim[:, gl == c].max(axis=1)
    return out


# ----------------------------------------------------------------------------------------
# Per image, then averaged over images (sparse-to-dense evaluation protocol)
# ----------------------------------------------------------------------------------------

SPARSE_TO_DENSE_KEYS = ("rmse", "mae", "abs_rel", "log10", "delta1", "delta2", "delta3")


def mean_depth_metrics(preds, gts, masks=None) -> Dict[str, float]:
    """Sparse-to-dense's table metrics: each computed on ONE image over its mask, then the
    plain mean over images (its Torch validation runs at batch 1).

    ``preds``, ``gts``: sequences (or (N, H, W[, 1]) arrays) of images; ``masks``: matching
    bool masks or None (default per image: gt > 0 and finite). Keys
    ``SPARSE_TO_DENSE_KEYS`` (rmse/mae in the depth's units; abs_rel = REL; log10 = LG10;
    delta_i strict ``< 1.25**i`` as fractions) plus ``num_images``. An image whose mask is
    empty raises ``ValueError`` naming its index.
    """
    if len(preds) != len(gts) or (masks is not None and len(masks) != len(gts)):
        raise ValueError(f"mean_depth_metrics: {len(preds)} predictions, {len(gts)} ground "
                         f"truths{'' if masks is None else f', {len(masks)} masks'}")
    if len(gts) == 0:
        raise ValueError("mean_depth_metrics: no images")
    fns = {"rmse": rmse, "mae": mae, "abs_rel": abs_rel, "log10": log10_error}
    per = {k: [] for k in SPARSE_TO_DENSE_KEYS}
    for i in range(len(gts)):
        m = None if masks is None else masks[i]
        try:
            for k, fn in fns.items():
                per[k].append(fn(preds[i], gts[i], m))
            for j in (1, 2, 3):
                per[f"delta{j}"].append(delta_accuracy(preds[i], gts[i], 1.25 ** j, mask=m))
        except ValueError as e:
            raise ValueError(f"mean_depth_metrics: image {i}: {e}") from e
    out = {k: float(np.mean(v)) for k, v in per.items()}
    out["num_images"] = len(gts)
    return out


# ----------------------------------------------------------------------------------------
# TS-GAN Table 1 on the paper's scale (issue 16, section 2; BUILD_NOTES.md, same title)
# ----------------------------------------------------------------------------------------
#
# Paper: Uppal et al., ICCV 2021, /work/shared/papers/tsgan-uppal.txt. Metrics paragraph
# lines 622-640 (abs. difference, L1 norm, L2 norm, RMSE "[5, 33]"; delta "[5]" defined as
# "% of y_i s.t. max(y_i/y*_i, y*_i/y_i) = delta < val", val = 1.25); Table 1 lines 707-719.
# [5] = Eigen, Puhrsch, Fergus 2014 (abs/squared relative difference, RMSE linear/log,
# threshold delta, all over the evaluated pixels T); [33] = Pini et al., 3DV 2018 (reports
# L1, L2, abs diff, sq diff, RMSE, delta on faces; its formula text was not reachable here).
#
# What Table 1 itself fixes (derived, BUILD_NOTES.md): L1 norm < RMSE in every row (so the
# L1 norm is a per-pixel mean, not a sum); L2 norm / RMSE in [255.0, 256.5] in all four rows,
# never below 255 but on both sides of 256; Abs. Diff. < L1 norm with a varying ratio (a third
# quantity). The choices below satisfy all of them; which parts are guesses is written in
# each docstring.

#: JSON keys of the ``paper`` protocol, named after Table 1's rows (FID is added by callers).
PAPER_TABLE1_KEYS = ("abs_diff", "l1_norm", "l2_norm", "rmse", "delta_1.25", "delta_1.25^2",
                     "delta_1.25^3")
PAPER_DELTA_THRESHOLDS = {"delta_1.25": 1.25, "delta_1.25^2": 1.25 ** 2,
                          "delta_1.25^3": 1.25 ** 3}
#: 8-bit grey levels per unit of [0, 1] depth (the authors' test.py writes depth as uint8).
GREY_LEVELS = 255.0


def _all_pixels(pred, gt, fn: str):
    p, g = _image(pred, f"{fn}: pred"), _image(gt, f"{fn}: gt")
    if p.shape != g.shape:
        raise ValueError(f"{fn}: pred shape {p.shape} != gt shape {g.shape}")
    if p.size == 0:
        raise ValueError(f"{fn}: empty image")
    _check_finite(p, f"{fn}: pred (prediction)")   # the paper protocol uses every pixel
    _check_finite(g, f"{fn}: gt (target)")
    return p, g


def paper_abs_diff(pred, gt) -> float:
    """TS-GAN Table 1 "Abs. Diff." (paper lines 624-626, 709), our reading: the absolute
    difference of the image means, ``|mean(p) - mean(g)|``, over ALL pixels of one [0, 1]
    image (callers average over images).

    GUESS, constrained by Table 1: it must be below the L1 norm with a ratio that varies
    (0.32-0.43 across the rows), so it is not the mean absolute error. Eigen's [5] absolute
    relative difference mean(|p - g| / g) is ruled out on the same pixels and scale as the
    delta columns: delta(1.25^k) bounds it from below (a pixel failing 1.25 has a relative
    error >= 0.2, failing 1.5625 >= 0.36, failing 1.953 >= 0.488), giving >= 0.108, 0.106,
    0.102, 0.086 for the four rows against the printed 0.0712, 0.0903, 0.1037, 0.0754:
    violated in three of the four rows (``abs_rel`` keeps [5]'s definition).
    ``|mean(p - g)| <= mean|p - g|`` holds for every image (triangle inequality), as Table 1
    requires.
    """
    p, g = _all_pixels(pred, gt, "paper_abs_diff")
    return float(abs(np.mean(p) - np.mean(g)))


def paper_l1_norm(pred, gt) -> float:
    """TS-GAN Table 1 "L1 Norm" (paper lines 624-626, 710): ``mean(|p - g|)`` over ALL pixels
    of one [0, 1] image (callers average over images).

    Derived: the printed L1 norm is below the RMSE in every row (0.2050 vs 0.3234 ...); a
    mean absolute error always is (mean|e| <= sqrt(mean e^2)), a sum over 16k-65k pixels never
    is. All pixels: the authors' code masks nothing (``data.py``; it has no evaluation code); a guess that
    their evaluation did not either.
    """
    p, g = _all_pixels(pred, gt, "paper_l1_norm")
    return float(np.mean(np.abs(p - g)))


def paper_rmse(pred, gt) -> float:
    """TS-GAN Table 1 "RMSE" (lines 624-626, 712; Eigen et al. [5] "RMSE (linear)"):
    ``sqrt(mean((p - g)^2))`` over ALL pixels of one [0, 1] image; callers average the
    per-image values over images (the averaging that makes L2 norm / RMSE >= 255, see
    ``paper_l2_norm``)."""
    p, g = _all_pixels(pred, gt, "paper_rmse")
    return float(np.sqrt(np.mean((p - g) ** 2)))


def paper_delta(pred, gt, threshold: float = 1.25) -> float:
    """TS-GAN Table 1 "delta(val)" (lines 626-635, 713-715; Eigen et al. [5] "threshold"):
    the PERCENT (0-100, as Table 1 prints it) of pixels with ``max(g / p, p / g) < threshold``
    (strict, "delta < val"), on [0, 1] depth of one image.

    Zero depth (division by zero), defined here: pixels whose ground truth is <= 0 (holes,
    black background) are left out, since the ratio is undefined there ([5] evaluates valid
    ground-truth pixels only); a prediction <= 0 on a pixel with ground truth > 0 counts as a
    failure (its ratio is infinite). An image with no ground-truth pixel > 0 raises
    ``ValueError``. Thresholds 1.25, 1.25^2, 1.25^3 as the paper (lines 634-635, 713-715).
    """
    _check_scalar(threshold, "paper_delta: threshold", 1.0)
    p, g = _all_pixels(pred, gt, "paper_delta")
    valid = g > 0
    if not valid.any():
        raise ValueError(f"paper_delta: the ground truth has no pixel > 0 (image shape "
                         f"{g.shape}); the ratio max(g/p, p/g) is undefined everywhere")
    p, g = p[valid], g[valid]
    ok = p > 0
    ratio = np.full(p.shape, np.inf)
    ratio[ok] = np.maximum(p[ok] / g[ok], g[ok] / p[ok])
    return float(100.0 * np.mean(ratio < threshold))


def paper_l2_norm(preds, gts, grey_levels: float = GREY_LEVELS) -> float:
    """TS-GAN Table 1 "L2 Norm" (lines 624-626, 711), our reading: the root mean squared error
    in 8-bit grey levels POOLED over every pixel of every image,
    ``grey_levels * sqrt(sum_i sum_px (p - g)^2 / total pixels)`` on [0, 1] depth.

    Derived from Table 1: L2 norm / RMSE is 256.46, 256.33, 255.00, 255.23 for the four rows
    (rounding moves each by < 0.05). A literal vector norm ||p - g||_2 of a 256 x 256 image is
    256 * RMSE, which cannot give 255.00 and 256.46 alike. 255 * (pooled RMSE) / (mean of the
    per-image RMSEs) is >= 255 by Jensen's inequality, = 255 when every image has the same
    RMSE, and 256.5 for a 10 % spread of the per-image RMSEs: it matches all four rows, and
    255 is the 8-bit scale the authors' test.py writes depth in. The pooling and the 255 are
    a reconstruction (a guess that fits), not read in the paper, [5] or [33].

    ``preds``, ``gts``: sequences of images or (N, H, W[, 1]) arrays.
    """
    acc = PaperTable1Accumulator(grey_levels)
    acc.update(preds, gts)
    return acc.result()["l2_norm"]


class PaperTable1Accumulator:
    """Streams TS-GAN Table 1 metrics on the paper's scale over batches of [0, 1] depth.

    ``update(preds, gts)`` takes (B, H, W[, 1]) arrays/tensors (or one (H, W[, 1]) image);
    ``result()`` returns the ``PAPER_TABLE1_KEYS``: ``abs_diff``, ``l1_norm``, ``rmse`` and the
    ``delta_*`` (percent) computed per image (``paper_*`` functions) and averaged over images;
    ``l2_norm`` pooled over all pixels of all images in grey levels (``paper_l2_norm``); plus
    ``abs_rel`` (Eigen's [5] absolute relative difference over ground truth > 0, not a Table 1
    row), ``num_images`` and ``num_pixels``.
    """

    def __init__(self, grey_levels: float = GREY_LEVELS):
        if not grey_levels > 0:
            raise ValueError(f"PaperTable1Accumulator: grey_levels must be > 0, got {grey_levels}")
        self.grey_levels = float(grey_levels)
        self._per_image = {k: [] for k in PAPER_TABLE1_KEYS if k != "l2_norm"}
        self._per_image["abs_rel"] = []
        self._sq_sum = 0.0
        self._pixels = 0

    def update(self, preds, gts) -> None:
        p = _to_numpy(preds, "preds").astype(np.float64)
        g = _to_numpy(gts, "gts").astype(np.float64)
        p, g = self._batch(p), self._batch(g)
        if p.shape != g.shape or p.ndim != 3:
            raise ValueError(f"PaperTable1Accumulator: expected matching (B, H, W[, 1]) batches, "
                             f"got preds {p.shape} and gts {g.shape}")
        start = self.num_images
        for i in range(p.shape[0]):
            pi, gi = p[i], g[i]
            try:
                row = {"abs_diff": paper_abs_diff(pi, gi), "l1_norm": paper_l1_norm(pi, gi),
                       "rmse": paper_rmse(pi, gi)}
                for key, thr in PAPER_DELTA_THRESHOLDS.items():
                    row[key] = paper_delta(pi, gi, thr)
                row["abs_rel"] = abs_rel(pi, gi)          # [5], over gt > 0, EPS-clipped
            except ValueError as e:
                raise ValueError(f"PaperTable1Accumulator: image {start + i}: {e}") from e
            for key, value in row.items():
                self._per_image[key].append(value)
            self._sq_sum += float(np.sum((pi - gi) ** 2))
            self._pixels += pi.size

    @staticmethod
    def _batch(a: np.ndarray) -> np.ndarray:
        """(H, W) or (H, W, 1) -> (1, H, W); (B, H, W, 1) -> (B, H, W); (B, H, W) kept."""
        if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 1):
            a = a.reshape((1,) + a.shape[:2])
        elif a.ndim == 4 and a.shape[-1] == 1:
            a = a[..., 0]
        return a

    @property
    def num_images(self) -> int:
        return len(self._per_image["rmse"])

    def result(self) -> Dict[str, float]:
        if self.num_images == 0:
            raise ValueError("PaperTable1Accumulator: no images")
        out = {k: float(np.mean(v)) for k, v in self._per_image.items()}
        out["l2_norm"] = float(self.grey_levels * np.sqrt(self._sq_sum / self._pixels))
        out["num_images"] = self.num_images
        out["num_pixels"] = self._pixels
        return {k: out[k] for k in (*PAPER_TABLE1_KEYS, "abs_rel", "num_images", "num_pixels")}


def paper_table1_metrics(preds, gts, grey_levels: float = GREY_LEVELS) -> Dict[str, float]:
    """TS-GAN Table 1 metrics on the paper's scale for [0, 1] depth images
    (``PaperTable1Accumulator``: per image and averaged, ``l2_norm`` pooled, delta in %)."""
    acc = PaperTable1Accumulator(grey_levels)
    acc.update(preds, gts)
    return acc.result()
