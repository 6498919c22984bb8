"""Procedural face RGB-D: the project's embedded default data (no download needed).

Stand-in for the face data of the papers (TS-GAN's CurtinFaces crops; the enhancement paper's
PRNet meshes rendered to 256x256 16-bit depth, section III-A), built from nothing:

- Per ``(seed, identity)``: a head mesh and a skin/hair/eye albedo. The head is a tapered
  ellipsoid (jaw narrower than the temples) sampled on a (latitude, longitude) grid; the
  face is a height field added along -z on its front, a sum of Gaussian bumps and dips for
  nose (ridge, tip, alae), brow ridges, eye sockets and lids, cheekbones, muzzle, lips and
  mouth line, and chin, whose sizes and positions are the identity's shape parameters.
- Per ``(seed, domain, identity, sample)``: pose (yaw, pitch, roll), distance, a small image
  shift, a directional light (direction, intensity, ambient, colour) and a background.
- The posed mesh goes through ``render.rasterize`` (perspective z-buffer) once; that one
  rasterisation gives the uint16 depth (mm, 0 = background) and, by interpolating the
  Lambertian vertex colours, the RGB image, so both share one silhouette.
- 68 landmarks in the iBUG / dlib 68-point order (jaw 0-16, brows 17-26, nose 27-35 with
  the tip at 30, eyes 36-47, mouth 48-67) are points of the same surface, posed and
  projected with the same camera; ``landmarks_visible`` is in frame, facing the camera and
  not hidden behind the face itself.

Canonical face coordinates (mm): x towards image right in a frontal view (the subject's
left), y down, z away from the camera, origin between the eyes at eye level; the head rotates
about the ellipsoid's centre. Pose convention: ``render.pose_matrix`` (yaw > 0 turns the nose
to image left and brings the image-right cheek nearer).

Domains (the TS-GAN teacher-student setting): 'source' = paired RGB-D, yaw within +-15 deg,
near-frontal white light, albedo distribution A; 'target' = RGB for the student, yaw within
+-30 deg, lateral light of varying intensity with a warm (about 3200 K) colour, albedo
multiplied by a darker, redder domain factor, noisier coloured background. Target examples
still carry depth, which target-domain training must not read (it exists for evaluation).

Output is bit-identical for the same inputs: identity parameters come from
``np.random.SeedSequence([seed, 7, identity])`` and per-image parameters from
``np.random.SeedSequence([seed, 100 + domain_index, identity, sample])``.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from data_pipelines import render

DOMAINS = ("source", "target")
NUM_LANDMARKS = 68
NOSE_TIP = 30
# Default pose ranges (degrees) per domain: (yaw, pitch, roll).
DOMAIN_POSE_RANGES = {"source": ((-15.0, 15.0), (-10.0, 10.0), (-5.0, 5.0)),
                      "target": ((-30.0, 30.0), (-20.0, 20.0), (-10.0, 10.0))}
FACE_HEIGHT_MM = 190.0        # hairline to chin, used to set the focal length from ``fill``
FRAME_CENTRE_Y_MM = 28.0      # canonical y of the face point put at the image centre
_LON_MAX = np.radians(125.0)  # the mesh covers longitudes +-125 deg (enough for |yaw| <= 35)
_LAT_RANGE = (np.radians(-80.0), np.radians(90.0))
_MAX_RADIUS_MM = 160.0        # bound on |surface point - rotation centre| for all identities


def _range(name, value, lo=None, hi=None):
    if value is None:
        return None
    v = tuple(float(x) for x in value)
    if len(v) != 2 or not v[0] <= v[1]:
        raise ValueError(f"FaceConfig.{name} must be a (low, high) pair with low <= high, "
                         f"got {value!r}")
    if (lo is not None and v[0] < lo) or (hi is not None and v[1] > hi):
        raise ValueError(f"FaceConfig.{name} must lie within [{lo}, {hi}], got {value!r}")
    return v


@dataclasses.dataclass(frozen=True)
class FaceConfig:
    """Image size, domain, seed and the per-image distributions (degrees, millimetres).

    ``yaw_deg``/``pitch_deg``/``roll_deg`` default (None) to the domain's ranges
    (``DOMAIN_POSE_RANGES``); angles are drawn uniformly. ``distance_mm`` is the camera to
    rotation-centre (head centre) distance; visible depth lies about 130 mm in front of it to
    30 mm behind it (the nose tip is nearest, about distance - 120 mm). ``fill`` is the
    hairline-to-chin height over the image height at the mean distance. ``shift_frac`` is
    the largest random offset of the face centre, as a fraction of the image size.
    ``mesh_density`` is mesh vertices per pixel (per axis) at the front of the face.
    """

    image_size: int = 128
    domain: str = "source"
    seed: int = 0
    distance_mm: Tuple[float, float] = (620.0, 720.0)
    yaw_deg: Optional[Tuple[float, float]] = None
    pitch_deg: Optional[Tuple[float, float]] = None
    roll_deg: Optional[Tuple[float, float]] = None
    fill: float = 0.95
    shift_frac: float = 0.03
    mesh_density: float = 0.8

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ValueError(f"FaceConfig.domain must be one of {DOMAINS}, got {self.domain!r}")
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 16:
            raise ValueError(f"FaceConfig.image_size must be an int >= 16, got "
                             f"{self.image_size!r}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"FaceConfig.seed must be an int >= 0, got {self.seed!r}")
        d = _range("distance_mm", self.distance_mm, lo=_MAX_RADIUS_MM + 50.0,
                   hi=65535.0 - _MAX_RADIUS_MM)
        object.__setattr__(self, "distance_mm", d)
        for name, limit in (("yaw_deg", 35.0), ("pitch_deg", 35.0), ("roll_deg", 90.0)):
            object.__setattr__(self, name, _range(name, getattr(self, name), -limit, limit))
        for name, lo, hi in (("fill", 0.2, 2.0), ("shift_frac", 0.0, 0.25),
                             ("mesh_density", 0.2, 4.0)):
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"FaceConfig.{name} must be in [{lo}, {hi}], got "
                                 f"{getattr(self, name)!r}")

    @property
    def pose_ranges(self) -> Tuple[Tuple[float, float], ...]:
        """((yaw_lo, yaw_hi), (pitch_lo, pitch_hi), (roll_lo, roll_hi)) degrees, resolved."""
        default = DOMAIN_POSE_RANGES[self.domain]
        given = (self.yaw_deg, self.pitch_deg, self.roll_deg)
        return tuple(tuple(map(float, g)) if g is not None else d for g, d in zip(given, default))

    @property
    def focal_px(self) -> float:
        """Pinhole focal length (pixels); principal point at the image centre."""
        front = float(np.mean(self.distance_mm)) - 95.0
        return self.fill * self.image_size * front / FACE_HEIGHT_MM

    @property
    def depth_bounds_mm(self) -> Tuple[float, float]:
        """Bounds every foreground depth value satisfies (mm)."""
        return (self.distance_mm[0] - _MAX_RADIUS_MM, self.distance_mm[1] + _MAX_RADIUS_MM)


# ----------------------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class IdentityParams:
    """Per-identity shape (mm) and albedo (linear RGB in [0, 1]) parameters."""

    head_a: float       # half width of the head ellipsoid
    head_b: float       # half height
    head_c: float       # half depth (front of face to rotation centre)
    head_k: float       # front flatness: z = -head_c * q**head_k (q = ellipsoid depth fraction)
    jaw_taper: float    # relative narrowing of the lower face at the chin
    chin_y: float       # canonical y of the chin (menton)
    eye_x: float        # half interocular distance (eye centres at x = +-eye_x, y = 0)
    eye_w: float        # half eye width
    eye_d: float        # eye socket depth
    brow_y: float
    brow_h: float
    nose_y: float       # nose tip y
    nose_h: float       # nose tip protrusion
    nose_w: float
    cheek_h: float
    muzzle_h: float
    mouth_y: float
    mouth_w: float      # half mouth width
    lip_h: float
    chin_h: float
    hairline_y: float
    skin: Tuple[float, float, float]
    hair: Tuple[float, float, float]
    iris: Tuple[float, float, float]
    lips: Tuple[float, float, float]


def _rng(*keys) -> np.random.Generator:
    for k in keys:
        if int(k) < 0:
            raise ValueError(f"seed, identity and sample must be >= 0, got {keys}")
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def identity_params(identity: int, seed: int = 0) -> IdentityParams:
    """Shape and albedo of one identity; depends on ``(seed, identity)`` only."""
    r = _rng(seed, 7, identity)
    u = lambda lo, hi: float(r.uniform(lo, hi))  # noqa: E731
    tone = u(0.0, 1.0)                               # light .. dark skin, linear RGB
    skin = np.array([0.80, 0.56, 0.44]) * (1 - tone) + np.array([0.34, 0.20, 0.13]) * tone
    skin = np.clip(skin * r.uniform(0.93, 1.07, 3), 0.02, 1.0)
    hair = np.array([0.05, 0.035, 0.025]) + u(0.0, 1.0) ** 3 * np.array([0.45, 0.32, 0.16])
    iris = np.array([0.18, 0.10, 0.05]) if r.uniform() < 0.75 else np.array([0.15, 0.25, 0.35])
    eye_x = u(29.0, 34.0)
    nose_y = u(37.0, 46.0)
    return IdentityParams(
        head_a=u(70.0, 80.0), head_b=u(108.0, 122.0), head_c=u(88.0, 102.0), head_k=u(0.5, 0.7),
        jaw_taper=u(0.12, 0.30), chin_y=u(112.0, 124.0),
        eye_x=eye_x, eye_w=u(12.5, 15.0), eye_d=u(8.0, 14.0),
        brow_y=u(-19.0, -14.0), brow_h=u(3.0, 8.0),
        nose_y=nose_y, nose_h=u(16.0, 26.0), nose_w=u(6.5, 10.0),
        cheek_h=u(3.0, 8.0), muzzle_h=u(4.0, 9.0),
        mouth_y=nose_y + u(22.0, 28.0), mouth_w=u(20.0, 27.0), lip_h=u(3.5, 7.0),
        chin_h=u(4.0, 10.0), hairline_y=u(-70.0, -55.0),
        skin=tuple(float(c) for c in skin), hair=tuple(float(c) for c in hair),
        iris=tuple(float(c) for c in iris),
        lips=tuple(float(c) for c in skin * np.array([0.95, 0.55, 0.58]) * u(0.85, 1.05)))


@dataclasses.dataclass(frozen=True)
class SampleParams:
    """Per-image pose (degrees), placement (mm, pixels) and lighting (linear RGB)."""

    yaw: float
    pitch: float
    roll: float
    distance_mm: float
    shift_px: Tuple[float, float]
    light_dir: Tuple[float, float, float]    # unit vector from the surface to the light (camera)
    light_gain: float
    ambient: float
    light_colour: Tuple[float, float, float]
    albedo_factor: Tuple[float, float, float]
    background: Tuple[float, float, float]
    background_gradient: float
    noise_std: float
    noise_seed: int


def sample_params(identity: int, sample: int, config: FaceConfig) -> SampleParams:
    """Per-image parameters; depend on ``(seed, domain, identity, sample)`` only."""
    dom = DOMAINS.index(config.domain)
    r = _rng(config.seed, 100 + dom, identity, sample)
    (y0, y1), (p0, p1), (r0, r1) = config.pose_ranges
    yaw, pitch, roll = float(r.uniform(y0, y1)), float(r.uniform(p0, p1)), float(r.uniform(r0, r1))
    dist = float(r.uniform(*config.distance_mm))
    shift = r.uniform(-1.0, 1.0, 2) * config.shift_frac * config.image_size
    if config.domain == "source":
        light = np.array([r.uniform(-0.25, 0.25), r.uniform(-0.35, 0.0), -1.0])
        gain, ambient = r.uniform(0.9, 1.1), r.uniform(0.22, 0.3)
        colour = np.ones(3) * r.uniform(0.97, 1.03, 3)
        albedo_factor = np.ones(3)
        bg = np.full(3, r.uniform(0.25, 0.6)) * r.uniform(0.95, 1.05, 3)
        grad, noise = 0.0, 1.5 / 255.0
    else:
        side = 1.0 if r.uniform() < 0.5 else -1.0
        light = np.array([side * r.uniform(0.6, 1.3), r.uniform(-0.8, 0.1), -r.uniform(0.4, 0.9)])
        gain, ambient = r.uniform(0.65, 1.35), r.uniform(0.08, 0.18)
        colour = np.array([1.0, 0.86, 0.68]) * r.uniform(0.95, 1.05, 3)   # ~3200 K
        albedo_factor = np.array([0.92, 0.80, 0.76])
        bg = r.uniform(0.1, 0.8, 3)
        grad, noise = float(r.uniform(-0.25, 0.25)), 4.0 / 255.0
    light = light / np.linalg.norm(light)
    noise_seed = int(r.integers(0, 2 ** 31 - 1))
    t3 = lambda a: tuple(float(x) for x in a)  # noqa: E731
    return SampleParams(yaw, pitch, roll, dist, t3(shift), t3(light), float(gain), float(ambient),
                        t3(colour), t3(albedo_factor), t3(bg), float(grad), float(noise),
                        noise_seed)


# ----------------------------------------------------------------------------- surface
def _g(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _width(y, p: IdentityParams):
    """Tapered width factor: 1 above y = 10 mm, 1 - jaw_taper at the chin."""
    t = np.clip((y - 10.0) / (p.chin_y - 10.0), 0.0, 1.0)
    return 1.0 - p.jaw_taper * t * t * (3 - 2 * t)


def _centre_y(p: IdentityParams):
    return p.chin_y - p.head_b


def feature_height(x, y, p: IdentityParams):
    """Outward height (mm, towards the camera) of the facial features at canonical (x, y)."""
    ax = np.abs(x)                                   # left/right symmetric features
    # Nose: ridge from the nasion (y = 2) rising to the tip, a steep underside, alae, bulb.
    yn = 2.0
    t = np.clip((y - yn) / (p.nose_y - yn), 0.0, 1.0)
    prof = np.where(y < yn, 0.22 * np.exp(-0.5 * ((y - yn) / 7.0) ** 2),
                    np.where(y <= p.nose_y, 0.22 + 0.78 * t ** 1.6,
                             np.exp(-0.5 * ((y - p.nose_y) / 3.2) ** 2)))
    sx = p.nose_w * np.where(y <= p.nose_y, 0.45 + 0.6 * t, 1.05)
    h = p.nose_h * prof * np.exp(-0.5 * (x / sx) ** 2)
    h += 0.12 * p.nose_h * _g(x, y, 0.0, p.nose_y - 1.0, 0.7 * p.nose_w, 4.0)
    h += 0.30 * p.nose_h * _g(ax, y, 1.15 * p.nose_w, p.nose_y + 2.5, 4.5, 4.0)
    # Brow ridges, glabella, eye sockets with the eyeballs / lids inside.
    h += p.brow_h * _g(ax, y, p.eye_x + 2.0, p.brow_y + 3.0, 15.0, 5.0)
    h += 0.6 * p.brow_h * _g(x, y, 0.0, p.brow_y + 5.0, 8.0, 6.0)
    h -= p.eye_d * _g(ax, y, p.eye_x, 1.0, 0.95 * p.eye_w, 8.5)
    h += 0.55 * p.eye_d * _g(ax, y, p.eye_x, 1.5, 0.65 * p.eye_w, 4.5)
    # Cheekbones, muzzle (teeth arch), lips, mouth line, mentolabial sulcus, chin.
    h += p.cheek_h * _g(ax, y, p.eye_x + 14.0, 32.0, 16.0, 14.0)
    h += p.muzzle_h * _g(x, y, 0.0, p.mouth_y - 4.0, 24.0, 16.0)
    h += p.lip_h * _g(x, y, 0.0, p.mouth_y - 3.5, 0.75 * p.mouth_w, 3.2)
    h += 0.9 * p.lip_h * _g(x, y, 0.0, p.mouth_y + 4.5, 0.65 * p.mouth_w, 3.6)
    h -= 3.0 * _g(x, y, 0.0, p.mouth_y, 0.85 * p.mouth_w, 1.0)
    h -= 2.0 * _g(x, y, 0.0, p.mouth_y + 13.0, 14.0, 3.5)
    h += p.chin_h * _g(x, y, 0.0, p.chin_y - 14.0, 15.0, 9.0)
    return h


def surface_z(x, y, p: IdentityParams):
    """Canonical z (mm, negative = towards the camera) of the face surface at (x, y) on the
    front: the tapered ellipsoid minus the feature height, faded out towards the outline."""
    rho = 1.0 - (x / (p.head_a * _width(y, p))) ** 2 - ((y - _centre_y(p)) / p.head_b) ** 2
    q = np.sqrt(np.clip(rho, 0.0, None))
    return -p.head_c * q ** p.head_k - feature_height(x, y, p) * q


def _albedo(x, y, front, lon, p: IdentityParams):
    """Linear RGB albedo (N, 3) at canonical (x, y): skin, hair, brows, eyes, lips, nostrils.

    ``front`` marks vertices on the front half of the head, ``lon`` is their longitude."""
    skin, hair = np.array(p.skin), np.array(p.hair)
    sig = lambda s: 0.5 * (1.0 + np.tanh(s))  # noqa: E731  (smooth step)
    a = np.broadcast_to(skin, x.shape + (3,)).copy()
    m_hair = sig((p.hairline_y + 0.006 * x * x - y) / 2.0)
    m_hair = np.maximum(m_hair, sig((np.abs(lon) - 1.55) / 0.05) * sig((15.0 - y) / 4.0))
    m_hair = np.where(front, m_hair, np.maximum(m_hair, sig((20.0 - y) / 4.0)))
    a += (hair - a) * m_hair[:, None]
    # Facial details only inside the face box (speed).
    box = np.flatnonzero(front & (np.abs(x) < p.eye_x + p.eye_w + 12.0)
                         & (y > p.brow_y - 12.0) & (y < p.mouth_y + 14.0))
    x, y, b = x[box], y[box], a[box]
    ax = np.abs(x)
    brow_curve = p.brow_y - 3.0 * np.exp(-0.5 * ((ax - p.eye_x - 2.0) / 9.0) ** 2)
    m_brow = np.exp(-0.5 * ((y - brow_curve) / 2.0) ** 4) \
        * np.exp(-0.5 * ((ax - p.eye_x) / (1.05 * p.eye_w)) ** 6)
    b += (hair - b) * (0.85 * m_brow)[:, None]
    ex = ax - p.eye_x
    m_eye = sig((1.0 - (ex / p.eye_w) ** 2 - ((y - 0.5) / 3.8) ** 2) * 6.0)
    r2 = ex ** 2 + (y - 0.5) ** 2
    eye_col = np.where((r2 < 25.0)[:, None], np.where((r2 < 4.0)[:, None], 0.02, np.array(p.iris)),
                       np.array([0.75, 0.72, 0.70]))
    b += (eye_col - b) * m_eye[:, None]
    m_lip = sig((1.0 - (x / p.mouth_w) ** 2 - ((y - p.mouth_y - 0.8) / 8.0) ** 2) * 5.0)
    m_line = np.exp(-0.5 * ((y - p.mouth_y) / 0.8) ** 2) * (ax < 0.85 * p.mouth_w)
    b += (np.array(p.lips) - b) * m_lip[:, None]
    b *= (1.0 - 0.6 * m_line)[:, None]
    m_nostril = _g(ax, y, 0.55 * p.nose_w, p.nose_y + 5.0, 2.2, 1.3)
    b *= (1.0 - 0.8 * m_nostril)[:, None]
    a[box] = b
    return a


@dataclasses.dataclass(frozen=True)
class FaceMesh:
    """Canonical head mesh: vertices (V, 3), faces (F, 3), unit outward normals (V, 3),
    albedo (V, 3) linear RGB."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray


