"""Mesh -> depth z-buffer rasteriser (NumPy, vectorised), for 16-bit face depth ground truth.

The face depth enhancement paper (Schlett, Rathgeb, Busch; section III-A) renders the 3D face
mesh of PRNet's UV position map to a 256x256 16-bit depth image; this module is that renderer
for any triangle mesh, and the procedural faces (``synthetic_faces.py``) use it too.

Conventions (millimetres throughout):

- Camera coordinates: x right, y down, z forward (away from the camera); depth is z.
- Pixel (row i, column j) has its centre at image coordinates (u, v) = (j + 0.5, i + 0.5);
  pixel j spans u in [j, j + 1). The principal point defaults to (W / 2, H / 2).
- Perspective: u = f * x / z + cx, v = f * y / z + cy. Orthographic: u = s * x + cx,
  v = s * y + cy with s = ``ortho_scale`` pixels per mm; depth is still z.
- A pixel is covered by a triangle when its centre lies inside or on the triangle (edges are
  inclusive up to 1e-9 in barycentric units, so meshes have no cracks). The nearest surface
  wins; equal depths go to the lower triangle index. Triangles with a vertex at
  z <= ``near`` are dropped (no clipping).
- Depth is interpolated perspective-correctly (1/z is affine in screen space), and the
  returned barycentrics are the perspective-correct (3D) ones, so ``interpolate`` gives the
  attribute of the 3D surface point seen by the pixel.

Algorithm: triangles are grouped into a few buckets by the power-of-two size of the pixel
bounding box of their covered pixel centres; within a bucket every triangle tests the same
small grid of candidate pixels with its affine edge functions (one broadcast), and a
``np.minimum.at`` z-buffer resolves the survivors. No Python loop runs over pixels or
triangles.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence, Tuple

import numpy as np

PROJECTIONS = ("perspective", "orthographic")
_EDGE_EPS = 1e-9            # barycentric tolerance: shared edges covered by both sides
_MAX_CANDIDATES = 1 << 21   # candidate pixels evaluated per chunk (memory bound)


# ----------------------------------------------------------------------------- validation
def _check_mesh(vertices, faces, name="vertices_cam"):
    v = np.asarray(vertices)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{name} must have shape (V, 3), got {v.shape}")
    if not np.issubdtype(v.dtype, np.number) or np.issubdtype(v.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real numbers, got dtype {v.dtype}")
    v = v.astype(np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains non-finite values (NaN/inf)")
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise TypeError(f"faces must be integer vertex indices, got dtype {f.dtype}")
    f = f.astype(np.int64)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"faces index out of range [0, {len(v)}) of {name}: "
                         f"min {f.min()}, max {f.max()}")
    return v, f


def _check_size(height, width):
    for name, n in (("height", height), ("width", width)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    return int(height), int(width)


def _focal_pair(focal_px):
    f = np.broadcast_to(np.asarray(focal_px, np.float64), (2,))
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"focal_px must be a positive number or (fx, fy), got {focal_px!r}")
    return float(f[0]), float(f[1])


# ----------------------------------------------------------------------------- projection
def project(points_cam, height, width, focal_px=None, principal=None,
            projection="perspective", ortho_scale=None):
    """Camera points (N, 3) mm -> image coordinates (N, 2) (u, v) with the module's camera.

    ``focal_px`` is a number or (fx, fy). For 'orthographic', ``ortho_scale`` is pixels per mm;
    when it is None it is ``focal_px / mean(z)`` (weak perspective).
    """
    p = np.asarray(points_cam, np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points_cam must have shape (N, 3), got {p.shape}")
    height, width = _check_size(height, width)
    if principal is None:
        cx, cy = width / 2.0, height / 2.0
    else:
        cx, cy = (float(c) for c in principal)
    if projection == "perspective":
        if focal_px is None:
            raise ValueError("focal_px is required for projection='perspective'")
        fx, fy = _focal_pair(focal_px)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.stack([fx * p[:, 0] / p[:, 2] + cx, fy * p[:, 1] / p[:, 2] + cy], 1)
    if projection == "orthographic":
        if ortho_scale is None:
            if focal_px is None or len(p) == 0:
                raise ValueError("orthographic projection needs ortho_scale (pixels per mm) or "
                                 "focal_px (weak perspective at the mean depth)")
            sx, sy = (f / float(np.mean(p[:, 2])) for f in _focal_pair(focal_px))
        else:
            sx, sy = _focal_pair(ortho_scale)
        return np.stack([sx * p[:, 0] + cx, sy * p[:, 1] + cy], 1)
    raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")


# ----------------------------------------------------------------------------- rasteriser
def _ceil_log2(n):
    return np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64)


def rasterize(vertices_cam, faces, height: int, width: int, focal_px=None,
              principal: Optional[Sequence[float]] = None, projection: str = "perspective",
              ortho_scale=None, near: float = 1e-3,
              cull_backfaces: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer rasterisation of a triangle mesh in camera coordinates (mm).

    Args:
      vertices_cam: (V, 3) camera-space vertices (x right, y down, z forward), mm.
      faces: (F, 3) integer vertex indices.
      height, width: image size in pixels.
      focal_px: focal length in pixels (number or (fx, fy)); required for perspective.
      principal: (cx, cy) in pixels; default (width / 2, height / 2).
      projection: 'perspective' or 'orthographic' (see ``project``).
      ortho_scale: orthographic pixels per mm.
      near: triangles with any vertex at z <= near are dropped.
      cull_backfaces: drop triangles whose normal (v1 - v0) x (v2 - v0) points away from the
        camera (for closed/oriented meshes; a speed-up, the z-buffer does not need it).

    Returns:
      depth float32 (H, W) mm, 0 where no surface; tri_index int32 (H, W), -1 background;
      bary float32 (H, W, 3) perspective-correct barycentrics (zeros on background).
    """
    v, f = _check_mesh(vertices_cam, faces)
    height, width = _check_size(height, width)
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    uv = project(v, height, width, focal_px, principal, projection, ortho_scale)
    depth = np.zeros(height * width, np.float64)
    tri_out = np.full(height * width, -1, np.int32)
    bary_out = np.zeros((height * width, 3), np.float32)
    if len(f) == 0:
        return (depth.reshape(height, width).astype(np.float32), tri_out.reshape(height, width),
                bary_out.reshape(height, width, 3))

    tz = v[f, 2]                                     # (F, 3)
    tu, tv = uv[f, 0], uv[f, 1]
    (u0, u1, u2), (v0, v1, v2) = tu.T, tv.T
    with np.errstate(invalid="ignore", over="ignore"):
        # Doubled signed screen area; < 0 <=> front-facing: for perspective it is
        # f^2 det[p0, p1, p2] / (z0 z1 z2) and det[p0, p1, p2] = n . p0; orthographic s^2 n_z.
        area = (u1 - u0) * (v2 - v0) - (v1 - v0) * (u2 - u0)
        keep = (tz[:, 0] > near) & (tz[:, 1] > near) & (tz[:, 2] > near)
        keep &= (area < 0) if cull_backfaces else (area != 0)
        jmin = np.ceil(np.minimum(np.minimum(u0, u1), u2) - 0.5)
        jmax = np.floor(np.maximum(np.maximum(u0, u1), u2) - 0.5)
        imin = np.ceil(np.minimum(np.minimum(v0, v1), v2) - 0.5)
        imax = np.floor(np.maximum(np.maximum(v0, v1), v2) - 0.5)
        keep &= (jmax >= 0) & (jmin <= width - 1) & (imax >= 0) & (imin <= height - 1)
        keep &= (jmax >= jmin) & (imax >= imin)
    idx = np.flatnonzero(keep)
    jmin = np.maximum(jmin[idx], 0).astype(np.int64)
    imin = np.maximum(imin[idx], 0).astype(np.int64)
    jmax = np.minimum(jmax[idx], width - 1).astype(np.int64)
    imax = np.minimum(imax[idx], height - 1).astype(np.int64)
    # Vertex coordinates relative to each triangle's bbox origin (precision), edge functions
    # w_k(p) = a_k * px + b_k * py + c_k normalised by the doubled signed area.
    u = tu[idx] - jmin[:, None]
    w = tv[idx] - imin[:, None]
    area = (u[:, 1] - u[:, 0]) * (w[:, 2] - w[:, 0]) - (w[:, 1] - w[:, 0]) * (u[:, 2] - u[:, 0])
    ok = np.abs(area) > 1e-12
    if not ok.all():
        idx, jmin, jmax, imin, imax, u, w, area = (a[ok] for a in (idx, jmin, jmax, imin, imax,
                                                                   u, w, area))
    nxt, prv = [1, 2, 0], [2, 0, 1]
    ea = (w[:, nxt] - w[:, prv]) / area[:, None]                      # (T, 3)
    eb = (u[:, prv] - u[:, nxt]) / area[:, None]
    ec = (u[:, nxt] * w[:, prv] - u[:, prv] * w[:, nxt]) / area[:, None]
    q = 1.0 / tz[idx] if projection == "perspective" else tz[idx]   # affine in screen space

    kw = _ceil_log2(jmax - jmin + 1)
    kh = _ceil_log2(imax - imin + 1)
    key = kw * 64 + kh
    order = np.argsort(key, kind="stable")
    keys, starts = np.unique(key[order], return_index=True)
    bounds = list(starts) + [len(order)]
    pix_l, zq_l, tri_l, bw_l = [], [], [], []
    for b, k in enumerate(keys):                     # a few buckets of bbox sizes
        members = order[bounds[b]:bounds[b + 1]]
        bw, bh = 1 << int(k // 64), 1 << int(k % 64)
        oy, ox = np.divmod(np.arange(bw * bh), bw)
        px, py = ox + 0.5, oy + 0.5                  # pixel centres, bbox-local
        step = max(1, _MAX_CANDIDATES // (bw * bh))
        for s in range(0, len(members), step):      # chunks bound memory only
            t = members[s:s + step]
            if bw * bh == 1:                         # one candidate pixel: no grid
                bary = ea[t] * 0.5 + eb[t] * 0.5 + ec[t]                      # (n, 3)
                ti = np.flatnonzero((bary[:, 0] >= -_EDGE_EPS) & (bary[:, 1] >= -_EDGE_EPS)
                                    & (bary[:, 2] >= -_EDGE_EPS))
                ki = np.zeros(len(ti), np.int64)
                bsel = bary[ti]
            else:
                cand = (ox[None, :] <= (jmax[t] - jmin[t])[:, None]) & \
                       (oy[None, :] <= (imax[t] - imin[t])[:, None])
                ws = [ea[t, k, None] * px + eb[t, k, None] * py + ec[t, k, None]
                      for k in range(3)]             # 3 x (n, K)
                for wk in ws:
                    cand &= wk >= -_EDGE_EPS
                ti, ki = np.nonzero(cand)
                bsel = np.stack([wk[ti, ki] for wk in ws], 1)                  # (m, 3)
            if len(ti) == 0:
                continue
            tt = t[ti]
            bsel = np.clip(bsel, 0.0, None)
            bsel /= bsel.sum(1, keepdims=True)
            pix_l.append((imin[tt] + oy[ki]) * width + jmin[tt] + ox[ki])
            zq_l.append(np.einsum("ij,ij->i", bsel, q[tt]))
            tri_l.append(tt)
            bw_l.append(bsel)
    if pix_l:
        pix = np.concatenate(pix_l)
        zq = np.concatenate(zq_l)
        tri = np.concatenate(tri_l)
        bs = np.concatenate(bw_l)
        z = 1.0 / zq if projection == "perspective" else zq
        zbuf = np.full(height * width, np.inf)
        np.minimum.at(zbuf, pix, z)
        win = np.flatnonzero(z == zbuf[pix])
        tbuf = np.full(height * width, np.iinfo(np.int64).max)
        np.minimum.at(tbuf, pix[win], tri[win])      # equal depths: lowest triangle index
        win = win[tri[win] == tbuf[pix[win]]]
        p, t = pix[win], tri[win]
        depth[p] = z[win]
        tri_out[p] = idx[t]
        bsel = bs[win]
        if projection == "perspective":              # screen-space -> 3D barycentrics
            bsel = bsel * q[t] * z[win, None]
        bary_out[p] = bsel
    return (depth.reshape(height, width).astype(np.float32), tri_out.reshape(height, width),
            bary_out.reshape(height, width, 3))


def interpolate(vertex_attr, faces, tri_index, bary) -> np.ndarray:
    """Per-pixel attribute sum_k bary_k * attr[faces[tri, k]]: (H, W, C) float32, 0 on background.

    ``vertex_attr`` is (V, C) (or (V,), read as C = 1); ``tri_index``/``bary`` come from
    ``rasterize`` with the same ``faces``.
    """
    a = np.asarray(vertex_attr)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"vertex_attr must have shape (V, C), got {a.shape}")
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= len(a)):
        raise ValueError(f"faces index out of range [0, {len(a)}) of vertex_attr: "
                         f"min {f.min()}, max {f.max()}")
    t = np.asarray(tri_index)
    b = np.asarray(bary)
    if t.ndim != 2 or b.shape != t.shape + (3,):
        raise ValueError(f"tri_index must be (H, W) and bary (H, W, 3), got {t.shape} and "
                         f"{b.shape}")
    if t.size and t.max() >= len(f):
        raise ValueError(f"tri_index {t.max()} out of range for {len(f)} faces")
    out = np.zeros(t.shape + (a.shape[1],), np.float32)
    m = t >= 0
    corners = a[f[t[m]]].astype(np.float64)          # (n, 3, C)
    out[m] = np.einsum("nk,nkc->nc", b[m].astype(np.float64), corners)
    return out


