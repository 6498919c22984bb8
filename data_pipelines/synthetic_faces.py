"""Procedural face RGB-D: the project's embedded default data (no download needed).

Per (seed, identity) a parametric face surface: a head ellipsoid plus Gaussian features
(nose ridge and tip, brows, eye sockets, cheeks, lips and mouth line, chin) whose sizes are
per-identity shape parameters, and a per-identity skin albedo. Per (seed, domain, identity,
sample) a pose (yaw/pitch/roll), a distance, and a light. The surface is sampled densely,
posed, projected with a pinhole camera and z-buffered (nearest point wins) into:

- ``depth``: uint16 millimetres, 0 = background / hole;
- ``rgb``: uint8, Lambertian shading (ambient + diffuse) of the albedo, on a plain background;
- ``landmarks``: (68, 2) float32 pixel (x, y) in the iBUG / dlib 68-point order, with
  ``landmarks_visible`` (not occluded by the face itself).

Domains (the teacher-student setting of TS-GAN): 'source' (paired RGB-D; yaw within +-15 deg,
frontal light, albedo distribution A) and 'target' (RGB for the student; yaw within +-30 deg,
pitch +-20, lateral warm light, darker albedo distribution). Output is bit-identical for the
same inputs (``np.random.SeedSequence([seed, domain, identity, sample])``).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import numpy as np

DOMAINS = ("source", "target")

# 68 landmarks in canonical face coordinates (mm; x right, y down, origin between the eyes).
_JAW = [(68 * np.cos(t), 20 + 56 * np.sin(t)) for t in np.linspace(np.pi, 0, 17)]
_BROW_R = [(-50 + 10 * i, -22 - 4 * np.sin(np.pi * i / 4)) for i in range(5)]
_BROW_L = [(10 + 10 * i, -22 - 4 * np.sin(np.pi * i / 4)) for i in range(5)]
_NOSE_BRIDGE = [(0, -8 + 9 * i) for i in range(4)]
_NOSE_BASE = [(-10, 30), (-5, 32), (0, 33), (5, 32), (10, 30)]


def _eye(cx):
    return [(cx - 12, 0), (cx - 6, -4), (cx + 2, -4), (cx + 10, 0), (cx + 2, 3), (cx - 6, 3)]


_MOUTH_OUT = [(-22, 50), (-14, 45), (-6, 43), (0, 44), (6, 43), (14, 45), (22, 50),
              (14, 56), (6, 58), (0, 58), (-6, 58), (-14, 56)]
_MOUTH_IN = [(-18, 50), (-6, 48), (0, 48), (6, 48), (18, 50), (6, 52), (0, 52), (-6, 52)]
CANONICAL_LANDMARKS = np.array(_JAW + _BROW_R + _BROW_L + _NOSE_BRIDGE + _NOSE_BASE
                               + _eye(-32) + _eye(22) + _MOUTH_OUT + _MOUTH_IN, np.float64)
NOSE_TIP = 30
assert CANONICAL_LANDMARKS.shape == (68, 2)


@dataclasses.dataclass(frozen=True)
class FaceConfig:
    """Image size, domain, seed and the per-domain distributions (degrees, mm)."""

    image_size: int = 128
    domain: str = "source"
    seed: int = 0
    distance_mm: Tuple[float, float] = (550.0, 750.0)
    fill: float = 0.95          # face height / image height at the mean distance
    oversample: float = 2.5     # surface samples per pixel, per axis

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ValueError(f"FaceConfig.domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.image_size < 16:
            raise ValueError(f"FaceConfig.image_size must be >= 16, got {self.image_size}")

    @property
    def pose_range(self):
        return (15.0, 10.0, 5.0) if self.domain == "source" else (30.0, 20.0, 10.0)


def _rng(*keys) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def identity_params(identity: int, seed: int = 0) -> Dict[str, float]:
    """Per-identity shape and albedo parameters (depend only on seed and identity)."""
    r = _rng(seed, 0, identity, 2 ** 31 - 1)
    u = lambda lo, hi: float(r.uniform(lo, hi))  # noqa: E731
    return dict(head_a=u(66, 80), head_b=u(92, 108), head_c=u(80, 100),
                nose_len=u(0.8, 1.25), nose_h=u(16, 28), nose_w=u(7, 12),
                brow_h=u(3, 8), eye_d=u(5, 11), cheek_h=u(3, 9), lip_h=u(3, 7),
                chin_h=u(4, 10), jaw_w=u(0.9, 1.1),
                skin=_skin(r))


def _skin(r):
    red = float(r.uniform(0.45, 0.95))
    green = red * float(r.uniform(0.62, 0.82))
    return (red, green, green * float(r.uniform(0.7, 0.9)))


def _surface(x, y, p):
    """z (mm, negative = towards the camera) of the face surface at canonical (x, y)."""
    a, b, c = p["head_a"] * p["jaw_w"], p["head_b"], p["head_c"]
    rho = np.clip(1.0 - (x / a) ** 2 - ((y - 12) / b) ** 2, 0.0, None)
    z = -c * np.sqrt(rho)
    g = lambda cx, cy, sx, sy: np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))  # noqa
    nl = p["nose_len"]
    ridge = np.clip((y + 10) / (38 * nl), 0, 1) * np.exp(-0.5 * (x / p["nose_w"]) ** 2)
    ridge *= (y < 28 * nl + 2)
    z -= p["nose_h"] * (0.55 * ridge + 0.6 * g(0, 24 * nl, p["nose_w"] * 1.1, 8))
    z -= p["brow_h"] * (g(-28, -20, 16, 5) + g(28, -20, 16, 5))
    z += p["eye_d"] * (g(-30, 0, 11, 7) + g(24, 0, 11, 7))
    z -= p["cheek_h"] * (g(-40, 22, 14, 14) + g(40, 22, 14, 14))
    z -= p["lip_h"] * g(0, 50, 18, 7) - 2.0 * g(0, 50, 20, 1.5)
    z -= p["chin_h"] * g(0, 78, 16, 9)
    return z


def _rotation(yaw, pitch, roll):
    """R = Rz(roll) @ Rx(pitch) @ Ry(yaw), degrees; yaw > 0 turns the face to its left."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _albedo(x, y, p):
    skin = np.array(p["skin"])
    alb = np.broadcast_to(skin, x.shape + (3,)).copy()
    g = lambda cx, cy, sx, sy: np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))  # noqa
    brows = (g(-28, -22, 14, 2.5) + g(28, -22, 14, 2.5))[..., None]
    eyes = (g(-30, 0, 7, 3) + g(24, 0, 7, 3))[..., None]
    lips = g(0, 51, 17, 5)[..., None]
    alb = alb * (1 - 0.7 * np.clip(brows, 0, 1)) * (1 - 0.6 * np.clip(eyes, 0, 1))
    alb = alb * (1 - lips) + lips * np.array([0.7, 0.25, 0.25])
    return alb


