"""The full degradation in the paper's order (Schlett, Rathgeb, Busch, section III-B, Fig. 5).

Ground truth -> holes (outline + random, rendered together) -> per-pixel noise -> blur of
non-hole pixels -> optional helper (hole values randomised, or randomised and blurred).
:func:`degrade` composes the stages of :mod:`holes`, :mod:`noise`, :mod:`blur` and
:mod:`helpers` as four graph stages (:func:`_stages`), each its own XLA cluster with
``jit_compile`` (:func:`_compiled`); :func:`make_degradation_fn` is the ``tf.data`` form.
"""

from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

from data_pipelines.degradation._checks import _as_batch, _nearest, _require_face, _spatial
from data_pipelines.degradation.blur import _blur_cols, _blur_rows, _normalised_blur
from data_pipelines.degradation.config import DegradationConfig
from data_pipelines.degradation.helpers import _draw_helper, _helper_values
from data_pipelines.degradation.holes import (_draw_outline, _draw_random, _group_axes,
                                              _hole_ellipses, _raster_groups)
from data_pipelines.degradation.noise import _apply_noise, _noise
from data_pipelines.degradation.seeds import (PART_HELPER, PART_NOISE, PART_OUTLINE, PART_RANDOM,
                                              _check_seed, _part_keys, _seed_rows)


def _draws(keys, cfg):
    draws = {}
    if "outline" in keys:
        draws.update(_draw_outline(keys["outline"], cfg))
    if "random" in keys:
        draws.update(_draw_random(keys["random"], cfg))
    return draws


def _holes_and_noise(x, holes, keys, cfg, xla=False):
    """Steps 1 (apply) and 2 of :func:`degrade`: synthetic holes set to 0, then noise."""
    y = tf.where(holes, 0.0, x)
    if cfg.noise and cfg.noise_sigma_mm > 0:
        h, w = _spatial(x)
        noise = _noise(keys["noise"], h, w, cfg.noise_distribution, xla)
        y = _apply_noise(y, noise, cfg.noise_sigma_mm, cfg.min_depth_mm)
    return y


def _blurs(cfg):
    return cfg.blur and cfg.blur_kernel_size > 1


def _finish(x, y, row_sums, keys, cfg):
    """Steps 3 (second pass of the blur, see :func:`_blur_positive`) and 4 of :func:`degrade`
    on the noisy, holed ``y`` (``x`` is the clean input)."""
    valid = y > 0
    if row_sums is not None:
        y = _blur_cols(row_sums, cfg.blur_kernel_size, valid)
    hole = tf.logical_not(valid)
    if cfg.helper != "none":
        near = _nearest(x, x > 0)
        u = _draw_helper(keys["helper"], _spatial(x))["helper_u"]
        vals = _helper_values(near, u, cfg.helper_offset_range_mm)
        if cfg.helper == "blurred":
            vals = _normalised_blur(vals, hole, cfg.helper_blur_kernel_size)
        y = tf.where(hole, vals, y)
    return y, hole


def _stages(cfg, xla=False):
    """:func:`degrade` as four stages, each a function of the previous stages' tensors: ellipse
    coefficients (random draws, outline, sampling); rasterised synthetic holes applied + noise;
    the blur's row sums; the blur's column sums + the helper. The plain graph runs them
    in sequence; with ``jit_compile`` each is its own XLA cluster, because inside one cluster
    XLA:CPU fuses every stage into its consumers and recomputes it per use (the coefficients
    for every row of every ellipse, the noise for every blur tap), which measured 1.5-2x slower
    than materialising the stage outputs (BUILD_NOTES, "Speed"). ``xla`` selects the XLA forms
    of the scatter (:func:`_cover`) and the log (:func:`_noise`)."""
    use = (cfg.outline_holes, cfg.random_holes)
    axes = _group_axes(cfg, *use)
    blur = _blurs(cfg)
    return {
        "ellipses": lambda x, k: _hole_ellipses(x, _draws(k, cfg), cfg, *use),
        "noise": lambda x, g, k: _holes_and_noise(
            x, _raster_groups(x, g, axes, xla, cfg.hole_shape), k, cfg, xla),
        "rows": (lambda y: _blur_rows(y, cfg.blur_kernel_size)) if blur else None,
        "finish": lambda x, y, rows, k: _finish(x, y, rows, k, cfg),
    }


