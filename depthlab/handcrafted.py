"""The RealSense SDK post-processing filters, output identical to librealsense's, vectorised.

The face depth enhancement paper (Schlett, Rathgeb, Busch; Table II) compares its U-Nets with
three filters of the Intel RealSense SDK (librealsense 2.x, ``src/proc/``). They are ported here
from the SDK's documented behaviour and source, on uint16 depth with **0 = hole** (the SDK's
convention), for one image ``(H, W)`` or a batch ``(N, H, W)``:

- :func:`decimation`: ``magnitude`` x ``magnitude`` blocks -> one pixel. Magnitude 2 and 3 take
  the median of the block's non-zero pixels (the lower median for an even count: the SDK's
  selection networks pick "the member one below the middle"); magnitude >= 4 takes the integer
  mean (truncated) of the non-zero pixels; an all-hole block gives 0. The output is
  ``floor(H / m) x floor(W / m)`` padded with zero rows/columns up to a multiple of 4
  (256x256 at magnitude 3 -> 85 -> 88x88).
- :func:`hole_filling`: mode 0 fills each hole from its left neighbour (after filling, so runs
  are filled by the last valid value); mode 1 ("farest from around") takes the maximum, mode 2
  ("nearest from around") the minimum non-zero value, of the up, up-left, left, down-left and
  down neighbours, in one raster pass that reads already-filled pixels above and to the left.
  Modes 1 and 2 leave the first/last row and the first column as they are; mode 2 fills nothing
  where the (filled) pixel above is a hole.
- :func:`spatial`: the domain-transform edge-preserving filter (Gastal & Oliveira 2011) as the
  SDK runs it on integer depth: ``magnitude`` iterations of a horizontal pass (left-to-right,
  then right-to-left) and a vertical pass (top-to-bottom, then bottom-to-top). Each step blends
  a pixel with its already-filtered predecessor, ``round_half_up(alpha * cur + (1 - alpha) *
  prev)`` in float32, when their difference is within ``delta``; the horizontal passes also
  fill holes "inertially" with the predecessor, for at most ``radius - 1`` pixels per run
  (``holes_fill`` 1-4 -> radius 2, 4, 8, 16; 5 -> 255, "unlimited").

Every quirk of the SDK's integer code path is reproduced on purpose (and tested pixel for pixel
against ``pyrealsense2``): the right-to-left pass treats depth 1 like a hole, the top-to-bottom
pass also blends holes with small neighbours (no validity test there), the fill counter only
resets between two valid pixels, and the first/last columns are skipped by the left-to-right
pass.

Vectorisation: decimation is fully vectorised; hole filling mode 0 is a vectorised forward fill;
modes 1 and 2 loop over rows (each row needs the filled row above) and solve each row's
left-to-right recursion with a segmented running max/min; the spatial filter's recursions loop
over one axis and are vectorised across the other axis and the batch.

The paper's own images store holes as 65535 (section IV-J): :func:`paper_holes_to_sdk` and
:func:`sdk_holes_to_paper` convert. :data:`PAPER_ENHANCERS` holds the seven Table II baselines
on 0-hole depth; :func:`paper_enhancer` runs them as the paper did, on its face-window 16-bit
codes with 65535 = hole (the default; ``convention="millimetres"`` keeps 0-hole millimetres),
which changes what the spatial filter's delta 20 means (20 codes = 0.08 mm of the 250 mm window
instead of 20 mm).

Input contract (every filter; DESIGN.md "validated where they enter"):

- dtype uint16, else ``TypeError`` naming the function and the dtype.
- ``layout`` says how to read the array; nothing is guessed from the shape:
  ``None`` (default): ``(H, W)`` is one image and ``(N, H, W)`` a batch, but a 3-D array whose
  last axis is 1, 3 or 4 is refused with ``ValueError`` (it looks like a channel-last image,
  e.g. a grey-replicated (H, W, 3) depth, which would otherwise be filtered as H images of
  width 3); ``"NHW"``: a 3-D array is a batch whatever its width; ``"HW1"``: one (H, W, 1)
  image, returned as (H', W', 1). Anything else (other ranks, zero-size or too small
  images) is a ``ValueError`` naming the shape.
- 0 = hole. A pixel at 65535 (``PAPER_HOLE_CODE``: the paper's hole, and at 1 mm per unit
  65.5 m, which no RealSense camera reports) means the image is in the paper's convention:
  ``ValueError`` telling to convert with :func:`paper_holes_to_sdk` first, instead of
  spreading 65535 into the neighbours. ``allow_max_code=True`` accepts such pixels as depth.
"""