def generate_face(identity: int, sample: int, config: FaceConfig = FaceConfig()) -> dict:
    """One face: rgb uint8 (S,S,3), depth uint16 mm (S,S), identity, landmarks (68,2),
    landmarks_visible (68,), pose (yaw, pitch, roll) degrees."""
    p = identity_params(identity, config.seed)
    dom = DOMAINS.index(config.domain)
    r = _rng(config.seed, dom + 1, identity, sample)
    ymax, pmax, rmax = config.pose_range
    pose = np.array([r.uniform(-ymax, ymax), r.uniform(-pmax, pmax), r.uniform(-rmax, rmax)])
    dist = r.uniform(*config.distance_mm)
    if config.domain == "source":
        light = np.array([r.uniform(-0.3, 0.3), r.uniform(-0.4, 0.0), -1.0])
        tint, gain, amb = np.array([1.0, 1.0, 1.0]), r.uniform(0.9, 1.1), 0.25
    else:
        light = np.array([r.choice([-1, 1]) * r.uniform(0.5, 1.0), r.uniform(-0.6, 0.2), -0.7])
        tint, gain, amb = np.array([1.08, 0.98, 0.82]), r.uniform(0.7, 1.2), 0.15
    light /= np.linalg.norm(light)
    skin_shift = 1.0 if config.domain == "source" else 0.8

    s = config.image_size
    focal = config.fill * s * np.mean(config.distance_mm) / 205.0
    n = int(round(s * config.oversample))
    gx, gy = np.meshgrid(np.linspace(-85, 85, n), np.linspace(-95, 120, int(n * 1.25)))
    a, b = p["head_a"] * p["jaw_w"], p["head_b"]
    inside = (gx / a) ** 2 + ((gy - 12) / b) ** 2 < 0.985
    x, y = gx[inside], gy[inside]
    z = _surface(x, y, p)
    # Analytic-ish normals from central differences of the surface.
    e = 0.5
    dzdx = (_surface(x + e, y, p) - _surface(x - e, y, p)) / (2 * e)
    dzdy = (_surface(x, y + e, p) - _surface(x, y - e, p)) / (2 * e)
    normals = np.stack([dzdx, dzdy, -np.ones_like(z)], -1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    rot = _rotation(*pose)
    pts = np.stack([x, y, z], -1) @ rot.T
    pts[:, 2] += dist
    nrm = normals @ rot.T
    u = focal * pts[:, 0] / pts[:, 2] + s / 2
    v = focal * pts[:, 1] / pts[:, 2] + s / 2
    col, row = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    ok = (col >= 0) & (col < s) & (row >= 0) & (row < s) & (nrm[:, 2] < 0.05)
    pix = row[ok] * s + col[ok]
    zz = pts[ok, 2]
    order = np.lexsort((zz, pix))                       # by pixel, nearest first
    first = np.ones(len(order), bool)
    first[1:] = pix[order][1:] != pix[order][:-1]
    win = np.flatnonzero(ok)[order[first]]
    depth = np.zeros(s * s)
    depth[pix[order[first]]] = pts[win, 2]
    shade = amb + (1 - amb) * np.clip(nrm[win] @ light, 0, None)   # both point to -z
    albedo = _albedo(x[win], y[win], p) * skin_shift
    rgb_face = np.clip(albedo * shade[:, None] * gain * tint, 0, 1)
    depth = depth.reshape(s, s)
    # Fill isolated sampling gaps (a pixel whose 4-neighbours are all face).
    nb = [np.roll(depth, k, ax) for k, ax in ((1, 0), (-1, 0), (1, 1), (-1, 1))]
    gap = (depth == 0) & np.all([d > 0 for d in nb], axis=0)
    depth[gap] = np.mean(nb, axis=0)[gap]
    bg = np.array(r.uniform(0.1, 0.5, 3))
    rgb = np.broadcast_to(bg, (s * s, 3)).copy()
    rgb[pix[order[first]]] = rgb_face
    rgb = rgb.reshape(s, s, 3)
    if gap.any():
        rgb_nb = np.mean([np.roll(rgb, k, ax) for k, ax in ((1, 0), (-1, 0), (1, 1), (-1, 1))], 0)
        rgb[gap] = rgb_nb[gap]
    rgb = rgb + r.normal(0, 0.01, rgb.shape)

    lm = CANONICAL_LANDMARKS.copy()
    lm[:, 0] *= p["jaw_w"]
    lm3 = np.concatenate([lm, _surface(lm[:, 0], lm[:, 1], p)[:, None]], 1) @ rot.T
    lm3[:, 2] += dist
    lx = focal * lm3[:, 0] / lm3[:, 2] + s / 2
    ly = focal * lm3[:, 1] / lm3[:, 2] + s / 2
    ci = np.clip(np.floor(lx).astype(int), 0, s - 1)
    ri = np.clip(np.floor(ly).astype(int), 0, s - 1)
    visible = (depth[ri, ci] > 0) & (lm3[:, 2] <= depth[ri, ci] + 6.0)
    return {"rgb": np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8),
            "depth": np.round(depth).clip(0, 65535).astype(np.uint16),
            "identity": np.int64(identity),
            "landmarks": np.stack([lx, ly], 1).astype(np.float32),
            "landmarks_visible": visible,
            "pose": pose.astype(np.float32)}