def face_mesh(p: IdentityParams, n_lat: int, n_lon: int) -> FaceMesh:
    """Tapered-ellipsoid (latitude, longitude) grid displaced by ``feature_height``."""
    if n_lat < 4 or n_lon < 4:
        raise ValueError(f"face_mesh needs n_lat, n_lon >= 4, got {n_lat}, {n_lon}")
    lat = np.linspace(*_LAT_RANGE, n_lat)[:, None]
    lon = np.linspace(-_LON_MAX, _LON_MAX, n_lon)[None, :]
    y = np.broadcast_to(_centre_y(p) + p.head_b * np.sin(lat), (n_lat, n_lon))
    x = p.head_a * _width(y, p) * np.sin(lon) * np.cos(lat)
    q = np.cos(lon) * np.cos(lat)                    # = sqrt(rho) on the front, < 0 behind
    z = -p.head_c * np.sign(q) * np.abs(q) ** p.head_k
    front = q > 0
    h = np.zeros_like(z)
    h[front] = feature_height(x[front], y[front], p)
    z = z - h * np.clip(q, 0.0, None)
    pts = np.stack([x, y, z], -1)
    d_lat = np.gradient(pts, axis=0)
    d_lon = np.gradient(pts, axis=1)
    n = np.cross(d_lat, d_lon)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    albedo = _albedo(x.ravel(), y.ravel(), front.ravel(),
                     np.broadcast_to(lon, (n_lat, n_lon)).ravel(), p)
    return FaceMesh(pts.reshape(-1, 3), render.grid_faces(n_lat, n_lon), n.reshape(-1, 3),
                    albedo)