from __future__ import annotations

from typing import Callable, Dict

import cv2
import numpy as np

from data_pipelines.conventions import PAPER_HOLE_CODE, SDK_HOLE_CODE
from depthlab.hole_conventions import refuse_paper_holes, refuse_zero_holes

DECIMATION_RANGE = (1, 8)
HOLE_FILLING_MODES = {"fill_from_left": 0, "farest_from_around": 1, "nearest_from_around": 2}
SPATIAL_MAGNITUDE_RANGE = (1, 5)
SPATIAL_ALPHA_RANGE = (0.25, 1.0)
SPATIAL_DELTA_RANGE = (1, 50)
SPATIAL_HOLES_FILL_RADIUS = {0: 0, 1: 2, 2: 4, 3: 8, 4: 16, 5: 255}   # SDK option value -> radius


# ---------------------------------------------------------------------------------------------
# input checks and hole conventions
# ---------------------------------------------------------------------------------------------
LAYOUTS = (None, "NHW", "HW1")


def _as_batch(depth, fn: str, min_hw=(1, 1), layout=None, allow_max_code: bool = False):
    """(N, H, W) uint16 view of ``depth`` and how to give the result back (None: a batch,
    "HW": one (H, W) image, "HW1": one (H, W, 1) image). See the module's input contract."""
    d = np.asarray(depth)
    if d.dtype != np.uint16:
        hint = (" (float depth: convert millimetres with np.round(d).astype(np.uint16), holes 0)"
                if np.issubdtype(d.dtype, np.floating) else "")
        raise TypeError(f"handcrafted.{fn}: depth must be uint16 with 0 = hole (the RealSense "
                        f"SDK's Z16 format), got dtype {d.dtype}{hint}")
    if layout not in LAYOUTS:
        raise ValueError(f"handcrafted.{fn}: layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "HW1":
        if d.ndim != 3 or d.shape[-1] != 1:
            raise ValueError(f"handcrafted.{fn}: layout='HW1' needs one (H, W, 1) image, got "
                             f"shape {d.shape}")
        single, d = "HW1", d[None, :, :, 0]
    elif d.ndim == 2:
        single, d = "HW", d[None]
    elif d.ndim == 3:
        if layout is None and d.shape[-1] in (1, 3, 4):
            raise ValueError(
                f"handcrafted.{fn}: depth of shape {d.shape} looks like one channel-last image "
                f"(H, W, {d.shape[-1]}), not a batch of {d.shape[0]} images {d.shape[1]} x "
                f"{d.shape[2]} pixels; depth has one channel: pass depth[..., 0] (after "
                f"checking a grey-replicated image's channels are equal), layout='HW1' for one "
                f"(H, W, 1) image, or layout='NHW' if it really is a batch")
        single = None
    else:
        raise ValueError(f"handcrafted.{fn}: depth must be (H, W) or (N, H, W) (or (H, W, 1) "
                         f"with layout='HW1'), got shape {d.shape}")
    if d.shape[0] == 0:
        raise ValueError(f"handcrafted.{fn}: empty batch (shape {np.shape(depth)})")
    if d.shape[1] < min_hw[0] or d.shape[2] < min_hw[1]:
        raise ValueError(f"handcrafted.{fn}: image {d.shape[1]}x{d.shape[2]} is too small "
                         f"(needs at least {min_hw[0]}x{min_hw[1]})")
    if not allow_max_code:
        refuse_paper_holes(d, f"handcrafted.{fn}",
                           f"convert with handcrafted.paper_holes_to_sdk(depth) first, or run "
                           f"the paper's codes through handcrafted.paper_enhancer(label) (or "
                           f"pass allow_max_code=True if {PAPER_HOLE_CODE} is real depth)")
    return d, single


def _unbatch(d: np.ndarray, single) -> np.ndarray:
    if single == "HW1":
        return d[0][..., None]
    return d[0] if single else d


def paper_holes_to_sdk(depth) -> np.ndarray:
    """The paper's 16-bit images (holes = 65535) -> the SDK's convention (holes = 0)."""
    d = np.asarray(depth)
    if d.dtype != np.uint16:
        raise TypeError(f"paper_holes_to_sdk: expected uint16 depth, got {d.dtype}")
    return np.where(d == PAPER_HOLE_CODE, np.uint16(SDK_HOLE_CODE), d)


def sdk_holes_to_paper(depth) -> np.ndarray:
    """The SDK's convention (holes = 0) -> the paper's (holes = 65535)."""
    d = np.asarray(depth)
    if d.dtype != np.uint16:
        raise TypeError(f"sdk_holes_to_paper: expected uint16 depth, got {d.dtype}")
    return np.where(d == SDK_HOLE_CODE, np.uint16(PAPER_HOLE_CODE), d)


def _check_int_option(value, name: str, lo: int, hi: int) -> int:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or int(value) != value or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}] (the SDK's range), got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# decimation
# ---------------------------------------------------------------------------------------------
def decimation_output_size(height: int, width: int, magnitude: int):
    """(padded H, padded W, real H, real W) of the SDK's decimation output."""
    rh, rw = height // magnitude, width // magnitude
    return (rh + 3) // 4 * 4, (rw + 3) // 4 * 4, rh, rw


def decimation(depth, magnitude: int = 2, *, layout=None,
               allow_max_code: bool = False) -> np.ndarray:
    """RealSense decimation filter (``rs2::decimation_filter``, option filter_magnitude).
    ``layout``, ``allow_max_code``: the module's input contract."""
    m = _check_int_option(magnitude, "decimation magnitude", *DECIMATION_RANGE)
    d, single = _as_batch(depth, "decimation", (m, m), layout, allow_max_code)
    n, h, w = d.shape
    ph, pw, rh, rw = decimation_output_size(h, w, m)
    blocks = d[:, :rh * m, :rw * m].reshape(n, rh, m, rw, m).transpose(0, 1, 3, 2, 4)
    blocks = blocks.reshape(n, rh, rw, m * m).astype(np.int64)
    valid = blocks > 0
    count = valid.sum(-1)
    if m in (2, 3):
        ranked = np.sort(np.where(valid, blocks, 1 << 17), axis=-1)
        pick = np.maximum(count - 1, 0) // 2            # lower median of the non-zero values
        value = np.take_along_axis(ranked, pick[..., None], axis=-1)[..., 0]
    else:
        value = blocks.sum(-1) // np.maximum(count, 1)  # integer mean of the non-zero values
    out = np.zeros((n, ph, pw), np.uint16)
    out[:, :rh, :rw] = np.where(count > 0, value, 0)
    return _unbatch(out, single)


# ---------------------------------------------------------------------------------------------
# hole filling
# ---------------------------------------------------------------------------------------------
_OFFSET = 1 << 17          # > any uint16 value: separates segments in the running max/min


def _fill_from_left(d: np.ndarray) -> np.ndarray:
    n, h, w = d.shape
    cols = np.arange(w)
    source = np.where((d > 0) | (cols == 0), cols, 0)
    source = np.maximum.accumulate(source, axis=-1)
    return np.take_along_axis(d, source, axis=-1)


def _fill_around(d: np.ndarray, farthest: bool) -> np.ndarray:
    """Modes 1 and 2: one raster pass; row j reads the filled row j-1 and the raw row j+1."""
    out = d.astype(np.int64)
    n, h, w = out.shape
    cols = np.arange(w)
    for j in range(1, h - 1):
        up, down, row = out[:, j - 1], out[:, j + 1], out[:, j]
        hole = (row == 0) & (cols > 0)
        fixed = ~hole
        ul = np.concatenate([up[:, :1], up[:, :-1]], axis=1)       # value at i-1 (unused at i=0)
        dl = np.concatenate([down[:, :1], down[:, :-1]], axis=1)
        if farthest:
            cand = np.maximum(np.maximum(up, ul), np.maximum(dl, down))
            x = np.where(fixed, row, cand)
            seg = np.cumsum(fixed, axis=1)
            filled = np.maximum.accumulate(x + seg * _OFFSET, axis=1) - seg * _OFFSET
        else:
            big = _OFFSET

            def nz(v):
                return np.where(v > 0, v, big)

            cand = np.minimum(np.minimum(nz(up), nz(ul)), np.minimum(nz(dl), nz(down)))
            cand = np.where(up > 0, cand, 0)           # the pixel above seeds the minimum
            x = np.where(fixed, row, cand)
            zero = x == 0
            after_zero = np.concatenate([np.zeros_like(zero[:, :1]), zero[:, :-1]], axis=1)
            start = (fixed & ~zero) | zero | after_zero
            seg = np.cumsum(start, axis=1)
            filled = np.minimum.accumulate(x - seg * _OFFSET, axis=1) + seg * _OFFSET
            filled = np.where(zero, 0, filled)
        out[:, j] = np.where(hole, filled, row)
    return out.astype(np.uint16)


def hole_filling(depth, mode: int = 1, *, layout=None,
                 allow_max_code: bool = False) -> np.ndarray:
    """RealSense hole-filling filter (``rs2::hole_filling_filter``, option holes_fill).

    ``mode``: 0 fill_from_left, 1 farest_from_around (the SDK default), 2 nearest_from_around;
    the names in :data:`HOLE_FILLING_MODES` are accepted too. ``layout``,
    ``allow_max_code``: the module's input contract.
    """
    mode = HOLE_FILLING_MODES.get(mode, mode) if isinstance(mode, str) else mode
    mode = _check_int_option(mode, "hole_filling mode", 0, 2)
    d, single = _as_batch(depth, "hole_filling", (1, 2), layout, allow_max_code)
    out = _fill_from_left(d) if mode == 0 else _fill_around(d, farthest=(mode == 1))
    return _unbatch(out, single)


# ---------------------------------------------------------------------------------------------
# spatial (domain transform) filter, integer path of ``spatial_filter::dxf_smooth<uint16_t>``
# ---------------------------------------------------------------------------------------------
class _Blend:
    """``(T)(a * alpha + b * (1 - alpha) + 0.5)`` in float32, as the SDK computes it."""

    def __init__(self, alpha: float):
        self.alpha = np.float32(alpha)
        self.beta = np.float32(1.0) - self.alpha

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        f = a.astype(np.float32) * self.alpha + b.astype(np.float32) * self.beta
        return (f + np.float32(0.5)).astype(np.int32)


def _horizontal(x: np.ndarray, blend: _Blend, delta: int, radius: int) -> None:
    """In place on ``x`` (W, R): rows of the image are the columns of ``x``."""
    w = x.shape[0]
    # left to right: positions 1 .. W-2; the predecessor is the filtered value
    prev = x[0].copy()
    fill = np.zeros_like(prev)
    for u in range(1, w - 1):
        cur = x[u]
        prev_ok, cur_ok = prev >= 1, cur >= 1
        both = prev_ok & cur_ok
        diff = np.abs(cur - prev)
        smooth = both & (diff >= 1) & (diff <= delta)
        new = np.where(smooth, blend(cur, prev), cur)
        fill = np.where(both, 0, fill)
        if radius:
            gap = prev_ok & ~cur_ok
            fill = fill + gap
            new = np.where(gap & (fill < radius), prev, new)
        x[u] = new
        prev = new
    # right to left: positions W-2 .. 0; a value of 1 counts as a hole here (SDK: val0 > 1)
    nxt = x[w - 1].copy()
    fill = np.zeros_like(nxt)
    for u in range(w - 2, -1, -1):
        cur = x[u]
        nxt_ok, cur_ok = nxt >= 1, cur > 1
        both = nxt_ok & cur_ok
        smooth = both & (np.abs(nxt - cur) <= delta)
        new = np.where(smooth, blend(cur, nxt), cur)
        fill = np.where(both, 0, fill)
        if radius:
            gap = nxt_ok & ~cur_ok
            fill = fill + gap
            new = np.where(gap & (fill < radius), nxt, new)
        x[u] = new
        nxt = new


def _vertical(x: np.ndarray, blend: _Blend, delta: int) -> None:
    """In place on ``x`` (H, C): image rows are the rows of ``x``, columns and batch flattened."""
    h = x.shape[0]
    for v in range(1, h):                       # top to bottom, no validity test (as the SDK)
        above, cur = x[v - 1], x[v]
        x[v] = np.where(np.abs(above - cur) < delta, blend(cur, above), cur)
    for v in range(h - 2, -1, -1):              # bottom to top, both pixels valid
        below, cur = x[v + 1], x[v]
        ok = (cur >= 1) & (below >= 1) & (np.abs(cur - below) < delta)
        x[v] = np.where(ok, blend(cur, below), cur)


def spatial(depth, magnitude: int = 2, alpha: float = 0.5, delta: int = 20,
            holes_fill: int = 0, *, layout=None, allow_max_code: bool = False) -> np.ndarray:
    """RealSense spatial edge-preserving filter (``rs2::spatial_filter``), SDK defaults.

    ``magnitude`` iterations [1, 5], smooth ``alpha`` [0.25, 1], smooth ``delta`` [1, 50] (depth
    units, an integer as the SDK's uint8 option), ``holes_fill`` [0, 5]: 0 off, 1-4 radius
    2/4/8/16 px, 5 unlimited (radius 255). ``layout``, ``allow_max_code``: the module's
    input contract.
    """
    magnitude = _check_int_option(magnitude, "spatial magnitude", *SPATIAL_MAGNITUDE_RANGE)
    delta = _check_int_option(delta, "spatial delta", *SPATIAL_DELTA_RANGE)
    holes_fill = _check_int_option(holes_fill, "spatial holes_fill", 0, 5)
    lo, hi = SPATIAL_ALPHA_RANGE
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) \
            or not lo <= float(alpha) <= hi:
        raise ValueError(f"spatial alpha must be in [{lo}, {hi}] (the SDK's range), got {alpha!r}")
    d, single = _as_batch(depth, "spatial", (2, 3), layout, allow_max_code)
    n, h, w = d.shape
    blend = _Blend(float(alpha))
    radius = SPATIAL_HOLES_FILL_RADIUS[holes_fill]
    img = d.astype(np.int32)
    for _ in range(magnitude):
        rows = np.ascontiguousarray(img.transpose(2, 0, 1).reshape(w, n * h))
        _horizontal(rows, blend, delta, radius)
        img = rows.reshape(w, n, h).transpose(1, 2, 0)
        cols = np.ascontiguousarray(img.transpose(1, 0, 2).reshape(h, n * w))
        _vertical(cols, blend, delta)
        img = cols.reshape(h, n, w).transpose(1, 0, 2)
    return _unbatch(np.ascontiguousarray(img).astype(np.uint16), single)


