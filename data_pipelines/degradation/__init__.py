"""Degradation synthesis for face depth enhancement (Schlett, Rathgeb, Busch; sec. III-B, Fig. 5).

A clean face depth map (ground truth) becomes a sensor-like input in the paper's order:

1. holes, two generators rasterised together in one step (Fig. 5: "Detect Outline", "Generate
   Outline Region", "Generate Random Hole Vertices", "Combine Vertices", "Hole Depth
   Rendering"): *outline holes* centred in the outline region (a band along the traced
   outline, so the silhouette "erodes") and *random holes* anywhere; each hole a random convex
   polygon of 3-8 vertices on an ellipse of random size, aspect and orientation (or the
   ellipse itself, ``hole_shape='ellipse'``);
2. per-pixel noise on every non-hole pixel, 15 mm (the D435's error at 2 m);
3. blur of non-hole pixels only (normalised convolution: holes never contribute);
4. optional deep-learning "helper" degradations for training only: hole values fully
   randomised, or randomised within a depth range and then blurred ("blurred hole background").

Conventions of this module
- Depth is float32 **millimetres** with **0 = hole** (RealSense SDK convention). Accepted shapes:
  one image ``(H, W)``, a batch ``(B, H, W)`` or ``(B, H, W, 1)``; outputs keep the input's shape.
  The paper's own convention (holes = 65535 = the maximum, section IV-J) is applied only by
  :func:`to_paper_convention` / :func:`from_paper_convention` and :func:`to_uint16` /
  :func:`from_uint16`.
- Hole shapes: centre ``(y, x)`` in pixel coordinates (pixel ``(r, c)`` has its centre at
  ``y = r, x = c``), semi-axes ``(a, b)`` in pixels with ``a`` along the angle, angle in radians
  from the +x (column) axis towards +y (down the rows). The polygon's vertices lie on that
  ellipse (:mod:`.vertices`). A pixel is a hole when its centre lies inside or on the shape:
  the rasterisation is exact on the pixel grid.
- Randomness: stateless and counter-based. ``seed`` is an integer tensor of shape ``[2]`` or
  ``[B, 2]``. Example ``i`` of a batch uses the seed row ``seed[i]`` of a ``[B, 2]`` seed, or
  ``(seed_word(seed), i)`` for a ``[2]`` seed (:func:`example_seeds`); a single ``(H, W)`` image
  uses ``seed`` itself. Each part (PART = 1 outline, 2 random holes, 3 noise, 4 helper) hashes the
  row's four 32-bit words into two 32-bit keys, and its ``n``-th number is
  ``fmix32(fmix32(n * 0x9E3779B9 + k1) ^ k2)`` (MurmurHash3's finaliser, SplitMix-style; 24-bit
  uniforms; Gaussian noise takes one word per pixel and splits it into two 16-bit uniforms,
  :func:`.noise._noise`).
  So a batch equals its examples degraded one at a time, a part gives the same
  numbers alone or inside :func:`degrade`, the plain graph and XLA give identical bits, and
  with ``seed[i] = (seed, global_index)`` (:func:`index_seeds`) an example's degradation does not
  depend on how the stream is batched. (Earlier versions drew from ``tf.random.stateless_*``
  once per example and part; the hash is ~20x faster under XLA and needs no per-example ops.)

Choices the paper leaves open (defaults in :class:`DegradationConfig`, sized for 256x256 faces):
hole shapes: convex polygons of 3-8 random vertices (angles jittered by up to one angular step)
on the ellipse of the hole's parameters; outline region 1 px (the traced outline);
outline holes 16-48 per face with semi-major axis 2-10 px; random holes 0-10 per image
with semi-major axis 2-16 px; semi-minor / semi-major in [0.3, 1]; angle uniform in [0, pi);
Gaussian noise (sigma 15 mm; uniform with the same std as an option); 5x5 box blur; helper values
uniform over [near, near + 250 mm] (the normalisation window), the blurred helper with a 9x9 box.

Implementation: batched graph ops only, no per-example loop: the hash generator above, the
outline's erosion on 16-pixel bit words and two-level counting to pick outline pixels, exact
row-interval polygon (or ellipse) rasterisation (one scatter of interval marks + a
blocked-matmul cumsum for all holes of the batch), one-hash-per-pixel Box-Muller noise,
two-pass shifted-slice box sums (int8 counts) for the normalised blur; under XLA four
clusters (:func:`.pipeline._stages`). Benchmark:
``python -m benchmarks.bench_degradation`` (for speed on CPU run TF with
``TF_CPU_ALLOCATOR_USE_BFC=true``, as the benchmark does: see BUILD_NOTES, "Speed").

Modules (each cites the part of the paper it implements):

- :mod:`.config`      :class:`DegradationConfig`, every parameter (section III-B).
- :mod:`.seeds`       per-example seeds and the counter-based hash generator.
- :mod:`.holes`       outline region, outline holes and random holes (section III-B, Fig. 5).
- :mod:`.vertices`    random hole vertices: convex polygons on the holes' ellipses (Fig. 5).
- :mod:`.rasterize`   exact polygon / ellipse rasterisation, both variants in one step (Fig. 5).
- :mod:`.noise`       15 mm per-pixel noise on non-hole pixels (Fig. 5 step 2).
- :mod:`.blur`        blur of non-hole pixels, normalised box convolution (Fig. 5 step 3).
- :mod:`.helpers`     randomised / blurred hole background, training only (Fig. 5 step 4).
- :mod:`.pipeline`    :func:`degrade` / :func:`make_degradation_fn`: the stages in order.
- :mod:`.face_range`  25 cm face-range normalisation and the 65535-hole 16-bit codes (IV-J).
- :mod:`._checks`     shapes, masks and argument checks shared by the stages.

The public names below are re-exported here, so ``from data_pipelines import degradation`` and
``degradation.<name>`` keep working; private helpers live in their modules (tests import them
from there).
"""

