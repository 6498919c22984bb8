"""Colourised depth, comparison grids, atomic PNG writing and TensorBoard image grids.

Colour convention: ``colorize_depth`` draws invalid pixels (holes, outside the mask) pure
black and maps valid depth through OpenCV's TURBO colormap with **near = warm (red), far =
cool (blue)**. Which raw value is "near" depends on the convention: metric depth (metres,
millimetres) has small = near (``near_is_small=True``, the default); TS-GAN's [0, 1]
near-is-bright images have large = near (pass ``near_is_small=False``). TURBO never reaches
pure black, so holes stay distinguishable.
"""

from __future__ import annotations

import os
import tempfile
from typing import List, Optional, Sequence

import cv2
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

__all__ = ["colorize_depth", "shade_relief", "to_rgb_uint8", "make_grid", "save_png", "tf_summary_image_grid",
           "upscale_for_display", "LABEL_HEIGHT", "DISPLAY_MIN_PX"]

LABEL_HEIGHT = 16          # pixels of the column-label strip that make_grid adds on top
DISPLAY_MIN_PX = 128       # sample-grid tiles are at least this many pixels on their short side
_BACKGROUND = 255          # grid padding colour (white, so black holes stand out)


def _numpy(x) -> np.ndarray:
    if tf.is_tensor(x):
        x = x.numpy()
    return np.asarray(x)


