"""Random hole vertices: the "Generate Random Hole Vertices" box of Fig. 5 (Schlett, Rathgeb,
Busch, section III-B).

The text fixes that holes are shapes made from random vertices (Fig. 5: "Generate Random Hole
Vertices" -> "Combine Vertices" -> "Holes" -> "Hole Depth Rendering") whose "size and
orientation are also randomized within a given range for both variants" (l. 496-498), and that
both generators' shapes are "combined to render them in a single step on the GPU" (l. 498-499).
It does not say how many vertices a hole has or how they are placed; our choice (flags
``vertex_count_range``, ``vertex_jitter`` of :class:`DegradationConfig`): ``n ~ U{3..8}``
vertices at angles ``phi_j = 2 pi (j + jitter * u_j) / n`` on the ellipse with the hole's
semi-axes ``(a, b)`` and orientation ``t`` (the size / aspect / angle draws the ellipse holes
use), so every hole is a random convex polygon inscribed in that ellipse: vertices on a convex
curve in angular order are always convex, which keeps each row of a hole one interval
(:func:`.rasterize._polygon_interval_marks`). ``jitter = 0`` gives regular polygons.
"""

from __future__ import annotations

import math

import tensorflow as tf


def vertex_draw_count(cfg) -> int:
    """Uniforms per hole for its vertices: one for the count, one per vertex."""
    return 1 + int(cfg.vertex_count_range[1])


def hole_vertices(centers, axes, angles, u, cfg):
    """(B,K,V,2) ``(y, x)`` vertices, V = ``cfg.vertex_count_range[1]``, counter-clockwise in
    the (x, y) frame.

    ``centers`` (B,K,2) ``(y, x)``, ``axes`` (B,K,2) semi-axes ``(a, b)``, ``angles`` (B,K) the
    orientation of ``a`` from +x towards +y; ``u`` (B,K,1+V) uniforms: the vertex count
    ``n ~ U{vertex_count_range}``, then one angle jitter per vertex. Vertices ``j >= n`` repeat
    vertex 0 (a zero-length edge adds no constraint)."""
    lo, hi = (int(v) for v in cfg.vertex_count_range)
    n = tf.minimum(lo + tf.floor(u[..., 0] * (hi - lo + 1)), float(hi))[..., None]   # (B,K,1)
    j = tf.range(hi, dtype=tf.float32)
    phi = (2.0 * math.pi) * (j + float(cfg.vertex_jitter) * u[..., 1:]) / n            # (B,K,V)
    phi = tf.where(j < n, phi, phi[..., :1])
    along = axes[..., 0:1] * tf.cos(phi)              # along the orientation
    across = axes[..., 1:2] * tf.sin(phi)
    c, s = tf.cos(angles)[..., None], tf.sin(angles)[..., None]
    x = centers[..., 1:2] + along * c - across * s
    y = centers[..., 0:1] + along * s + across * c
    return tf.stack([y, x], axis=-1)