from data_pipelines.degradation.blur import blur_valid
from data_pipelines.degradation.config import DegradationConfig
from data_pipelines.degradation.face_range import (FACE_RANGE_MM, PAPER_HOLE_CODE, VALID_MAX_CODE,
                                                   VALID_MAX_NORMALISED, denormalize_face_depth,
                                                   from_paper_convention, from_uint16,
                                                   normalize_face_depth, to_paper_convention,
                                                   to_uint16)
from data_pipelines.degradation.helpers import randomize_hole_values, randomize_hole_values_blurred
from data_pipelines.degradation.holes import (face_outline, outline_holes, random_hole_parameters,
                                              random_holes)
from data_pipelines.degradation.noise import add_noise
from data_pipelines.degradation.pipeline import degrade, make_degradation_fn
from data_pipelines.degradation.rasterize import rasterize_ellipses, rasterize_polygons
from data_pipelines.degradation.vertices import hole_vertices
from data_pipelines.degradation.seeds import (PART_HELPER, PART_NOISE, PART_OUTLINE, PART_RANDOM,
                                              example_seeds, index_seeds, seed_word)

__all__ = [
    # configuration and the full degradation (section III-B, Fig. 5)
    "DegradationConfig", "degrade", "make_degradation_fn",
    # seeds
    "example_seeds", "index_seeds", "seed_word",
    "PART_OUTLINE", "PART_RANDOM", "PART_NOISE", "PART_HELPER",
    # the stages one at a time
    "face_outline", "outline_holes", "random_holes", "random_hole_parameters",
    "rasterize_ellipses", "rasterize_polygons", "hole_vertices", "add_noise", "blur_valid",
    "randomize_hole_values", "randomize_hole_values_blurred",
    # face range and the paper's 16-bit convention (section IV-J)
    "FACE_RANGE_MM", "PAPER_HOLE_CODE", "VALID_MAX_CODE", "VALID_MAX_NORMALISED",
    "normalize_face_depth", "denormalize_face_depth",
    "to_paper_convention", "from_paper_convention", "to_uint16", "from_uint16",
]