def canonical_landmarks(p: IdentityParams) -> np.ndarray:
    """(68, 3) canonical landmark points on the surface, iBUG / dlib 68-point order."""
    ex, ew, my, mw, ny = p.eye_x, p.eye_w, p.mouth_y, p.mouth_w, p.nose_y
    pts = []
    # Jaw 0-16: image-left (subject's right) ear level, round the chin, to image right.
    yj = 8.0
    t = np.linspace(np.pi, 0.0, 17)
    jy = yj + (p.chin_y - 5.0 - yj) * np.sin(t)
    rho = np.clip(1.0 - ((jy - _centre_y(p)) / p.head_b) ** 2, 0.0, None)
    half = p.head_a * _width(jy, p) * np.sqrt(rho)
    jx = np.cos(t) * 0.9 * half
    pts += list(zip(jx, jy))
    # Brows 17-21 (image left, outer -> inner) and 22-26 (inner -> outer).
    bx = np.linspace(ex + ew + 4.0, 9.0, 5)
    by = p.brow_y - 3.0 * np.exp(-0.5 * ((bx - ex - 2.0) / 9.0) ** 2)
    pts += list(zip(-bx, by)) + list(zip(bx[::-1], by[::-1]))
    # Nose bridge 27-30 (30 = tip) and base 31-35 (33 = subnasale).
    pts += [(0.0, yy) for yy in np.linspace(1.0, ny, 4)]
    pts += [(-1.15 * p.nose_w, ny + 5.0), (-0.55 * p.nose_w, ny + 6.5), (0.0, ny + 7.0),
            (0.55 * p.nose_w, ny + 6.5), (1.15 * p.nose_w, ny + 5.0)]
    # Eyes 36-41 and 42-47: image-left corner, upper lid, image-right corner, lower lid (36 and
    # 45 are the outer corners, 39 and 42 the inner ones).
    for sign in (-1.0, 1.0):
        cx = sign * ex
        ring = [(-ew, 0.5), (-ew / 3, -3.3), (ew / 3, -3.3), (ew, 0.5), (ew / 3, 3.8),
                (-ew / 3, 3.8)]
        pts += [(cx + dx, dy) for dx, dy in ring]
    # Mouth: outer 48-59 (48 image-left corner, 51 upper centre, 57 lower centre), inner 60-67.
    outer = [(-1.0, 0.0), (-0.6, -5.0), (-0.25, -7.0), (0.0, -6.0), (0.25, -7.0), (0.6, -5.0),
             (1.0, 0.0), (0.6, 6.0), (0.25, 8.0), (0.0, 8.5), (-0.25, 8.0), (-0.6, 6.0)]
    inner = [(-0.8, 0.0), (-0.35, -1.5), (0.0, -1.5), (0.35, -1.5), (0.8, 0.0), (0.35, 1.5),
             (0.0, 1.5), (-0.35, 1.5)]
    pts += [(fx * mw, my + dy) for fx, dy in outer + inner]
    xy = np.array(pts, np.float64)
    return np.concatenate([xy, surface_z(xy[:, 0], xy[:, 1], p)[:, None]], 1)