def depth_to_uint16(depth_mm) -> np.ndarray:
    """float depth mm (0 = no surface) -> uint16 mm, 0 = hole (rounded to the nearest mm).

    Raises ValueError when a surface is deeper than 65535 mm or so near (< 0.5 mm) that it
    would round to the hole value.
    """
    d = np.asarray(depth_mm, np.float64)
    fg = d > 0
    r = np.round(d)
    if fg.any():
        if r[fg].max() > 65535:
            raise ValueError(f"depth {d[fg].max():.1f} mm exceeds 65535 mm, the uint16 range")
        if r[fg].min() < 1:
            raise ValueError(f"depth {d[fg].min():.3f} mm rounds to 0, the hole value")
    return np.where(fg, r, 0).clip(0, 65535).astype(np.uint16)


def render_depth_uint16(vertices_cam, faces, height: int, width: int, focal_px=None,
                        **kwargs) -> np.ndarray:
    """``rasterize`` -> uint16 millimetres (H, W), 0 = hole (see ``depth_to_uint16``)."""
    depth, _, _ = rasterize(vertices_cam, faces, height, width, focal_px, **kwargs)
    return depth_to_uint16(depth)


# ----------------------------------------------------------------------------- meshes
@functools.lru_cache(maxsize=16)
def _grid_faces_cached(rows: int, cols: int) -> np.ndarray:
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel()
    b, c = a + 1, a + cols
    d = c + 1
    faces = np.stack([np.stack([a, c, b], 1), np.stack([b, c, d], 1)], 1).reshape(-1, 3)
    faces.setflags(write=False)
    return faces


