"""All parameters of the degradation synthesis (Schlett, Rathgeb, Busch, section III-B, Fig. 5).

One frozen, hashable :class:`DegradationConfig` (it keys the XLA cache of
:mod:`data_pipelines.degradation.pipeline`); every field maps onto a flag. The paper fixes the
15 mm noise (D435 error at 2 m) and the order of the stages; the counts, sizes, kernels and
helper range are our choices, documented in the package docstring.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

from data_pipelines.degradation._checks import Range, _check_kernel
from data_pipelines.degradation.face_range import FACE_RANGE_MM


_HELPERS = ("none", "random", "blurred")
_SHAPES = ("polygon", "ellipse")
_DISTRIBUTIONS = ("gaussian", "uniform")
_PLACEMENTS = ("image", "face")


@dataclasses.dataclass(frozen=True)
class DegradationConfig:
    """All degradation parameters (paper section III-B); every field maps onto a flag.

    Counts are inclusive integer ranges drawn uniformly per image; sizes are semi-major axes in
    pixels drawn uniformly; ``aspect_range`` is semi-minor / semi-major; angles in radians.
    ``hole_shape='polygon'`` (Fig. 5, "Generate Random Hole Vertices"): each hole is a convex
    polygon of ``n ~ U{vertex_count_range}`` vertices inscribed in the ellipse of those
    parameters (:mod:`.vertices`); 'ellipse' fills the ellipse itself. Outline holes are
    centred in the outline region (Fig. 5, "Generate Outline Region"): the valid pixels within
    ``outline_region_width`` px (chessboard distance) of a hole pixel, a band along the traced
    outline (1 = the outline pixels themselves).
    """

    outline_holes: bool = True
    outline_region_width: int = 1            # px; 1 = the traced outline pixels themselves
    outline_count_range: Tuple[int, int] = (16, 48)
    outline_size_range: Range = (2.0, 10.0)
    random_holes: bool = True
    random_count_range: Tuple[int, int] = (0, 10)
    random_size_range: Range = (2.0, 16.0)
    random_placement: str = "image"          # 'image': anywhere (paper); 'face': on valid pixels
    aspect_range: Range = (0.3, 1.0)
    angle_range: Range = (0.0, math.pi)
    hole_shape: str = "polygon"              # Fig. 5's random hole vertices; 'ellipse' as before
    vertex_count_range: Tuple[int, int] = (3, 8)
    vertex_jitter: float = 1.0               # of the angular step 2 pi / n; 0 = regular
    noise: bool = True
    noise_sigma_mm: float = 15.0
    noise_distribution: str = "gaussian"
    blur: bool = True
    blur_kernel_size: int = 5
    helper: str = "none"                     # 'none' | 'random' | 'blurred' (training only)
    helper_offset_range_mm: Range = (0.0, FACE_RANGE_MM)
    helper_blur_kernel_size: int = 9
    min_depth_mm: float = 1.0                # noise never turns a valid pixel into a hole

    def __post_init__(self):
        for f in dataclasses.fields(self):   # lists from flags -> tuples (hashable config)
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        for name in ("outline_count_range", "random_count_range"):
            lo, hi = getattr(self, name)
            if int(lo) != lo or int(hi) != hi or not 0 <= lo <= hi:
                raise ValueError(f"DegradationConfig.{name} must be integers 0 <= lo <= hi, "
                                 f"got {getattr(self, name)}")
        for name in ("outline_size_range", "random_size_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"DegradationConfig.{name} must satisfy 0 < lo <= hi, got "
                                 f"{getattr(self, name)}")
        if self.hole_shape not in _SHAPES:
            raise ValueError(f"DegradationConfig.hole_shape must be one of {_SHAPES}, got "
                             f"{self.hole_shape!r}")
        lo, hi = self.vertex_count_range
        if int(lo) != lo or int(hi) != hi or not 3 <= lo <= hi:
            raise ValueError(f"DegradationConfig.vertex_count_range must be integers "
                             f"3 <= lo <= hi, got {self.vertex_count_range}")
        if not 0.0 <= self.vertex_jitter <= 1.0:
            raise ValueError(f"DegradationConfig.vertex_jitter must be in [0, 1] (a fraction of "
                             f"the angular step; above 1 vertices could swap order and the "
                             f"polygon would not be convex), got {self.vertex_jitter}")
        if int(self.outline_region_width) != self.outline_region_width or \
                self.outline_region_width < 1:
            raise ValueError(f"DegradationConfig.outline_region_width must be an integer >= 1 "
                             f"(px), got {self.outline_region_width}")
        lo, hi = self.aspect_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"DegradationConfig.aspect_range must satisfy 0 < lo <= hi <= 1, got "
                             f"{self.aspect_range}")
        if self.angle_range[0] > self.angle_range[1]:
            raise ValueError(f"DegradationConfig.angle_range must be (lo, hi) with lo <= hi, got "
                             f"{self.angle_range}")
        if self.random_placement not in _PLACEMENTS:
            raise ValueError(f"DegradationConfig.random_placement must be one of {_PLACEMENTS}, "
                             f"got {self.random_placement!r}")
        if self.noise_sigma_mm < 0:
            raise ValueError(f"DegradationConfig.noise_sigma_mm must be >= 0, got "
                             f"{self.noise_sigma_mm}")
        if self.noise_distribution not in _DISTRIBUTIONS:
            raise ValueError(f"DegradationConfig.noise_distribution must be one of "
                             f"{_DISTRIBUTIONS}, got {self.noise_distribution!r}")
        for name in ("blur_kernel_size", "helper_blur_kernel_size"):
            _check_kernel(getattr(self, name), f"DegradationConfig.{name}")
        if self.helper not in _HELPERS:
            raise ValueError(f"DegradationConfig.helper must be one of {_HELPERS}, got "
                             f"{self.helper!r}")
        if self.helper_offset_range_mm[0] > self.helper_offset_range_mm[1]:
            raise ValueError(f"DegradationConfig.helper_offset_range_mm must be (lo, hi) with "
                             f"lo <= hi, got {self.helper_offset_range_mm}")


def _cfg(**kw):
    return DegradationConfig(**kw)