def _surface_normals(xy, p: IdentityParams, eps=0.25):
    """Outward unit normals of the front surface at canonical (x, y) (central differences)."""
    x, y = xy[:, 0], xy[:, 1]
    dzdx = (surface_z(x + eps, y, p) - surface_z(x - eps, y, p)) / (2 * eps)
    dzdy = (surface_z(x, y + eps, p) - surface_z(x, y - eps, p)) / (2 * eps)
    n = np.stack([dzdx, dzdy, -np.ones_like(x)], 1)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


# ----------------------------------------------------------------------------- rendering
def _mesh_resolution(config: FaceConfig) -> Tuple[int, int]:
    """(n_lat, n_lon) of the head grid: ``mesh_density`` vertices per pixel at the face front
    of the largest head, at the mean distance (the same for every identity)."""
    px_per_mm = config.focal_px / (float(np.mean(config.distance_mm)) - 95.0)
    k = config.mesh_density * px_per_mm
    n_lon = int(np.ceil(k * 2 * _LON_MAX * 80.0)) + 1
    n_lat = int(np.ceil(k * (_LAT_RANGE[1] - _LAT_RANGE[0]) * 122.0)) + 1
    return max(n_lat, 16), max(n_lon, 16)


def render_face(identity: int, p: IdentityParams, sp: SampleParams, config: FaceConfig) -> dict:
    """Renders one face from explicit parameters (see ``generate_face`` for the keys)."""
    s = config.image_size
    f = config.focal_px
    mesh = face_mesh(p, *_mesh_resolution(config))
    rot = render.pose_matrix(sp.yaw, sp.pitch, sp.roll)
    pivot = np.array([0.0, _centre_y(p), 0.0])
    anchor = np.array([0.0, FRAME_CENTRE_Y_MM, 0.0])
    anchor[2] = surface_z(anchor[:1], anchor[1:2], p)[0]
    a_rot = rot @ (anchor - pivot)
    az = a_rot[2] + sp.distance_mm
    trans = np.array([sp.shift_px[0] * az / f - a_rot[0], sp.shift_px[1] * az / f - a_rot[1],
                      sp.distance_mm])
    to_cam = lambda q: (q - pivot) @ rot.T + trans  # noqa: E731
    verts = to_cam(mesh.vertices)
    depth, tri, bary = render.rasterize(verts, mesh.faces, s, s, f, cull_backfaces=True)
    fg = tri >= 0

    # Lambertian vertex colours (Gouraud), camera-space light, then a 2.2 display gamma.
    normals = mesh.normals @ rot.T
    light = np.array(sp.light_dir)
    shade = sp.ambient + (1.0 - sp.ambient) * np.clip(normals @ light, 0.0, None)
    colour = mesh.albedo * np.array(sp.albedo_factor) * shade[:, None] * sp.light_gain \
        * np.array(sp.light_colour)
    face_rgb = render.interpolate(colour, mesh.faces, tri, bary)
    rows = (np.arange(s) + 0.5) / s - 0.5
    bg = np.array(sp.background) * (1.0 + sp.background_gradient * rows)[:, None, None]
    lin = np.where(fg[..., None], face_rgb, np.broadcast_to(bg, (s, s, 3)))
    img = np.clip(lin, 0.0, 1.0) ** (1.0 / 2.2)
    img = img + _rng(sp.noise_seed).normal(0.0, sp.noise_std, img.shape)

    # Landmarks: same surface, pose and camera; visible = in frame, facing, not occluded.
    lm_c = canonical_landmarks(p)
    lm = to_cam(lm_c)
    uv = render.project(lm, s, s, f)
    n_lm = _surface_normals(lm_c[:, :2], p) @ rot.T
    cos_view = np.einsum("ij,ij->i", n_lm, lm) / np.linalg.norm(lm, axis=1)
    facing = cos_view < 0.1                          # up to ~6 deg past grazing (contour)
    col = np.floor(uv[:, 0]).astype(np.int64)
    row = np.floor(uv[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < s) & (row >= 0) & (row < s)
    pad = np.pad(depth, 1)
    win = np.stack([pad[np.clip(row, 0, s - 1) + 1 + di, np.clip(col, 0, s - 1) + 1 + dj]
                    for di in (-1, 0, 1) for dj in (-1, 0, 1)], 1)
    unoccluded = win.max(1) >= lm[:, 2] - 4.0
    visible = inside & facing & unoccluded
    return {"rgb": np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8),
            "depth": render.depth_to_uint16(depth),
            "identity": np.int64(identity),
            "landmarks": uv.astype(np.float32),
            "landmarks_visible": visible,
            "pose": np.array([sp.yaw, sp.pitch, sp.roll], np.float32)}