def grid_faces(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a rows x cols vertex grid (vertex (i, j) = i * cols + j).

    Cell (i, j) with corners a=(i, j), b=(i, j+1), c=(i+1, j), d=(i+1, j+1) gives (a, c, b)
    and (b, c, d), row-major over cells; both wind the same way, so for a grid whose
    columns run along +x and rows along +y the normals point to -z (towards the camera).
    """
    if rows < 2 or cols < 2:
        raise ValueError(f"a vertex grid needs at least 2x2 vertices, got {rows}x{cols}")
    return _grid_faces_cached(int(rows), int(cols))    # read-only, shared


def uv_position_map_mesh(pos_map, mask=None) -> Tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of a UV position map (e.g. PRNet's (256, 256, 3) output).

    Every pixel (i, j) is vertex i * W + j with position ``pos_map[i, j]``; each 2x2 cell gives
    two triangles (see ``grid_faces``). With ``mask`` (H, W) bool (e.g. the face-region mask of
    the UV layout), a triangle is kept only when its three vertices are in the mask. All H*W
    vertices are returned, so per-pixel attributes (texture) stay aligned with them.
    """
    p = np.asarray(pos_map)
    if p.ndim != 3 or p.shape[2] != 3 or p.shape[0] < 2 or p.shape[1] < 2:
        raise ValueError(f"pos_map must have shape (H, W, 3) with H, W >= 2, got {p.shape}")
    h, w = p.shape[:2]
    faces = grid_faces(h, w)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (h, w):
            raise ValueError(f"mask must have shape {(h, w)} like pos_map, got {m.shape}")
        faces = faces[np.all(m.astype(bool).ravel()[faces], axis=1)]
    return p.reshape(-1, 3).astype(np.float64), faces


# ----------------------------------------------------------------------------- rotations
def pose_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation R = Rz(roll) @ Rx(pitch) @ Ry(yaw), angles in degrees, in camera axes
    (x right, y down, z forward), each a right-handed rotation about that axis; applied to
    object points as ``p_cam = R @ p``: yaw first, then pitch, then roll.

    For a face looking at the camera (its front towards -z): yaw > 0 moves the nose towards
    image left (-x) and brings the image-right cheek nearer; pitch > 0 moves the nose down
    (+y, face looks down); roll > 0 turns the image clockwise (+x towards +y).
    """
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def look_at(eye, target, up=(0.0, -1.0, 0.0)) -> Tuple[np.ndarray, np.ndarray]:
    """World -> camera transform (R, t), ``p_cam = R @ p_world + t``, for a camera at ``eye``
    looking at ``target``, with ``up`` (world) appearing up in the image (camera -y).

    Rows of R are the camera axes in world coordinates: z = (target - eye) / |.|,
    x = z x up / |.|, y = z x x. With world = camera axes, ``up=(0, -1, 0)``.
    """
    eye, target, up = (np.asarray(a, np.float64).reshape(3) for a in (eye, target, up))
    z = target - eye
    if np.linalg.norm(z) == 0:
        raise ValueError("look_at: eye and target coincide")
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-12:
        raise ValueError(f"look_at: up {up.tolist()} is parallel to the viewing direction")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r = np.stack([x, y, z])
    return r, -r @ eye