def colorize_depth(depth, mask=None, vmin: Optional[float] = None, vmax: Optional[float] = None,
                   cmap: int = cv2.COLORMAP_TURBO, near_is_small: bool = True) -> np.ndarray:
    """Depth (H, W) or (H, W, 1), any numeric dtype -> uint8 RGB (H, W, 3).

    Valid pixels: ``mask`` (bool) if given, else depth > 0 and finite. [vmin, vmax] defaults
    to the valid range; values are clipped to it. Near is drawn warm (the high end of
    ``cmap``), far cool; invalid pixels are (0, 0, 0).
    """
    d = _numpy(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise ValueError(f"colorize_depth: expected depth (H, W) or (H, W, 1), got shape {d.shape}")
    d = d.astype(np.float64)
    if vmin is not None and vmax is not None and not vmax > vmin:
        raise ValueError(f"colorize_depth: vmax ({vmax}) must be > vmin ({vmin})")
    if mask is None:
        valid = np.isfinite(d) & (d > 0)
    else:
        valid = _numpy(mask).astype(bool)
        if valid.ndim == 3 and valid.shape[-1] == 1:
            valid = valid[..., 0]
        if valid.shape != d.shape:
            raise ValueError(f"colorize_depth: mask shape {valid.shape} != depth shape {d.shape}")
        valid = valid & np.isfinite(d)
    out = np.zeros(d.shape + (3,), np.uint8)
    if not valid.any():
        return out
    lo = float(np.min(d[valid])) if vmin is None else float(vmin)
    hi = float(np.max(d[valid])) if vmax is None else float(vmax)
    t = np.clip((d - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full(d.shape, 0.5)
    if near_is_small:
        t = 1.0 - t                                # near (small) -> high index -> warm
    index = np.round(np.where(valid, t, 0.0) * 255.0).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(index, cmap), cv2.COLOR_BGR2RGB)
    out[valid] = rgb[valid]
    return out


def shade_relief(depth, mask=None, pixel_size: float = 1.0, light=(-0.5, -0.6, -1.0),
                 ambient: float = 0.15) -> np.ndarray:
    """Depth (H, W) with near = *small* values, in the units of ``pixel_size`` (e.g. mm of
    depth per pixel of image) -> uint8 grey (H, W, 3): the surface lit by a Lambertian light
    from ``light`` (the direction from the surface to the light, camera axes: x right, y down,
    z away from the camera; the default is upper left, in front). Shows shape (a nose, eye sockets, a chin) that a colour map over
    the whole depth range hides. Normals from central differences of valid neighbours;
    invalid pixels (``mask`` False, or not finite) are black.
    """
    d = _numpy(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise ValueError(f"shade_relief: expected depth (H, W) or (H, W, 1), got shape {d.shape}")
    if not pixel_size > 0:
        raise ValueError(f"shade_relief: pixel_size must be > 0, got {pixel_size}")
    d = d.astype(np.float64)
    valid = np.isfinite(d) if mask is None else (_numpy(mask).astype(bool).reshape(d.shape)
                                                  & np.isfinite(d))
    z = np.where(valid, d, 0.0) / pixel_size
    pad = np.pad(z, 1, mode="edge")
    ok = np.pad(valid, 1, mode="constant")

    def slope(axis):
        fwd = np.roll(pad, -1, axis)[1:-1, 1:-1]
        bwd = np.roll(pad, 1, axis)[1:-1, 1:-1]
        ok_f = np.roll(ok, -1, axis)[1:-1, 1:-1]
        ok_b = np.roll(ok, 1, axis)[1:-1, 1:-1]
        both = (fwd - bwd) / 2.0
        one = np.where(ok_f, fwd - z, np.where(ok_b, z - bwd, 0.0))
        return np.where(ok_f & ok_b, both, one)

    gx, gy = slope(1), slope(0)
    # the surface (x, y, z(x, y)) has the camera-facing normal (dz/dx, dz/dy, -1)
    n = np.stack([gx, gy, -np.ones_like(z)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    to_light = np.asarray(light, np.float64)
    to_light = to_light / np.linalg.norm(to_light)
    lit = ambient + (1.0 - ambient) * np.clip(n @ to_light, 0.0, 1.0)
    grey = np.where(valid, np.round(lit * 255.0), 0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, -1)


def to_rgb_uint8(image, near_is_small: bool = True) -> np.ndarray:
    """One grid cell -> uint8 RGB (H, W, 3).

    - uint8 (H, W, 3): unchanged.  - float (H, W, 3): [-1, 1] if any value < 0, else [0, 1].
    - single channel (H, W) or (H, W, 1), any dtype: depth, colourised (``colorize_depth``).
    """
    a = _numpy(image)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 1):
        return colorize_depth(a, near_is_small=near_is_small)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"make_grid: each image must be (H, W, 3) RGB or single-channel depth, "
                         f"got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"make_grid: RGB images must be uint8 or float, got {a.dtype}")
    a = a.astype(np.float64)
    if np.nanmin(a) < 0:
        a = (a + 1.0) / 2.0
    return np.round(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8)


def upscale_for_display(image, min_size: int = DISPLAY_MIN_PX, smooth: bool = False) -> np.ndarray:
    """Enlarges an (H, W) or (H, W, C) image by the smallest integer factor that makes its
    short side >= ``min_size`` (unchanged if it already is): nearest neighbour (every source
    pixel a k x k block, so holes and depth edges stay crisp), or bilinear with ``smooth``
    (for photographs)."""
    a = _numpy(image)
    if a.ndim not in (2, 3) or min(a.shape[:2]) < 1:
        raise ValueError(f"upscale_for_display: expected an (H, W[, C]) image, got shape {a.shape}")
    k = -(-int(min_size) // min(a.shape[:2]))
    if k <= 1:
        return a
    squeeze = a.ndim == 3 and a.shape[-1] == 1
    src = a[..., 0] if squeeze else a
    if a.dtype == np.bool_:
        src = src.astype(np.uint8)
    out = cv2.resize(src, (a.shape[1] * k, a.shape[0] * k),
                     interpolation=cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST)
    out = out.astype(a.dtype)
    return out[..., None] if squeeze else out


def make_grid(rows: Sequence[Sequence], labels: Optional[Sequence[str]] = None, pad: int = 2,
              near_is_small: bool = True) -> np.ndarray:
    """Rows of images -> one uint8 RGB grid.

    Every cell is ``cell_h x cell_w`` (the largest image; smaller ones sit top-left) with
    ``pad`` white pixels around and between cells, so the grid is
    (LABEL_HEIGHT if labels else 0) + pad + rows * (cell_h + pad) high and
    pad + cols * (cell_w + pad) wide, cols = the longest row. ``labels`` (one per column)
    are written in a strip on top. Cells: see ``to_rgb_uint8``.
    """
    if pad < 0:
        raise ValueError(f"make_grid: pad must be >= 0, got {pad}")
    rows = [list(r) for r in rows]
    if not rows or not any(rows):
        raise ValueError("make_grid: rows is empty")
    cells: List[List[np.ndarray]] = [[to_rgb_uint8(im, near_is_small) for im in r] for r in rows]
    cell_h = max(c.shape[0] for r in cells for c in r)
    cell_w = max(c.shape[1] for r in cells for c in r)
    ncols = max(len(r) for r in cells)
    if labels is not None and len(labels) != ncols:
        raise ValueError(f"make_grid: {len(labels)} labels for {ncols} columns")
    top = LABEL_HEIGHT if labels is not None else 0
    height = top + pad + len(cells) * (cell_h + pad)
    width = pad + ncols * (cell_w + pad)
    grid = np.full((height, width, 3), _BACKGROUND, np.uint8)
    for i, r in enumerate(cells):
        y = top + pad + i * (cell_h + pad)
        for j, c in enumerate(r):
            x = pad + j * (cell_w + pad)
            grid[y:y + c.shape[0], x:x + c.shape[1]] = c
    if labels is not None:
        for j, text in enumerate(labels):
            x = pad + j * (cell_w + pad)
            cv2.putText(grid, str(text), (x + 1, LABEL_HEIGHT - 4), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return grid


def save_png(path: str, image) -> str:
    """Writes ``image`` to ``path`` as PNG atomically (temp file in the same folder, then
    ``os.replace``). uint8 RGB (H, W, 3) is stored as RGB; (H, W) uint8/uint16 as grey."""
    a = _numpy(image)
    if a.ndim == 3 and a.shape[-1] == 3:
        if a.dtype != np.uint8:
            raise TypeError(f"save_png({path}): RGB images must be uint8, got {a.dtype}")
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    elif a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or a.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"save_png({path}): expected uint8 RGB (H, W, 3) or uint8/uint16 "
                         f"(H, W), got shape {a.shape} dtype {a.dtype}")
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise ValueError(f"save_png({path}): PNG encoding failed for shape {a.shape}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".png", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def tf_summary_image_grid(name: str, rows: Sequence[Sequence], step: int,
                          labels: Optional[Sequence[str]] = None, pad: int = 2,
                          near_is_small: bool = True) -> bool:
    """Writes ``make_grid(rows, labels, pad)`` as a TensorBoard image summary at ``step`` to
    the default summary writer; returns False when there is none.

    The record is the one ``tf.summary.image`` writes (a string tensor [width, height, PNG]
    with the "images" plugin metadata), produced with core ``tf.summary.write`` so it also
    works when the ``tensorboard`` package (which ``tf.summary.image`` imports) is absent.
    """
    grid = make_grid(rows, labels=labels, pad=pad, near_is_small=near_is_small)
    metadata = summary_pb2.SummaryMetadata()
    metadata.display_name = name
    metadata.plugin_data.plugin_name = "images"    # ImagePluginData(version=0) serialises to b""
    height, width = grid.shape[:2]
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)),
                       tf.io.encode_png(tf.constant(grid))])
    return bool(tf.summary.write(name, tensor, step=step, metadata=metadata))


def latest_sample_grid(model_dir: str):
    """The newest PNG under ``<model_dir>/samples/`` (the lifecycle's sample grids), or None."""
    folder = os.path.join(model_dir, "samples")
    if not os.path.isdir(folder):
        return None
    pngs = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    return os.path.join(folder, pngs[-1]) if pngs else None