class SyntheticFaces:
    """``num_identities x images_per_identity`` faces; item i = (identity i // k, sample i % k)."""

    def __init__(self, num_identities: int, images_per_identity: int,
                 config: FaceConfig = FaceConfig(), identity_offset: int = 0):
        if num_identities <= 0 or images_per_identity <= 0:
            raise ValueError("SyntheticFaces needs num_identities > 0 and images_per_identity > 0, "
                             f"got {num_identities}, {images_per_identity}")
        self.num_identities, self.k = num_identities, images_per_identity
        self.config, self.offset = config, identity_offset

    def __len__(self):
        return self.num_identities * self.k

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(f"SyntheticFaces index {i} out of range [0, {len(self)})")
        return generate_face(self.offset + i // self.k, i % self.k, self.config)

    def as_tf_dataset(self):
        """Generator-backed tf.data of the example dicts (target-domain depth must not be
        used for training: the student sees RGB only)."""
        import tensorflow as tf

        s = self.config.image_size
        sig = {"rgb": tf.TensorSpec((s, s, 3), tf.uint8), "depth": tf.TensorSpec((s, s), tf.uint16),
               "identity": tf.TensorSpec((), tf.int64),
               "landmarks": tf.TensorSpec((68, 2), tf.float32),
               "landmarks_visible": tf.TensorSpec((68,), tf.bool),
               "pose": tf.TensorSpec((3,), tf.float32)}
        return tf.data.Dataset.from_generator(lambda: (self[i] for i in range(len(self))),
                                              output_signature=sig)