# ---------------------------------------------------------------------------------------------
# the paper's Table II enhancers
# ---------------------------------------------------------------------------------------------
def decimate_and_upscale(depth, magnitude: int, *, layout=None,
                         allow_max_code: bool = False) -> np.ndarray:
    """Decimation, padding removed, then bilinear (OpenCV, half-pixel centres) back to (H, W).

    Holes (0) take part in the interpolation as zeros, as when the decimated SDK frame is simply
    resized; pixels whose four neighbours are all holes stay 0. ``layout``,
    ``allow_max_code``: the module's input contract.
    """
    d, single = _as_batch(depth, "decimate_and_upscale", (1, 1), layout, allow_max_code)
    _, h, w = d.shape
    small = decimation(d, magnitude, layout="NHW", allow_max_code=allow_max_code)
    _, _, rh, rw = decimation_output_size(h, w, magnitude)
    out = np.stack([cv2.resize(s[:rh, :rw], (w, h), interpolation=cv2.INTER_LINEAR) for s in small])
    return _unbatch(out.astype(np.uint16), single)



# ---------------------------------------------------------------------------------------------
# the paper's input convention: face-window 16-bit codes, 65535 = hole
# ---------------------------------------------------------------------------------------------
#: How the Table II baselines are fed. ``paper_codes`` (default): the paper's face-range-
#: normalised 16-bit codes, 65535 = hole; ``millimetres``: uint16 mm with 0 = hole.
INPUT_CONVENTIONS = ("paper_codes", "millimetres")