_JIT_CACHE = {}


def _compiled(cfg):
    """The XLA-compiled :func:`_stages` of a config (cached)."""
    fns = _JIT_CACHE.get(cfg)
    if fns is None:
        fns = {name: fn and tf.function(fn, jit_compile=True, autograph=False)
               for name, fn in _stages(cfg, xla=True).items()}
        _JIT_CACHE[cfg] = fns
    return fns


def _run_stages(x, keys, fns):
    y = fns["noise"](x, fns["ellipses"](x, keys), keys)
    rows = fns["rows"](y) if fns["rows"] is not None else None
    return fns["finish"](x, y, rows, keys)


def degrade(depth, seed, config: Optional[DegradationConfig] = None, jit_compile=False):
    """Degrade clean face depth as in section III-B / Fig. 5: holes -> noise -> blur -> helper.

    Args:
      depth: float mm, 0 = hole; (H,W), (B,H,W) or (B,H,W,1). Outline holes trace its outline.
      seed: int [2] or [B,2] (see the module doc for per-example seeds).
      config: :class:`DegradationConfig`; each part is switched by its boolean.
      jit_compile: XLA-compile the four stages of :func:`_stages` as four clusters. The same
        computation as the plain graph (the hash gives the same bits; the marks' scatter and
        the noise's log take XLA-friendly forms), so the output equals the plain graph's up to
        float32 rounding (~1e-3 mm) with identical hole masks. Several times the plain graph's
        speed on CPU.

    Returns:
      ``(degraded, hole_mask)``: degraded depth in mm of the input's shape (holes 0, or the
      helper's values), and the bool hole mask (original + synthetic holes) of the same shape.
      With a helper, ``hole_mask`` is the only record of where the holes are.
    """
    cfg = config or DegradationConfig()
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    deps = _require_face(x > 0, "degrade: depth") if cfg.helper != "none" else []
    rows = _seed_rows(s, x, single)
    parts = {"outline": (PART_OUTLINE, cfg.outline_holes), "random": (PART_RANDOM, cfg.random_holes),
             "noise": (PART_NOISE, cfg.noise and cfg.noise_sigma_mm > 0),
             "helper": (PART_HELPER, cfg.helper != "none")}
    keys = {name: _part_keys(rows, part) for name, (part, on) in parts.items() if on}
    with tf.control_dependencies(deps):
        y, hole = _run_stages(x, keys, _compiled(cfg) if jit_compile else _stages(cfg))
    return restore(y), restore(hole)


def make_degradation_fn(config: Optional[DegradationConfig] = None, jit_compile=True
                        ) -> Callable:
    """``fn(depth, seed) -> (degraded, hole_mask)`` for ``tf.data.Dataset.map`` on batches.

    Use per-example seeds ``index_seeds(seed, global_indices)`` so an example's degradation is
    fixed by ``(seed, global index)`` whatever the batching, e.g.
    ``ds.batch(B).enumerate().map(lambda i, d: fn(d, index_seeds(7, i * B + tf.range(n))))``
    with ``n = tf.shape(d)[0]``. ``jit_compile`` (default True here) XLA-compiles the four
    stages: several times the plain graph's speed on CPU, same output up to float rounding.
    Map it with ``num_parallel_calls`` >= 2 (or AUTOTUNE): two batches in flight keep both
    cores of a 2-core CPU busy, where one call keeps ~1.5 busy (``benchmarks.bench_degradation``).
    """
    cfg = config or DegradationConfig()

    def fn(depth, seed):
        return degrade(depth, seed, cfg, jit_compile=jit_compile)
    return fn