def generate_face(identity: int, sample: int, config: FaceConfig = FaceConfig()) -> dict:
    """One face: ``rgb`` uint8 (S, S, 3); ``depth`` uint16 (S, S) mm, 0 = background;
    ``identity`` int64; ``landmarks`` float32 (68, 2) pixel (x, y) (pixel centres at
    i + 0.5); ``landmarks_visible`` bool (68,); ``pose`` float32 (yaw, pitch, roll) degrees.
    Bit-identical for the same inputs."""
    for name, v in (("identity", identity), ("sample", sample)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"generate_face: {name} must be an int >= 0, got {v!r}")
    return render_face(int(identity), identity_params(identity, config.seed),
                       sample_params(identity, sample, config), config)


class SyntheticFaces:
    """``num_identities x images_per_identity`` procedural faces, as a sequence.

    Item ``i`` is identity ``identity_offset + i // images_per_identity`` in sample
    ``sample_offset + i % images_per_identity`` (identity-major), so disjoint sample ranges
    of the same identities (recognition gallery/probe) or disjoint identity ranges (unseen
    people) are two objects with different offsets.
    """

    def __init__(self, num_identities: int, images_per_identity: int,
                 config: FaceConfig = FaceConfig(), identity_offset: int = 0,
                 sample_offset: int = 0):
        if num_identities <= 0 or images_per_identity <= 0:
            raise ValueError("SyntheticFaces needs num_identities > 0 and images_per_identity > 0, "
                             f"got {num_identities}, {images_per_identity}")
        if identity_offset < 0 or sample_offset < 0:
            raise ValueError(f"SyntheticFaces offsets must be >= 0, got identity_offset="
                             f"{identity_offset}, sample_offset={sample_offset}")
        self.num_identities = int(num_identities)
        self.images_per_identity = int(images_per_identity)
        self.config = config
        self.identity_offset = int(identity_offset)
        self.sample_offset = int(sample_offset)

    def __len__(self) -> int:
        return self.num_identities * self.images_per_identity

    def index(self, i: int) -> Tuple[int, int]:
        """(identity, sample) of item ``i``."""
        if not 0 <= i < len(self):
            raise IndexError(f"SyntheticFaces index {i} out of range [0, {len(self)})")
        k = self.images_per_identity
        return self.identity_offset + i // k, self.sample_offset + i % k

    def __getitem__(self, i: int) -> dict:
        if i < 0:
            i += len(self)
        return generate_face(*self.index(i), self.config)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def output_signature(self) -> dict:
        import tensorflow as tf

        s = self.config.image_size
        return {"rgb": tf.TensorSpec((s, s, 3), tf.uint8),
                "depth": tf.TensorSpec((s, s), tf.uint16),
                "identity": tf.TensorSpec((), tf.int64),
                "landmarks": tf.TensorSpec((NUM_LANDMARKS, 2), tf.float32),
                "landmarks_visible": tf.TensorSpec((NUM_LANDMARKS,), tf.bool),
                "pose": tf.TensorSpec((3,), tf.float32)}

    def as_tf_dataset(self):
        """Generator-backed ``tf.data.Dataset`` of the example dicts, in item order.

        For ``domain='target'`` the dicts still hold depth (for evaluation only): target-domain
        training must not use it, the student sees RGB only.
        """
        import tensorflow as tf

        return tf.data.Dataset.from_generator(self.__iter__,
                                              output_signature=self.output_signature())