#: Valid codes are shifted by this much on the way into the SDK filters (see paper_codes_to_sdk).
CODE_SHIFT = 2


def paper_codes_to_sdk(codes, *, allow_zero_code: bool = False) -> np.ndarray:
    """The paper's codes (valid 0 .. 65534, holes 65535) -> the SDK's 0-hole frame: holes 0,
    valid codes + 2 saturated at 65535, so that code 0 (the window's nearest depth, lines
    1465-1466) stays valid for every filter (the spatial filter's right-to-left pass also takes
    the value 1 for a hole, an SDK quirk). Inverse: :func:`sdk_to_paper_codes`; codes 65533 and
    65534 (the far end of the 250 mm window, where depth beyond it is clipped) both come back
    as 65533, a loss of one code (0.004 mm).

    The paper runs the SDK filters on these codes (the hole-filling filter fills "by this
    work's definition pixels with the maximum depth value", lines 801-805; the threshold filter
    is skipped because the images "already have their depth range normalized to the face depth
    range", lines 771-775) but does not say how the 65535 holes reached the SDK's 0-hole code;
    the shift is our choice. A uint16 image that looks like 0-hole depth
    (``depthlab.hole_conventions.refuse_zero_holes``) is refused.
    """
    d = np.asarray(codes)
    if d.dtype != np.uint16:
        raise TypeError(f"paper_codes_to_sdk: expected uint16 codes (65535 = hole), got {d.dtype}")
    refuse_zero_holes(d, "handcrafted.paper_codes_to_sdk",
                      "convert 0-hole depth with handcrafted.sdk_holes_to_paper (after "
                      "normalising it to the face window), or use convention='millimetres'",
                      allow_zero_code)
    shifted = np.minimum(d.astype(np.int32) + CODE_SHIFT, PAPER_HOLE_CODE)
    return np.where(d == PAPER_HOLE_CODE, SDK_HOLE_CODE, shifted).astype(np.uint16)


