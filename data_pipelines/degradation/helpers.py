"""Deep-learning helper degradations, training only (Schlett et al., sec. III-B, Fig. 5 step 4).

"The hole pixel values can simply be fully randomized, or randomized to a certain depth range
and then blurred for a somewhat more predictable/plausible effect ... this kind of degradation is
not used for test data" (Fig. 5: "Randomize Hole Values", "Blurred Hole Background"). Values are
uniform over ``[near + lo, near + hi]`` with ``near`` the image's nearest valid depth; the default
range is the 250 mm normalisation window of section IV-J.
"""

from __future__ import annotations

import tensorflow as tf

from data_pipelines.degradation._checks import (_as_batch, _check_kernel, _check_range,
                                                _hole_arg, _nearest, _require_face, _spatial)
from data_pipelines.degradation.blur import _normalised_blur
from data_pipelines.degradation.face_range import FACE_RANGE_MM
from data_pipelines.degradation.seeds import (PART_HELPER, _check_seed, _part_keys, _seed_rows,
                                              _uniform)


def _draw_helper(keys, shape):
    return {"helper_u": _uniform(keys, list(shape))}


def _helper_values(near, u, offset_range):
    lo = near[:, None, None] + offset_range[0]
    return lo + u * (offset_range[1] - offset_range[0])


def randomize_hole_values(depth, seed, offset_range_mm=(0.0, FACE_RANGE_MM), hole_mask=None):
    """DL helper (training only): every hole value drawn uniformly at random (section III-B).

    Hole values ~ U(near + offset_range_mm[0], near + offset_range_mm[1]) with ``near`` the
    image's nearest valid depth; the default spans exactly the 250 mm normalisation window, so in
    the network's normalised [0, 1] input the holes are fully random. ``hole_mask`` (same shape as
    ``depth``, True = hole) defaults to ``depth == 0``; valid pixels are unchanged.
    """
    _check_range(offset_range_mm, "randomize_hole_values: offset_range_mm")
    x, restore, single = _as_batch(depth)
    holes = _hole_arg(hole_mask, x)
    deps = _require_face(~holes, "randomize_hole_values: depth")
    s = _check_seed(seed, single)
    with tf.control_dependencies(deps):
        near = _nearest(x, ~holes)
    keys = _part_keys(_seed_rows(s, x, single), PART_HELPER)
    vals = _helper_values(near, _draw_helper(keys, _spatial(x))["helper_u"], offset_range_mm)
    return restore(tf.where(holes, vals, x))


def randomize_hole_values_blurred(depth, seed, depth_range_mm=(0.0, FACE_RANGE_MM),
                                  kernel_size=9, hole_mask=None):
    """DL helper (training only): "blurred hole background" (section III-B).

    Hole values are drawn uniformly within ``[near + depth_range_mm[0], near + depth_range_mm[1]]``
    (``near`` = nearest valid depth of the image), then blurred with a ``kernel_size`` box over
    hole pixels only (normalised convolution), so the background stays inside the range and valid
    depth neither bleeds into it nor changes.
    """
    _check_range(depth_range_mm, "randomize_hole_values_blurred: depth_range_mm")
    _check_kernel(kernel_size, "randomize_hole_values_blurred: kernel_size")
    x, restore, single = _as_batch(depth)
    holes = _hole_arg(hole_mask, x)
    deps = _require_face(~holes, "randomize_hole_values_blurred: depth")
    s = _check_seed(seed, single)
    with tf.control_dependencies(deps):
        near = _nearest(x, ~holes)
    keys = _part_keys(_seed_rows(s, x, single), PART_HELPER)
    vals = _normalised_blur(_helper_values(near, _draw_helper(keys, _spatial(x))["helper_u"],
                                           depth_range_mm), holes,
                            int(kernel_size))
    return restore(tf.where(holes, vals, x))