def sdk_to_paper_codes(depth) -> np.ndarray:
    """Inverse of :func:`paper_codes_to_sdk`: 0 -> 65535 (hole), any other value v ->
    v - 2 clipped to 0 .. 65534 (a filter may interpolate down to 1, next to a hole)."""
    d = np.asarray(depth)
    if d.dtype != np.uint16:
        raise TypeError(f"sdk_to_paper_codes: expected uint16, got {d.dtype}")
    valid = np.clip(d.astype(np.int32) - CODE_SHIFT, 0, PAPER_HOLE_CODE - 1)
    return np.where(d == SDK_HOLE_CODE, PAPER_HOLE_CODE, valid).astype(np.uint16)


def paper_enhancer(label: str, convention: str = "paper_codes", *,
                   allow_zero_code: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """Table II baseline ``label`` as the paper ran it (SDK defaults elsewhere, line 917).

    ``convention="paper_codes"`` (default): uint16 face-window codes with 65535 = hole in and
    out (:func:`paper_codes_to_sdk` / :func:`sdk_to_paper_codes` around the SDK filter), so the
    spatial filter's delta 20 is 20 codes = 20 / 65535 of the 250 mm window (0.08 mm).
    ``"millimetres"``: uint16 mm with 0 = hole in and out, delta 20 = 20 mm. Input in the other
    convention is refused (65535 pixels in millimetres; 0-hole-looking codes, see
    :func:`paper_codes_to_sdk`).
    """
    if label not in PAPER_ENHANCERS:
        raise ValueError(f"unknown Table II enhancer {label!r}; choose one of "
                         f"{sorted(PAPER_ENHANCERS)}")
    if convention not in INPUT_CONVENTIONS:
        raise ValueError(f"unknown input convention {convention!r}; choose one of "
                         f"{INPUT_CONVENTIONS}")
    fn = PAPER_ENHANCERS[label]
    if convention == "millimetres":
        return fn
    call = PAPER_ENHANCER_CALLS[label]

    def run(codes):
        sdk = paper_codes_to_sdk(codes, allow_zero_code=allow_zero_code)
        return sdk_to_paper_codes(call(sdk, allow_max_code=True))
    return run


#: label -> f(depth, allow_max_code) with the Table II settings (the shifted codes reach 65535).
PAPER_ENHANCER_CALLS: Dict[str, Callable[..., np.ndarray]] = {
    "De-M2": lambda d, **k: decimate_and_upscale(d, 2, **k),
    "De-M8": lambda d, **k: decimate_and_upscale(d, 8, **k),
    "Hf-FFA": lambda d, **k: hole_filling(d, HOLE_FILLING_MODES["farest_from_around"], **k),
    "Hf-NFA": lambda d, **k: hole_filling(d, HOLE_FILLING_MODES["nearest_from_around"], **k),
    "Hf-L": lambda d, **k: hole_filling(d, HOLE_FILLING_MODES["fill_from_left"], **k),
    "Sp-Hf16": lambda d, **k: spatial(d, holes_fill=4, **k),
    "Sp-HfU": lambda d, **k: spatial(d, holes_fill=5, **k),
}

#: Table II: label -> enhancer on uint16 depth with 0-holes (N, H, W) or (H, W), same size out
#: (the SDK's own convention; :func:`paper_enhancer` runs them on the paper's 16-bit codes).
PAPER_ENHANCERS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    label: (lambda f: lambda d: f(d))(call) for label, call in PAPER_ENHANCER_CALLS.items()}
