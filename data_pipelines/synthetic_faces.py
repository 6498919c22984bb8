"""Procedural face RGB-D that looks like camera images: the project's embedded default data.

Stand-in for the face data of the papers (TS-GAN's Kinect RGB-D crops, CurtinFaces / IIIT-D /
EURECOM, tsgan-uppal.txt lines 562-579; the enhancement paper's PRNet meshes rendered to
256x256 16-bit depth, section III-A), built from nothing, no download:

- Identity ``(seed, identity)``: a head from a low-dimensional shape space -- the parametric
  mean head (a tapered ellipsoid with Gaussian nose, brows, eye sockets, cheeks, muzzle, lips
  and chin whose sizes are ``IdentityParams``) plus ``SHAPE_DIM`` orthonormal smooth
  deformations of the face (``shape_basis``) with decreasing standard deviations
  ``SHAPE_STD_MM`` (a PCA-like basis built here, not learnt); ears; hair as geometry (a scalp
  cap, fringe and sideburns displaced outward, longer hair down the back and sides) and
  texture (strands); neck and shoulders with clothing; an albedo with blotches, freckles,
  cheek redness, lips, brows, lashes, stubble, darker lid and socket skin, and eyes with
  sclera, iris and pupil.
- Image ``(seed, domain, identity, sample)``: pose, an expression (mouth open, smile, brows),
  the camera (distance, focal length, framing), several lights and ambient light, a
  background (flat incl. black and grey, gradients, textures, clutter), the camera effects
  (defocus, vignetting, white balance, exposure, sensor noise, JPEG; ``MONOCHROME_FRACTION``
  of the images from a monochrome camera) and the depth sensor's
  dropouts. Independent draws come from separate ``SeedSequence`` streams, so changing one
  (e.g. ``FaceConfig.background``) leaves the others unchanged.
- One rasterisation (``render.rasterize``) of head + neck + shoulders gives the z-buffer and
  per-pixel surface attributes; RGB is shaded per pixel (Lambert + Blinn-Phong sheen, soft
  screen-space shadows by marching each light's ray through the z-buffer, depth-based ambient
  occlusion), so RGB and depth share one silhouette. The uint16 depth (mm, 0 = no reading) is
  the z-buffer with sensor holes: hair (structured light is scattered), steep surfaces at the
  silhouette, sometimes the eyes, and a few random specks.
- 68 landmarks in the iBUG / dlib 68-point order (jaw 0-16, brows 17-26, nose 27-35 with the
  tip at 30, eyes 36-47, mouth 48-67) are points of the same (expression-warped) surface,
  posed and projected with the same camera; ``landmarks_visible`` = in frame, facing the
  camera and not hidden (z-buffer before holes).
- Camera effects, in the order applied, with each image's draw (``sample_params``; U = uniform,
  S = image size in pixels, noise in 8-bit levels, i.e. x 1/255 of the [0, 1] range):
  exposure U(0.8, 1.3) and white balance exp(N(0, 0.06)) per channel on linear RGB, then the
  display gamma 1/2.2 (``apply_exposure_white_balance``); the background's defocus sigma
  U(0.3, 2.0) x S/64 px and the same white balance (``white_balance_display``); with
  probability ``MONOCHROME_FRACTION`` = 0.15 a monochrome camera (``monochrome``); lens defocus
  sigma U(0, 0.6) x S/64 px (``gaussian_blur``); vignetting 1 - v r^2 / (half diagonal)^2,
  v ~ U(0, 0.35) (``apply_vignette``); sensor noise with read noise U(0.5, 3) (source) /
  U(1.5, 5) (target) and shot noise U(0.2, 2) / U(0.5, 3) (``add_sensor_noise``); JPEG
  quality an integer in 55..95 (source) / 35..85 (target) (``jpeg_roundtrip``).
  ``apply_camera`` chains them.

Canonical face coordinates (mm): x towards image right in a frontal view (the subject's
left), y down, z away from the camera, origin between the eyes at eye level; the head rotates
about the ellipsoid's centre, the body turns with a fraction of the head's yaw and roll. Pose
convention: ``render.pose_matrix`` (yaw > 0 turns the nose to image left).

Domains (the TS-GAN teacher-student setting): 'source' = paired RGB-D, yaw within +-20 deg,
key light near the camera plus fill, or in ``SIDE_LIGHT_FRACTION`` = 40 % of images (faces v4)
a white key light from the side with the target's geometry (the paired CurtinFaces has
"multiple illumination variations", tsgan-uppal.txt:564-566), and optionally
(``FaceConfig.diffuse_light_fraction``, 0 by default) some under diffuse light only; 'target' =
RGB for the student, yaw within +-35 deg, lateral warm (~3200 K) key light of varying
strength, albedo x a darker, redder factor, more sensor noise and stronger JPEG. Target
examples still carry depth, which target-domain training must not read (it exists for
evaluation). The paper gives no numeric pose ranges ("varying poses", lines 565-566, 571-572,
578-579); these are Kinect-crop-like choices.

Output is bit-identical for the same inputs (NumPy + OpenCV, no threads involved).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Tuple

import cv2
import numpy as np

from data_pipelines import render
from data_pipelines.conventions import BT601_LUMA

DOMAINS = ("source", "target")
#: source images lit from the side (faces v4): CurtinFaces, TS-GAN's paired set, "has been
#: recorded ... under multiple illumination variations" (tsgan-uppal.txt:564-566)
SIDE_LIGHT_FRACTION = 0.4
NUM_LANDMARKS = 68
NOSE_TIP = 30
#: per-pixel part labels of ``render_face(..., extras=True)['parts']`` (-1 = background)
PARTS = ("skin", "hair", "eye", "mouth", "cloth")
SKIN, HAIR, EYE, MOUTH, CLOTH = range(5)
# Default pose ranges (degrees) per domain: (yaw, pitch, roll).
DOMAIN_POSE_RANGES = {"source": ((-20.0, 20.0), (-12.0, 12.0), (-6.0, 6.0)),
                      "target": ((-35.0, 35.0), (-20.0, 20.0), (-10.0, 10.0))}
FACE_HEIGHT_MM = 190.0        # hairline to chin, used to set the focal length from ``fill``
FRAME_CENTRE_Y_MM = 28.0      # canonical y of the face point at the image centre (mean)
_LON_MAX = np.radians(150.0)  # the head grid covers longitudes +-150 deg (enough for |yaw| <= 45)
_LAT_RANGE = (np.radians(-80.0), np.radians(90.0))
_MAX_RADIUS_MM = 160.0        # bound on |head surface point - rotation centre| (hair included)
_BODY_BACK_MM = 260.0         # visible neck / shoulder points lie at most this far behind it
#: the shape space: number of orthonormal face deformations and their standard deviations (mm)
SHAPE_DIM = 10
SHAPE_STD_MM = tuple(float(4.0 * 0.78 ** k) for k in range(SHAPE_DIM))
_BOX = (-110.0, 110.0, -160.0, 150.0)   # canonical (x0, x1, y0, y1) of the texture maps (mm)


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
    head-centre distance; the focal length follows it so that the hairline-to-chin height is
    ``fill`` (x a random factor in [1 - zoom_jitter, 1 + zoom_jitter]) of the image height:
    near cameras have short focal lengths (stronger perspective). ``shift_frac`` is the
    largest random offset of the face centre, as a fraction of the image size.
    ``mesh_density`` is head-mesh vertices per pixel (per axis) at the front of the face.
    ``expression_scale`` scales the random expression (0 = neutral). ``sensor_holes=False``
    gives the complete z-buffer (no dropouts). ``background`` (display RGB in [0, 1]) replaces
    the random background by one flat colour, everything else unchanged.
    ``diffuse_light_fraction``: the share of source images lit by diffuse light only (no key,
    fill or rim light, no sheen; ambient light U(0.6, 1.0) x a cool tint, times occlusion: an
    overcast window or a soft box, another of CurtinFaces' "multiple illumination variations",
    tsgan-uppal.txt:564-566), drawn from an eighth stream so every other draw is unchanged; 0
    (the default) gives faces v4 bit for bit (BUILD_NOTES, "Diffuse light and resize-conv").
    """

    image_size: int = 128
    domain: str = "source"
    seed: int = 0
    distance_mm: Tuple[float, float] = (560.0, 820.0)
    yaw_deg: Optional[Tuple[float, float]] = None
    pitch_deg: Optional[Tuple[float, float]] = None
    roll_deg: Optional[Tuple[float, float]] = None
    fill: float = 0.74
    zoom_jitter: float = 0.12
    shift_frac: float = 0.04
    mesh_density: float = 0.8
    expression_scale: float = 1.0
    sensor_holes: bool = True
    background: Optional[Tuple[float, float, float]] = None
    diffuse_light_fraction: float = 0.0

    def __post_init__(self):
        if not 0.0 <= float(self.diffuse_light_fraction) <= 1.0:
            raise ValueError(f"FaceConfig.diffuse_light_fraction must be in [0, 1], got "
                             f"{self.diffuse_light_fraction!r}")
        if self.domain not in DOMAINS:
            raise ValueError(f"FaceConfig.domain must be one of {DOMAINS}, got {self.domain!r}")
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 16:
            raise ValueError(f"FaceConfig.image_size must be an int >= 16, got "
                             f"{self.image_size!r}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"FaceConfig.seed must be an int >= 0, got {self.seed!r}")
        d = _range("distance_mm", self.distance_mm, lo=_MAX_RADIUS_MM + 150.0,
                   hi=65535.0 - _BODY_BACK_MM)
        object.__setattr__(self, "distance_mm", d)
        for name, limit in (("yaw_deg", 45.0), ("pitch_deg", 35.0), ("roll_deg", 90.0)):
            object.__setattr__(self, name, _range(name, getattr(self, name), -limit, limit))
        for name, lo, hi in (("fill", 0.2, 2.0), ("zoom_jitter", 0.0, 0.5),
                             ("shift_frac", 0.0, 0.25), ("mesh_density", 0.2, 4.0),
                             ("expression_scale", 0.0, 2.0)):
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"FaceConfig.{name} must be in [{lo}, {hi}], got "
                                 f"{getattr(self, name)!r}")
        if self.background is not None:
            bg = tuple(float(c) for c in self.background)
            if len(bg) != 3 or not all(0.0 <= c <= 1.0 for c in bg):
                raise ValueError(f"FaceConfig.background must be None or an RGB triple in "
                                 f"[0, 1], got {self.background!r}")
            object.__setattr__(self, "background", bg)

    @property
    def pose_ranges(self) -> Tuple[Tuple[float, float], ...]:
        """((yaw_lo, yaw_hi), (pitch_lo, pitch_hi), (roll_lo, roll_hi)) degrees, resolved."""
        default = DOMAIN_POSE_RANGES[self.domain]
        given = (self.yaw_deg, self.pitch_deg, self.roll_deg)
        return tuple(tuple(map(float, g)) if g is not None else d for g, d in zip(given, default))

    @property
    def focal_px(self) -> float:
        """Mean pinhole focal length (pixels); each image's is ``SampleParams.focal_px``."""
        return focal_for(self.fill, float(np.mean(self.distance_mm)), self.image_size)

    @property
    def depth_bounds_mm(self) -> Tuple[float, float]:
        """Bounds every foreground depth value satisfies (mm)."""
        return (self.distance_mm[0] - _MAX_RADIUS_MM, self.distance_mm[1] + _BODY_BACK_MM)


def focal_for(fill: float, distance_mm: float, image_size: int) -> float:
    """Focal length (px) at which the hairline-to-chin height fills ``fill`` of the image."""
    return fill * image_size * (distance_mm - 95.0) / FACE_HEIGHT_MM


# ----------------------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class IdentityParams:
    """Per-identity shape (mm), appearance (linear RGB in [0, 1]) and style parameters."""

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
    # shape space coordinates (unit variance; x SHAPE_STD_MM in ``shape_displacement``)
    shape: Tuple[float, ...] = (0.0,) * SHAPE_DIM
    # ears, neck, shoulders
    ear_h: float = 16.0          # how far the ears stand out (mm)
    ear_y: float = 18.0          # ear centre y
    neck_r: float = 55.0         # neck half width (mm)
    shoulder_w: float = 190.0    # shoulder half width (mm)
    # hair: thickness (mm), fringe reach below the hairline (mm), fringe half width,
    # sideburn bottom y, back/side hair bottom y, bald (thin stubble cap)
    hair_thick: float = 8.0
    fringe: float = 0.0
    fringe_w: float = 50.0
    sideburn_y: float = 10.0
    hair_back_y: float = 40.0
    # skin texture strengths: freckles, blotches, stubble, cheek redness
    freckles: float = 0.0
    blotch: float = 0.05
    stubble: float = 0.0
    blush: float = 0.1
    cloth: Tuple[float, float, float] = (0.3, 0.3, 0.3)
    cloth2: Tuple[float, float, float] = (0.6, 0.6, 0.6)
    cloth_pattern: int = 0       # 0 plain, 1 stripes, 2 checks, 3 mottled
    texture_seed: int = 0
    # eye region (faces v3, issue 20): brow half height (mm), sclera albedo (linear; a
    # camera sees it in the lids' shade, darker than white), darkening of the lid and socket
    # skin around each eye (0 = none)
    brow_thick: float = 3.75
    sclera: float = 0.38
    socket_dark: float = 0.25


def _rng(*keys) -> np.random.Generator:
    for k in keys:
        if int(k) < 0:
            raise ValueError(f"seed, identity and sample must be >= 0, got {keys}")
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _t3(a):
    return tuple(float(x) for x in a)


def identity_params(identity: int, seed: int = 0) -> IdentityParams:
    """Shape, appearance and style of one identity; depends on ``(seed, identity)`` only."""
    r = _rng(seed, 7, identity)
    u = lambda lo, hi: float(r.uniform(lo, hi))  # noqa: E731
    tone = u(0.0, 1.0)                               # light .. dark skin, linear RGB
    skin = np.array([0.80, 0.56, 0.44]) * (1 - tone) + np.array([0.30, 0.17, 0.11]) * tone
    skin = np.clip(skin * r.uniform(0.93, 1.07, 3), 0.02, 1.0)
    hair = np.array([0.03, 0.022, 0.016]) + u(0.0, 1.0) ** 3 * np.array([0.50, 0.34, 0.16])
    iris = np.array([0.18, 0.10, 0.05]) if r.uniform() < 0.75 else np.array([0.15, 0.25, 0.35])
    eye_x = u(29.0, 34.0)
    nose_y = u(37.0, 46.0)
    base = dict(
        head_a=u(70.0, 80.0), head_b=u(108.0, 122.0), head_c=u(88.0, 102.0), head_k=u(0.5, 0.7),
        jaw_taper=u(0.12, 0.30), chin_y=u(112.0, 124.0),
        eye_x=eye_x, eye_w=u(12.5, 15.0), eye_d=u(8.0, 14.0),
        brow_y=u(-19.0, -14.0), brow_h=u(3.0, 8.0),
        nose_y=nose_y, nose_h=u(16.0, 26.0), nose_w=u(6.5, 10.0),
        cheek_h=u(3.0, 8.0), muzzle_h=u(4.0, 9.0),
        mouth_y=nose_y + u(22.0, 28.0), mouth_w=u(20.0, 27.0), lip_h=u(3.5, 7.0),
        chin_h=u(4.0, 10.0), hairline_y=u(-70.0, -55.0),
        skin=_t3(skin), hair=_t3(hair), iris=_t3(iris),
        lips=_t3(skin * np.array([0.95, 0.55, 0.58]) * u(0.85, 1.05)))
    # Everything below is drawn after the fields above, which keep their old values.
    style = r.integers(0, 4)                         # 0 short, 1 fringe, 2 long, 3 bald
    long_hair = style == 2
    cloth = r.uniform(0.02, 0.7, 3) * (r.uniform(0.3, 1.0) if r.uniform() < 0.3 else 1.0)
    return IdentityParams(
        **base,
        shape=_t3(r.standard_normal(SHAPE_DIM)),
        ear_h=u(12.0, 20.0), ear_y=u(10.0, 22.0), neck_r=u(48.0, 62.0), shoulder_w=u(170.0, 215.0),
        hair_thick=u(1.0, 2.5) if style == 3 else u(5.0, 16.0),
        fringe=u(25.0, 50.0) if style == 1 else (u(0.0, 15.0) if long_hair else 0.0),
        fringe_w=u(35.0, 60.0),
        sideburn_y=u(0.0, 30.0), hair_back_y=u(60.0, 120.0) if long_hair else u(-5.0, 40.0),
        freckles=u(0.0, 1.0) ** 3 * (1.0 - tone), blotch=u(0.02, 0.09),
        stubble=u(0.0, 0.6) if r.uniform() < 0.4 else 0.0, blush=u(0.0, 0.25),
        cloth=_t3(cloth), cloth2=_t3(r.uniform(0.02, 0.8, 3)),
        cloth_pattern=int(r.integers(0, 4)), texture_seed=int(r.integers(0, 2 ** 31 - 1)),
        brow_thick=u(3.0, 4.5), sclera=u(0.3, 0.45), socket_dark=u(0.15, 0.4))


@dataclasses.dataclass(frozen=True)
class SampleParams:
    """Per-image pose (degrees), expression, camera, lights, background and sensor draws."""

    yaw: float
    pitch: float
    roll: float
    distance_mm: float
    focal_px: float
    shift_px: Tuple[float, float]
    frame_y_mm: float                       # canonical y put at the image centre (before shift)
    body_yaw: float
    body_roll: float
    mouth_open: float                       # mm
    smile: float                            # 0..1
    brow_raise: float                       # -1..1
    lights: Tuple[Tuple[float, ...], ...]   # (dx, dy, dz, r, g, b): unit direction to the light,
    #                                         camera axes, times colour x intensity
    ambient: Tuple[float, float, float]
    specular: float
    shininess: float
    albedo_factor: Tuple[float, float, float]
    exposure: float
    white_balance: Tuple[float, float, float]
    vignette: float
    defocus_px: float
    background_defocus_px: float
    read_noise: float
    shot_noise: float
    jpeg_quality: int
    hair_dropout: float
    edge_cos: float
    eye_dropout: float
    background_seed: int
    noise_seed: int
    hole_seed: int
    monochrome: bool = False                # a monochrome camera (luma in all three channels)
    side_light: bool = False                # a source image with its key light from the side
    diffuse_light: bool = False             # ambient light only (FaceConfig.diffuse_light_fraction)


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def _side_key_direction(r: np.random.Generator) -> np.ndarray:
    """A key light from the image's left or right (camera axes, unit vector towards the light):
    the target domain's key, and the source's side-lit images (faces v4)."""
    side = 1.0 if r.uniform() < 0.5 else -1.0
    return _unit([side * r.uniform(0.6, 1.3), r.uniform(-0.8, 0.1), -r.uniform(0.4, 0.9)])


def sample_params(identity: int, sample: int, config: FaceConfig) -> SampleParams:
    """Per-image parameters; depend on ``(seed, domain, identity, sample)`` only. Pose,
    camera, expression, light, sensor and background each draw from their own stream."""
    dom = DOMAINS.index(config.domain)
    ss = np.random.SeedSequence([config.seed, 100 + dom, identity, sample])
    rp, rc, re, rl, rs, rm, ri, rd = (np.random.default_rng(s) for s in ss.spawn(8))
    (y0, y1), (p0, p1), (r0, r1) = config.pose_ranges
    yaw, pitch, roll = float(rp.uniform(y0, y1)), float(rp.uniform(p0, p1)), float(rp.uniform(r0, r1))
    body_yaw = 0.3 * yaw + float(rp.uniform(-6.0, 6.0))
    body_roll = 0.3 * roll + float(rp.uniform(-2.0, 2.0))
    # Camera: distance, focal (fill), framing.
    dist = float(rc.uniform(*config.distance_mm))
    fill = config.fill * float(rc.uniform(1.0 - config.zoom_jitter, 1.0 + config.zoom_jitter))
    focal = focal_for(fill, dist, config.image_size)
    shift = rc.uniform(-1.0, 1.0, 2) * config.shift_frac * config.image_size
    frame_y = FRAME_CENTRE_Y_MM + float(rc.uniform(-4.0, 22.0))
    # Expression.
    e = config.expression_scale
    mouth_open = e * float(re.uniform(0.0, 14.0) if re.uniform() < 0.35 else re.uniform(0.0, 2.0))
    smile = e * float(re.uniform(0.0, 1.0) ** 2)
    brow = e * float(re.uniform(-0.6, 1.0))
    # Lights: key, fill, optional rim; ambient; sheen.
    if config.domain == "source":
        key = _unit([rl.uniform(-0.5, 0.5), rl.uniform(-0.6, 0.05), -1.0])
        key_col = np.ones(3) * rl.uniform(0.97, 1.03, 3) * rl.uniform(0.7, 1.0)
        ambient = np.array([0.95, 0.98, 1.05]) * rl.uniform(0.15, 0.35)
        albedo_factor = np.ones(3)
        read, shot, jpeg = rl.uniform(0.5, 3.0), rl.uniform(0.2, 2.0), rl.integers(55, 96)
        side_light = bool(ri.uniform() < SIDE_LIGHT_FRACTION)   # own stream (faces v4)
        if side_light:
            key = _side_key_direction(ri)
    else:
        key = _side_key_direction(rl)
        key_col = np.array([1.0, 0.86, 0.68]) * rl.uniform(0.95, 1.05, 3) * rl.uniform(0.65, 1.35)
        ambient = np.array([1.0, 0.9, 0.8]) * rl.uniform(0.06, 0.2)
        albedo_factor = np.array([0.92, 0.80, 0.76])
        side_light = False                           # the target's key light is always lateral
        read, shot, jpeg = rl.uniform(1.5, 5.0), rl.uniform(0.5, 3.0), rl.integers(35, 86)
    fill_dir = _unit([-key[0] * rl.uniform(0.5, 1.5), rl.uniform(-0.3, 0.3), -1.0])
    fill_col = np.ones(3) * rl.uniform(0.9, 1.1, 3) * rl.uniform(0.05, 0.35)
    lights = [tuple(key) + _t3(key_col), tuple(fill_dir) + _t3(fill_col)]
    if rl.uniform() < 0.4:                           # rim / hair light from behind and above
        rim = _unit([rl.uniform(-1.0, 1.0), rl.uniform(-1.0, -0.3), rl.uniform(0.2, 1.0)])
        lights.append(tuple(rim) + _t3(np.ones(3) * rl.uniform(0.1, 0.5)))
    specular, shininess = float(rl.uniform(0.03, 0.25)), float(rl.uniform(8.0, 40.0))
    # Diffuse light only (FaceConfig.diffuse_light_fraction): its own stream, so every other
    # draw is unchanged.
    diffuse_light = (config.domain == "source"
                     and bool(rd.uniform() < config.diffuse_light_fraction))
    if diffuse_light:
        lights, specular, side_light = [], 0.0, False
        ambient = np.array([0.95, 0.98, 1.05]) * rd.uniform(0.97, 1.03, 3) * rd.uniform(0.6, 1.0)
    exposure = float(rl.uniform(0.8, 1.3))
    # Camera effects and the depth sensor.
    wb = np.exp(rs.normal(0.0, 0.06, 3))
    s64 = config.image_size / 64.0
    return SampleParams(
        yaw=yaw, pitch=pitch, roll=roll, distance_mm=dist, focal_px=float(focal),
        shift_px=_t3(shift), frame_y_mm=frame_y, body_yaw=body_yaw, body_roll=body_roll,
        mouth_open=mouth_open, smile=smile, brow_raise=brow,
        lights=tuple(tuple(float(x) for x in li) for li in lights), ambient=_t3(ambient),
        specular=specular, shininess=shininess, albedo_factor=_t3(albedo_factor),
        exposure=exposure, white_balance=_t3(wb), vignette=float(rs.uniform(0.0, 0.35)),
        defocus_px=float(rs.uniform(0.0, 0.6) * s64),
        background_defocus_px=float(rs.uniform(0.3, 2.0) * s64),
        read_noise=float(read / 255.0), shot_noise=float(shot / 255.0), jpeg_quality=int(jpeg),
        hair_dropout=float(rs.uniform(0.25, 0.8)), edge_cos=float(rs.uniform(0.12, 0.3)),
        eye_dropout=float(rs.uniform(0.0, 0.6) if rs.uniform() < 0.5 else 0.0),
        background_seed=int(rs.integers(0, 2 ** 31 - 1)),
        noise_seed=int(rs.integers(0, 2 ** 31 - 1)), hole_seed=int(rs.integers(0, 2 ** 31 - 1)),
        monochrome=bool(rm.uniform() < MONOCHROME_FRACTION), side_light=side_light,
        diffuse_light=diffuse_light)


# ----------------------------------------------------------------------------- shape space
_U_SCALE, _V_CENTRE, _V_SCALE = 80.0, 15.0, 125.0


def _rows_times(a, m):
    """``a @ m.T`` for many rows and a small matrix, without BLAS (whose threads cost far more
    than the arithmetic here)."""
    return np.einsum("...j,kj->...k", a, m)


def _legendre(n, t):
    """Legendre polynomial P_n(t), n <= 4."""
    t2 = t * t
    return (np.ones_like(t), t, 1.5 * t2 - 0.5, t * (2.5 * t2 - 1.5),
            (35.0 * t2 * t2 - 30.0 * t2 + 3.0) / 8.0)[n]


def _basis_primitives(x, y):
    """Smooth, left-right symmetric primitives P_2m(u) P_n(v) (u, v the face box in [-1, 1])
    times the window (1 - u^2)(1 - v^2), low total degree first: (N, SHAPE_DIM)."""
    u = np.clip(np.asarray(x, np.float64) / _U_SCALE, -1.0, 1.0)
    v = np.clip((np.asarray(y, np.float64) - _V_CENTRE) / _V_SCALE, -1.0, 1.0)
    w = (1.0 - u * u) * (1.0 - v * v)
    orders = sorted(((m, n) for m in (0, 2, 4) for n in range(5)), key=lambda t: (sum(t), t))
    return np.stack([w * _legendre(m, u) * _legendre(n, v)
                     for m, n in orders[:SHAPE_DIM]], -1)


_GRID = 64


def _quadrature_grid():
    """Midpoint grid over the face box (the inner product of the shape space)."""
    t = (np.arange(_GRID) + 0.5) / _GRID * 2.0 - 1.0
    uu, vv = np.meshgrid(t, t)
    return uu.ravel() * _U_SCALE, vv.ravel() * _V_SCALE + _V_CENTRE


@functools.lru_cache(maxsize=1)
def _basis_coefficients() -> np.ndarray:
    """(SHAPE_DIM, SHAPE_DIM) C with primitives @ C orthonormal in the mean over the grid
    (Gram-Schmidt in the primitives' order, via Cholesky of their Gram matrix)."""
    phi = _basis_primitives(*_quadrature_grid())
    gram = phi.T @ phi / len(phi)
    c = np.linalg.inv(np.linalg.cholesky(gram)).T
    c.setflags(write=False)
    return c


def shape_basis(x, y) -> np.ndarray:
    """The shape space's ``SHAPE_DIM`` deformations (mm of outward height per unit) at
    canonical (x, y): (N, SHAPE_DIM), orthonormal (mean over the face box of b_i b_j =
    delta_ij), smooth, symmetric; lower index = lower spatial frequency = larger variance."""
    return _rows_times(_basis_primitives(x, y), _basis_coefficients().T)


def shape_displacement(x, y, p: IdentityParams) -> np.ndarray:
    """Identity's outward deformation (mm) at (x, y): sum_k SHAPE_STD_MM[k] shape[k] b_k."""
    w = _basis_coefficients() @ (np.asarray(SHAPE_STD_MM) * np.asarray(p.shape))
    return np.einsum("nk,k->n", _basis_primitives(x, y), w)


# ----------------------------------------------------------------------------- surface
def _g(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _sig(s):
    return 0.5 * (1.0 + np.tanh(s))


def _width(y, p: IdentityParams):
    """Tapered width factor: 1 above y = 10 mm, 1 - jaw_taper at the chin."""
    t = np.clip((y - 10.0) / (p.chin_y - 10.0), 0.0, 1.0)
    return 1.0 - p.jaw_taper * t * t * (3 - 2 * t)


def _centre_y(p: IdentityParams):
    return p.chin_y - p.head_b


def feature_height(x, y, p: IdentityParams):
    """Outward height (mm, towards the camera) of the facial features at canonical (x, y),
    including the identity's shape-space deformation."""
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
    return h + shape_displacement(x, y, p)


def surface_z(x, y, p: IdentityParams):
    """Canonical z (mm, negative = towards the camera) of the neutral face surface at (x, y) on
    the front: the tapered ellipsoid minus the feature height, faded out towards the outline."""
    rho = 1.0 - (x / (p.head_a * _width(y, p))) ** 2 - ((y - _centre_y(p)) / p.head_b) ** 2
    q = np.sqrt(np.clip(rho, 0.0, None))
    return -p.head_c * q ** p.head_k - feature_height(x, y, p) * q


@dataclasses.dataclass(frozen=True)
class Expression:
    """Mouth opening (mm), smile (0..1), brow raise (-1 frown .. 1 raised)."""

    mouth_open: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0


NEUTRAL = Expression()


def _mouth_gap(x, y, p: IdentityParams):
    """0 above the lips' contact line, 1 below it: a 2 mm ramp between the lips (the opening
    stretches it into the mouth), widening beyond the mouth corners so that the cheeks
    stretch smoothly instead of creasing."""
    width = 2.0 + 40.0 * np.clip(np.abs(x) / p.mouth_w - 0.85, 0.0, None)
    t = np.clip((y - p.mouth_y + 0.5 * width / 2.0) / width, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def expression_warp(pts, p: IdentityParams, e: Expression) -> np.ndarray:
    """Canonical neutral points (N, 3) -> the expression's points: the jaw drops and swings
    back below the lips, the mouth corners rise and widen with the cheeks, the brows and
    forehead skin move up (or down, frowning)."""
    x, y, z = (pts[:, k].astype(np.float64) for k in range(3))
    ax = np.abs(x)
    jaw = _mouth_gap(x, y, p) * np.exp(-0.5 * (x / (1.6 * p.mouth_w)) ** 4) \
        * (y < p.chin_y + 40.0)
    dy = e.mouth_open * jaw
    dz = 0.35 * e.mouth_open * jaw
    near_mouth = _g(x, y, 0.0, p.mouth_y, 1.4 * p.mouth_w, 10.0)
    dy = dy - e.smile * 4.0 * np.clip(ax / p.mouth_w, 0.0, 1.3) ** 2 * near_mouth
    dx = e.smile * 3.0 * np.clip(x / p.mouth_w, -1.3, 1.3) * near_mouth
    cheek = _g(ax, y, p.eye_x + 8.0, p.mouth_y - 14.0, 14.0, 10.0)
    dy = dy - e.smile * 3.0 * cheek
    dz = dz - e.smile * 3.0 * cheek
    brow = np.exp(-0.5 * ((ax - p.eye_x) / 22.0) ** 2) * _sig((y - p.brow_y + 25.0) / 6.0) \
        * _sig((p.brow_y + 8.0 - y) / 2.5)
    dy = dy - e.brow_raise * 4.0 * brow
    return np.stack([x + dx, y + dy, z + dz], 1)


# ----------------------------------------------------------------------------- textures
@functools.lru_cache(maxsize=64)
def _textures(texture_seed: int) -> dict:
    """Per-identity noise maps over the canonical box ``_BOX`` (about 1 mm per texel):
    'blotch' (smooth, ~15 mm blobs), 'fine' (per texel), 'strand' (vertical hair streaks),
    each standardised."""
    r = _rng(texture_seed, 11)
    n = 256
    blotch = cv2.resize(r.standard_normal((20, 20)), (n, n), interpolation=cv2.INTER_CUBIC)
    fine = r.standard_normal((n, n))
    strand = cv2.resize(r.standard_normal((24, n)), (n, n), interpolation=cv2.INTER_CUBIC)
    out = {}
    for k, t in (("blotch", blotch), ("fine", fine), ("strand", strand)):
        t = (t - t.mean()) / t.std()
        t.setflags(write=False)
        out[k] = t
    return out


def _lookup(tex, x, y):
    """Bilinear lookup of a ``_BOX`` texture at canonical (x, y) (clamped at the border)."""
    n = tex.shape[0]
    u = np.clip((x - _BOX[0]) / (_BOX[1] - _BOX[0]) * (n - 1), 0.0, n - 1.001)
    v = np.clip((y - _BOX[2]) / (_BOX[3] - _BOX[2]) * (n - 1), 0.0, n - 1.001)
    i, j = v.astype(np.int64), u.astype(np.int64)
    fv, fu = v - i, u - j
    return ((tex[i, j] * (1 - fu) + tex[i, j + 1] * fu) * (1 - fv)
            + (tex[i + 1, j] * (1 - fu) + tex[i + 1, j + 1] * fu) * fv)


# ----------------------------------------------------------------------------- meshes
@dataclasses.dataclass(frozen=True)
class FaceMesh:
    """A mesh: vertices (V, 3), faces (F, 3), unit outward normals (V, 3), albedo (V, 3)
    linear RGB, part label (V,) (``PARTS``), specular weight (V,)."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    parts: Optional[np.ndarray] = None
    specular: Optional[np.ndarray] = None


def _grid_normals(pts):
    n = np.cross(np.gradient(pts, axis=0), np.gradient(pts, axis=1))
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _hair_mask(x, y, lon, front, p: IdentityParams, tex):
    """Hair coverage in [0, 1] on the head grid: cap (hairline), fringe, sideburns in front of
    the ears, the sides and back down to ``hair_back_y``; ragged edges from the strands."""
    rag = 3.0 * _lookup(tex["strand"], x, y)
    cap = _sig((p.hairline_y + 0.006 * x * x - y + rag) / 2.0)
    fringe = _sig((p.hairline_y + p.fringe - y + 1.5 * rag) / 2.0) \
        * _sig((p.fringe_w - np.abs(x)) / 4.0) * (p.fringe > 0)
    alon = np.abs(lon)
    side = _sig((alon - 1.25) / 0.06) * _sig((p.sideburn_y - y + rag) / 3.0)
    back = _sig((alon - 1.62) / 0.08) * _sig((p.hair_back_y - y + 2 * rag) / 4.0)
    m = np.maximum.reduce([cap, fringe, side, back])
    return np.where(front, m, np.maximum(m, _sig((p.hair_back_y - y) / 4.0)))


def _skin_albedo(x, y, p: IdentityParams, tex, front):
    """Skin with blotches (redness), freckles, cheek blush and stubble (linear RGB)."""
    skin = np.array(p.skin)
    bl = _lookup(tex["blotch"], x, y)
    a = skin * (1.0 + p.blotch * bl[:, None] * np.array([0.6, -0.4, -0.5]))
    fine = _lookup(tex["fine"], x, y)
    freck = np.clip(fine - 1.6, 0.0, 1.0) * p.freckles * front
    a = a * (1.0 - freck[:, None] * np.array([0.45, 0.55, 0.6]))
    ax = np.abs(x)
    blush = p.blush * _g(ax, y, p.eye_x + 10.0, 35.0, 13.0, 11.0) * front
    a = a * (1.0 + blush[:, None] * np.array([0.25, -0.2, -0.15]))
    beard = _sig((y - p.nose_y - 8.0) / 3.0) * _sig((p.chin_y + 25.0 - y) / 4.0) \
        * (1.0 - _g(x, y, 0.0, p.mouth_y + 1.0, 0.9 * p.mouth_w, 6.0))
    beard = np.maximum(beard, _sig((ax - p.eye_x - 22.0) / 4.0) * _sig((y - 20.0) / 4.0)
                       * _sig((p.chin_y - y) / 4.0))
    dots = np.clip(0.5 + 0.5 * fine, 0.0, 1.0)
    st = p.stubble * beard * dots * front
    return a + (np.array(p.hair) - a) * st[:, None]


def _face_details(x, y, a, part, p: IdentityParams, tex):
    """Lid and socket shade, brows, eyes (sclera, iris, pupil), lashes, lips, nostrils on the
    face box (in place on ``a``/``part``, at canonical neutral coordinates)."""
    ax = np.abs(x)
    brow_curve = p.brow_y - 3.0 * np.exp(-0.5 * ((ax - p.eye_x - 2.0) / 9.0) ** 2)
    m_brow = np.exp(-0.5 * ((y - brow_curve) / p.brow_thick) ** 4) \
        * np.exp(-0.5 * ((ax - p.eye_x) / (1.05 * p.eye_w)) ** 6) \
        * np.clip(0.75 + 0.35 * _lookup(tex["strand"], x * 3.0, y), 0.0, 1.0)
    ex = ax - p.eye_x
    lid = np.exp(-0.5 * (ex / (1.15 * p.eye_w)) ** 2 - 0.5 * ((y + 1.5) / 6.0) ** 2)
    a *= (1.0 - p.socket_dark * lid)[:, None]
    a += (np.array(p.hair) - a) * (0.9 * m_brow)[:, None]
    eye_r = 1.0 - (ex / p.eye_w) ** 2 - ((y - 0.5) / 3.8) ** 2
    m_eye = _sig(eye_r * 6.0)
    r2 = ex ** 2 + (y - 0.5) ** 2
    eye_col = np.where((r2 < 25.0)[:, None], np.where((r2 < 4.0)[:, None], 0.02, np.array(p.iris)),
                       p.sclera * np.array([1.0, 0.95, 0.92]))
    a += (eye_col - a) * m_eye[:, None]
    part[m_eye > 0.5] = EYE
    lash = np.exp(-0.5 * (eye_r / 0.35) ** 2) * (y < 1.0) * (np.abs(ex) < 1.05 * p.eye_w)
    a *= (1.0 - 0.85 * lash)[:, None]
    m_lip = _sig((1.0 - (x / p.mouth_w) ** 2 - ((y - p.mouth_y - 0.8) / 8.0) ** 2) * 5.0)
    a += (np.array(p.lips) - a) * m_lip[:, None]
    part[m_lip > 0.5] = MOUTH
    line = np.exp(-0.5 * ((y - p.mouth_y) / 0.8) ** 2) * (ax < 0.85 * p.mouth_w)
    a *= (1.0 - 0.6 * line)[:, None]
    m_nostril = _g(ax, y, 0.55 * p.nose_w, p.nose_y + 5.0, 2.2, 1.3)
    a *= (1.0 - 0.8 * m_nostril)[:, None]


@functools.lru_cache(maxsize=2)
def _neutral_head(p: IdentityParams, n_lat: int, n_lon: int) -> dict:
    """The identity's neutral head grid (features, ears, hair), albedo, parts and specular
    weights, cached: consecutive images of one identity share it (read-only arrays)."""
    tex = _textures(p.texture_seed)
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
    lon_b = np.broadcast_to(lon, (n_lat, n_lon))
    xf, yf, lf, ff = x.ravel(), y.ravel(), lon_b.ravel(), front.ravel()
    # Ears (fins standing out at longitude +-90 deg) and hair, along the outward normal.
    n0 = _grid_normals(pts).reshape(-1, 3)
    ear = p.ear_h * np.exp(-0.5 * ((np.abs(lf) - 1.62) / 0.09) ** 2) \
        * np.exp(-0.5 * ((yf - p.ear_y) / 16.0) ** 4)
    m_hair = _hair_mask(xf, yf, lf, ff, p, tex)
    thick = p.hair_thick * (1.0 + 0.3 * _sig((-yf - 60.0) / 20.0)) \
        + 1.2 * _lookup(tex["strand"], xf * 1.7, yf)
    top = np.clip(1.0 - (yf - (p.hairline_y + p.fringe)) / 40.0, 0.3, 1.0) \
        if p.fringe > 0 else 1.0
    out = ear + m_hair * np.clip(thick * top, 0.5, None)
    verts = pts.reshape(-1, 3) + n0 * out[:, None]
    # Albedo and parts.
    a = _skin_albedo(xf, yf, p, tex, ff)
    ear_m = np.clip(ear / max(p.ear_h, 1e-6) * 3.0, 0.0, 1.0)
    a *= (1.0 - ear_m[:, None] * np.array([0.0, 0.12, 0.12]))
    part = np.full(len(xf), SKIN, np.int8)
    box = np.flatnonzero(ff & (np.abs(xf) < p.eye_x + p.eye_w + 12.0)
                         & (yf > p.brow_y - 12.0) & (yf < p.mouth_y + 14.0))
    ab, pb = a[box], part[box]
    _face_details(xf[box], yf[box], ab, pb, p, tex)
    a[box], part[box] = ab, pb
    strands = 1.0 + 0.35 * _lookup(tex["strand"], xf * 2.3, yf * 0.7)
    hair_col = np.array(p.hair) * strands[:, None]
    a += (hair_col - a) * m_hair[:, None]
    part[m_hair > 0.5] = HAIR
    spec = np.select([part == EYE, part == HAIR, part == MOUTH], [2.0, 0.6, 1.5], 1.0)
    spec = spec * (1.0 + 0.8 * _g(xf, yf, 0.0, -30.0, 25.0, 25.0)
                   + 0.8 * _g(xf, yf, 0.0, 35.0, 8.0, 15.0))
    gap = _mouth_gap(xf[box], yf[box], p)
    inner = box[(4.0 * gap * (1.0 - gap) > 0.3) & (np.abs(xf[box]) < 0.85 * p.mouth_w)]
    out = dict(verts=verts, albedo=np.clip(a, 0.0, 1.0), parts=part, specular=spec,
               inner=inner, inner_w=4.0 * gap * (1.0 - gap) * (np.abs(xf[box]) < 0.85 * p.mouth_w),
               box=box)
    for v in out.values():
        v.setflags(write=False)
    return out


def face_mesh(p: IdentityParams, n_lat: int, n_lon: int, expression: Expression = NEUTRAL
              ) -> FaceMesh:
    """Head: tapered-ellipsoid (latitude, longitude) grid displaced by ``feature_height``,
    ears and hair (outward along the normal), then the expression's warp; an open mouth
    shows its interior (the stretched lip contact, dark and pushed back)."""
    if n_lat < 4 or n_lon < 4:
        raise ValueError(f"face_mesh needs n_lat, n_lon >= 4, got {n_lat}, {n_lon}")
    base = _neutral_head(p, n_lat, n_lon)
    verts = expression_warp(base["verts"], p, expression)
    albedo, parts = base["albedo"], base["parts"]
    if expression.mouth_open > 1.0:
        verts[base["box"], 2] += 12.0 * base["inner_w"] * min(expression.mouth_open / 4.0, 1.0)
        albedo, parts = albedo.copy(), parts.copy()
        albedo[base["inner"]] = np.array([0.05, 0.015, 0.015])
        parts[base["inner"]] = MOUTH
    normals = _grid_normals(verts.reshape(n_lat, n_lon, 3)).reshape(-1, 3)
    return FaceMesh(verts, render.grid_faces(n_lat, n_lon), normals, albedo, parts,
                    base["specular"])


@functools.lru_cache(maxsize=2)
def body_mesh(p: IdentityParams, k: float) -> FaceMesh:
    """Neck (an elliptic tube from inside the head) and shoulders / chest (a boxy
    superellipse tube widening from the neck to ``shoulder_w``) in clothing, canonical head
    coordinates; ``k`` = vertices per mm. Cached per identity (read-only arrays)."""
    tex = _textures(p.texture_seed)
    meshes = []
    # Neck: y from inside the head to below the collar, slightly behind the head centre.
    ny, nt = max(8, int(170.0 * k) + 1), max(12, int(2 * np.pi * p.neck_r * k * 0.7) + 1)
    yy = np.linspace(p.chin_y - 55.0, p.chin_y + 115.0, ny)[:, None]
    th = np.linspace(-np.pi * 0.95, np.pi * 0.95, nt)[None, :]
    flare = 1.0 + 0.25 * _sig((yy - p.chin_y - 70.0) / 15.0)
    nx = p.neck_r * flare * np.sin(th)
    nz = 12.0 - 0.9 * p.neck_r * flare * np.cos(th)
    pts = np.stack(np.broadcast_arrays(nx, yy, nz), -1)
    meshes.append((pts, "neck"))
    # Shoulders: cross-section half width W(y), half depth D(y), superellipse exponent 4.
    ty = max(8, int(260.0 * k * 0.6) + 1)
    tt = max(16, int(2 * np.pi * 200.0 * k * 0.4) + 1)
    y0 = p.chin_y + 45.0
    yy = np.linspace(y0, y0 + 280.0, ty)[:, None]
    s = np.clip((yy - y0) / 80.0, 0.0, 1.0)
    ramp = np.sqrt(s * (2.0 - s))                    # round shoulder profile
    wid = p.neck_r * 1.1 + (p.shoulder_w - p.neck_r * 1.1) * ramp
    dep = 0.9 * p.neck_r + (115.0 - 0.9 * p.neck_r) * ramp
    th = np.linspace(-np.pi * 0.95, np.pi * 0.95, tt)[None, :]
    sn, cs = np.sin(th), np.cos(th)
    bx = wid * np.sign(sn) * np.abs(sn) ** 0.5
    bz = 35.0 - dep * np.sign(cs) * np.abs(cs) ** 0.5
    pts = np.stack(np.broadcast_arrays(bx, yy, bz), -1)
    meshes.append((pts, "torso"))
    verts, faces, normals, albedo, parts, spec = [], [], [], [], [], []
    base = 0
    for pts, name in meshes:
        rows, cols = pts.shape[:2]
        v = pts.reshape(-1, 3)
        n = _grid_normals(pts).reshape(-1, 3)
        x, y = v[:, 0], v[:, 1]
        if name == "neck":
            a = _skin_albedo(x, y, p, tex, np.zeros(len(x), bool)) * 0.95
            part = np.full(len(x), SKIN, np.int8)
            collar = _sig((y - p.chin_y - 95.0) / 3.0)
        else:
            a = np.broadcast_to(np.array(p.skin), (len(x), 3)).copy()
            part = np.full(len(x), SKIN, np.int8)
            collar = np.ones(len(x))
            neckline = y0 + 30.0 + 25.0 * np.exp(-0.5 * (x / 45.0) ** 2)
            collar = _sig((y - neckline) / 3.0) + _sig((np.abs(x) - 70.0) / 5.0) \
                * _sig((y - y0 - 5.0) / 3.0)
            collar = np.clip(collar, 0.0, 1.0)
        c1, c2 = np.array(p.cloth), np.array(p.cloth2)
        if p.cloth_pattern == 1:
            mix = _sig(np.sin(y * 0.25) * 4.0)
        elif p.cloth_pattern == 2:
            mix = _sig(np.sin(y * 0.2) * np.sin(x * 0.2) * 6.0)
        elif p.cloth_pattern == 3:
            mix = np.clip(0.5 + 0.3 * _lookup(tex["blotch"], x * 0.5, y * 0.5 - 60.0), 0, 1)
        else:
            mix = np.zeros(len(x))
        cloth = c1 + (c2 - c1) * mix[:, None]
        cloth = cloth * (1.0 + 0.15 * _lookup(tex["blotch"], x * 0.7, y * 0.4 - 90.0))[:, None]
        a += (cloth - a) * collar[:, None]
        part[collar > 0.5] = CLOTH
        verts.append(v)
        faces.append(render.grid_faces(rows, cols) + base)
        normals.append(n)
        albedo.append(np.clip(a, 0.0, 1.0))
        parts.append(part)
        spec.append(np.where(part == CLOTH, 0.2, 0.8))
        base += len(v)
    arrays = [np.concatenate(a) for a in (verts, faces, normals, albedo, parts, spec)]
    for a in arrays:
        a.setflags(write=False)                      # cached: shared by an identity's images
    return FaceMesh(*arrays)


def canonical_landmarks(p: IdentityParams) -> np.ndarray:
    """(68, 3) canonical landmark points on the neutral surface, iBUG / dlib 68-point order."""
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


@functools.lru_cache(maxsize=4)
def _landmarks_and_normals(p: IdentityParams):
    """``canonical_landmarks`` and their neutral-surface normals, cached per identity."""
    lm = canonical_landmarks(p)
    n = _surface_normals(lm[:, :2], p)
    lm.setflags(write=False)
    n.setflags(write=False)
    return lm, n


# ----------------------------------------------------------------------------- rendering
def _mesh_resolution(config: FaceConfig) -> Tuple[int, int]:
    """(n_lat, n_lon) of the head grid: ``mesh_density`` vertices per pixel at the face front
    of the largest head, in the most zoomed-in framing (the same for every identity)."""
    k = config.mesh_density * _px_per_mm(config)
    n_lon = int(np.ceil(k * 2 * _LON_MAX * 80.0)) + 1
    n_lat = int(np.ceil(k * (_LAT_RANGE[1] - _LAT_RANGE[0]) * 122.0)) + 1
    return max(n_lat, 16), max(n_lon, 16)


def _px_per_mm(config: FaceConfig) -> float:
    return config.fill * (1.0 + config.zoom_jitter) * config.image_size / FACE_HEIGHT_MM


def background_image(sp: SampleParams, config: FaceConfig) -> np.ndarray:
    """Display-RGB background (S, S, 3) float in [0, 1]: flat (incl. black and grey), a
    gradient, a multi-octave texture, or clutter (random shapes over a gradient)."""
    s = config.image_size
    if config.background is not None:
        return np.broadcast_to(np.array(config.background), (s, s, 3)).astype(np.float64)
    r = _rng(sp.background_seed)
    kind = r.choice(["flat", "gradient", "texture", "clutter"], p=[0.25, 0.2, 0.25, 0.3])

    def colour():
        c = r.uniform()
        if c < 0.15:
            return np.full(3, r.uniform(0.0, 0.06))          # black
        if c < 0.35:
            return np.full(3, r.uniform(0.2, 0.8))           # grey
        return r.uniform(0.0, 1.0, 3) * r.uniform(0.3, 1.0)

    c0, c1 = colour(), colour()
    yy, xx = np.mgrid[0:s, 0:s] / s - 0.5
    ang = r.uniform(0, 2 * np.pi)
    t = np.clip(0.5 + (np.cos(ang) * xx + np.sin(ang) * yy) * r.uniform(0.5, 1.5), 0, 1)
    if kind == "flat":
        img = np.broadcast_to(c0, (s, s, 3)).copy()
    elif kind == "gradient":
        img = c0 + (c1 - c0) * t[..., None]
    else:
        img = c0 + (c1 - c0) * (t[..., None] * r.uniform(0.0, 1.0))
        if kind == "texture":
            noise = np.zeros((s, s))
            for cells, amp in ((3, 1.0), (7, 0.5), (16, 0.25), (s // 2, 0.12)):
                g = r.standard_normal((cells, cells))
                noise += amp * cv2.resize(g, (s, s), interpolation=cv2.INTER_CUBIC)
            img = img + (colour() - img) * np.clip(0.5 + 0.35 * noise, 0, 1)[..., None]
        else:
            canvas = np.ascontiguousarray(img, np.float64)
            for _ in range(int(r.integers(4, 14))):
                col = tuple(float(c) for c in colour())
                cx, cy = (int(v) for v in r.integers(-s // 4, s + s // 4, 2))
                a, b = (int(v) for v in r.integers(s // 16 + 1, s // 2 + 2, 2))
                shape = r.integers(0, 3)
                if shape == 0:
                    cv2.rectangle(canvas, (cx - a, cy - b), (cx + a, cy + b), col, -1,
                                  cv2.LINE_AA)
                elif shape == 1:
                    cv2.ellipse(canvas, (cx, cy), (a, b), float(r.uniform(0, 180)), 0, 360, col,
                                -1, cv2.LINE_AA)
                else:
                    cv2.line(canvas, (cx - a, cy - b), (cx + a, cy + b), col,
                             max(1, s // 32), cv2.LINE_AA)
            img = canvas
    return np.clip(img, 0.0, 1.0)


# ----------------------------------------------------------------------------- camera
# The camera stage of ``render_face``, one function per effect, in the order applied (the
# module docstring lists each effect's per-image range from ``sample_params``).
MONOCHROME_FRACTION = 0.15     # images from a monochrome camera (BT.601 luma in R, G and B)
DISPLAY_GAMMA = 2.2           # display RGB = linear RGB ** (1 / DISPLAY_GAMMA)


def gaussian_blur(img, sigma):
    """Isotropic Gaussian blur of standard deviation ``sigma`` pixels (lens and background
    defocus; also softens the shadows and gives the ambient-occlusion reference) over (H, W)
    or (H, W, C) float arrays, borders reflected (OpenCV's kernel: the sampled Gaussian out to
    4 sigma, normalised). ``sigma < 0.05`` returns ``img`` itself (no visible blur)."""
    if sigma < 0.05:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def monochrome(img):
    """A monochrome camera: (.., 3) display RGB -> its BT.601 luma in all three channels
    (``conventions.BT601_LUMA``; applied after compositing, before lens and sensor)."""
    y = np.asarray(img, np.float64) @ np.asarray(BT601_LUMA)
    return np.repeat(y[..., None], 3, -1)


def apply_exposure_white_balance(lin, exposure, white_balance):
    """Linear RGB (..., 3) -> display RGB in [0, 1]: ``lin x exposure x white_balance``
    (per channel), clipped to [0, 1], then the display gamma 1 / ``DISPLAY_GAMMA``."""
    lin = lin * exposure * np.array(white_balance)
    return np.clip(lin, 0.0, 1.0) ** (1.0 / DISPLAY_GAMMA)


def white_balance_display(img, white_balance):
    """The white balance of ``apply_exposure_white_balance`` applied to an image that is
    already display RGB (the background): ``img x white_balance ** (1 / DISPLAY_GAMMA)``,
    which equals re-linearising, scaling and re-applying the gamma (before clipping)."""
    return img * np.array(white_balance) ** (1.0 / DISPLAY_GAMMA)


def vignette_gain(rows, cols, height, width, strength):
    """Vignetting gain at pixel coordinates (``rows``, ``cols``; pixel centres at i + 0.5) of
    a ``height x width`` image: ``1 - strength x r^2 / r_c^2`` with r the distance to the image
    centre and r_c the half diagonal, i.e. 1 at the centre and ``1 - strength`` at the
    corners (for a square S x S image r_c^2 = S^2 / 2)."""
    r2 = ((rows - height / 2.0) ** 2 + (cols - width / 2.0) ** 2) \
        / ((height * height + width * width) / 4.0)
    return 1.0 - strength * r2


def apply_vignette(img, strength):
    """``img`` (H, W, C) times ``vignette_gain`` at its pixel centres."""
    if img.ndim != 3:
        raise ValueError(f"apply_vignette: img must be (H, W, C), got shape {img.shape}")
    h, w = img.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w] + 0.5
    return img * vignette_gain(rows, cols, h, w, strength)[..., None]


def add_sensor_noise(img, read_noise, shot_noise, noise_seed):
    """Additive Gaussian sensor noise on display RGB in [0, 1]: per value, standard deviation
    ``sqrt(read_noise^2 + shot_noise x I x 4 / 255)`` with I the value clipped to [0, 1]
    (signal-independent read noise plus Poisson-like shot noise whose variance grows with the
    intensity), zero mean, drawn from the stream ``noise_seed``; the result is not clipped."""
    rng = _rng(noise_seed)
    std = np.sqrt(read_noise ** 2 + shot_noise * np.clip(img, 0.0, 1.0) / 255.0 * 4.0)
    return img + rng.standard_normal(img.shape) * std


def quantize_8bit(img):
    """Display RGB in [0, 1] (clipped) -> uint8, rounded to the nearest level."""
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def jpeg_roundtrip(rgb8, quality):
    """Encodes an RGB uint8 (H, W, 3) image as a baseline JPEG of ``quality`` (0..100, OpenCV /
    libjpeg scale) and decodes it: the compression artefacts of a camera's output."""
    if rgb8.dtype != np.uint8 or rgb8.ndim != 3 or rgb8.shape[2] != 3:
        raise ValueError(f"jpeg_roundtrip: rgb8 must be uint8 (H, W, 3), got {rgb8.dtype} "
                         f"{rgb8.shape}")
    if not 0 <= int(quality) <= 100:
        raise ValueError(f"jpeg_roundtrip: quality must be in [0, 100], got {quality!r}")
    ok, buf = cv2.imencode(".jpg", rgb8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"jpeg_roundtrip: OpenCV could not encode a {rgb8.shape} image")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def apply_camera(face_disp, fg, background, sp: SampleParams):
    """The camera stage of ``render_face``: the display-RGB ``background`` (S, S, 3) defocused
    (``background_defocus_px``) and white balanced, composited behind ``face_disp`` where
    ``fg``; lens defocus, vignetting, sensor noise, 8-bit quantisation and JPEG. -> uint8."""
    bg = gaussian_blur(background, sp.background_defocus_px)
    bg = white_balance_display(bg, sp.white_balance)
    img = np.where(fg[..., None], face_disp, bg)
    if sp.monochrome:
        img = monochrome(img)
    img = gaussian_blur(img, sp.defocus_px)
    img = apply_vignette(img, sp.vignette)
    img = add_sensor_noise(img, sp.read_noise, sp.shot_noise, sp.noise_seed)
    return jpeg_roundtrip(quantize_8bit(img), sp.jpeg_quality)


# ----------------------------------------------------------------------------- shading


def _shadows(points, valid, zbuf, dirs, f, s, rng):
    """Soft screen-space shadows: for each light, the fraction of a ray's samples (6 steps
    from 4 to 90 mm towards the light, jittered) hidden behind the z-buffer (by 3 to 60 mm),
    blurred. Returns (L, S, S) visibility in [0, 1]."""
    pts = points[valid]                              # (n, 3)
    steps = np.array([4.0, 9.0, 16.0, 28.0, 50.0, 90.0]) * rng.uniform(0.8, 1.2, 6)
    out = np.ones((len(dirs), s, s))
    for li, d in enumerate(dirs):
        q = pts[:, None, :] + steps[None, :, None] * np.asarray(d)[None, None, :]   # (n, K, 3)
        z = np.maximum(q[..., 2], 1.0)
        col = np.floor(f * q[..., 0] / z + s / 2.0).astype(np.int64)
        row = np.floor(f * q[..., 1] / z + s / 2.0).astype(np.int64)
        inside = (col >= 0) & (col < s) & (row >= 0) & (row < s)
        zb = zbuf[np.clip(row, 0, s - 1), np.clip(col, 0, s - 1)]
        hit = inside & (zb > 0) & (zb < z - 3.0) & (zb > z - 60.0)
        vis = np.ones((s, s))
        vis[valid] = 1.0 - hit.mean(1) * 1.4
        out[li] = np.clip(gaussian_blur(np.clip(vis, 0.0, 1.0), 0.6 * s / 64.0), 0.0, 1.0)
    return out


def _sensor_holes(depth, parts, cos_view, sp: SampleParams, s):
    """Depth dropouts of a structured-light / ToF sensor: hair (correlated blobs, rate
    ``hair_dropout``), steep surfaces (|cos(normal, view)| < ``edge_cos``), a ragged
    silhouette rim, sometimes the eyes, a few specks. Returns the hole mask (S, S)."""
    r = _rng(sp.hole_seed)
    fg = depth > 0
    g = cv2.resize(r.standard_normal((max(4, s // 6), max(4, s // 6))), (s, s),
                   interpolation=cv2.INTER_CUBIC)
    u = 0.5 * (1.0 + np.tanh(g))                     # correlated uniform-ish field
    pix = r.uniform(size=(s, s))
    holes = (parts == HAIR) & (0.7 * u + 0.3 * pix < sp.hair_dropout)
    holes |= fg & (cos_view < sp.edge_cos) & (pix < 0.85)
    rim = fg & ~cv2.erode(fg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    holes |= rim & (pix < 0.35)
    holes |= (parts == EYE) & (pix < sp.eye_dropout)
    for _ in range(int(r.integers(0, 4))):
        cy, cx = r.integers(0, s, 2)
        rad = r.uniform(0.5, 2.0) * s / 64.0
        yy, xx = np.ogrid[0:s, 0:s]
        holes |= fg & ((yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad)
    return holes & fg


def render_face(identity: int, p: IdentityParams, sp: SampleParams, config: FaceConfig,
                extras: bool = False) -> dict:
    """Renders one face from explicit parameters (see ``generate_face`` for the keys).
    ``extras=True`` adds 'parts' int8 (S, S) (``PARTS`` index, -1 background),
    'depth_complete' uint16 (the z-buffer before sensor holes) and 'holes' bool (S, S)."""
    s = config.image_size
    f = sp.focal_px
    expr = Expression(sp.mouth_open, sp.smile, sp.brow_raise)
    head = face_mesh(p, *_mesh_resolution(config), expression=expr)
    body = body_mesh(p, 0.8 * config.mesh_density * _px_per_mm(config))
    rot = render.pose_matrix(sp.yaw, sp.pitch, sp.roll)
    rot_body = render.pose_matrix(sp.body_yaw, 0.0, sp.body_roll)
    pivot = np.array([0.0, _centre_y(p), 0.0])
    anchor = np.array([0.0, sp.frame_y_mm, 0.0])
    anchor[2] = surface_z(anchor[:1], anchor[1:2], p)[0]
    a_rot = rot @ (anchor - pivot)
    az = a_rot[2] + sp.distance_mm
    trans = np.array([sp.shift_px[0] * az / f - a_rot[0], sp.shift_px[1] * az / f - a_rot[1],
                      sp.distance_mm])
    to_cam = lambda q: _rows_times(q - pivot, rot) + trans  # noqa: E731
    verts = np.concatenate([to_cam(head.vertices),
                            _rows_times(body.vertices - pivot, rot_body) + trans])
    faces = np.concatenate([head.faces, body.faces + len(head.vertices)])
    normals = np.concatenate([_rows_times(head.normals, rot), _rows_times(body.normals, rot_body)])
    depth, tri, bary = render.rasterize(verts, faces, s, s, f, cull_backfaces=True)
    fg = tri >= 0

    # Per-pixel attributes: albedo (3), normal (3), specular weight (1); part of the nearest
    # corner.
    albedo = np.concatenate([head.albedo, body.albedo])
    spec_w = np.concatenate([head.specular, body.specular])
    attr = np.concatenate([albedo, normals, spec_w[:, None]], 1)
    pix = render.interpolate(attr, faces, tri, bary).astype(np.float64)
    parts_v = np.concatenate([head.parts, body.parts])
    corner = faces[np.maximum(tri, 0), np.argmax(bary, -1)]
    parts = np.where(fg, parts_v[corner], -1).astype(np.int8)
    n = pix[..., 3:6]
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    rows, cols = np.mgrid[0:s, 0:s] + 0.5
    zz = np.where(fg, depth, 1.0).astype(np.float64)
    points = np.stack([(cols - s / 2.0) * zz / f, (rows - s / 2.0) * zz / f, zz], -1)
    view = -points / np.linalg.norm(points, axis=-1, keepdims=True)
    cos_view = np.abs(np.einsum("ijk,ijk->ij", n, view))

    # Shading (linear RGB): ambient x occlusion + lights x (Lambert x sqrt(occlusion) +
    # Blinn-Phong) x shadow (sqrt: cavities such as the eye sockets also lose some direct
    # light, as under the area lights of real rooms).
    shade_rng = _rng(sp.noise_seed, 1)
    lights = np.array(sp.lights, np.float64).reshape(-1, 6)     # none under diffuse light
    dirs, cols_l = lights[:, :3], lights[:, 3:]
    vis = _shadows(points, fg, depth, dirs, f, s, shade_rng)
    far = float(depth[fg].max()) + 40.0 if fg.any() else 1.0
    dfill = np.where(fg, depth, far).astype(np.float32)
    local = gaussian_blur(dfill, 4.0 * s / 64.0)
    ao = np.clip(1.0 - np.clip(dfill - local, 0.0, None) / 25.0, 0.35, 1.0)
    rgb_face = pix[..., :3] * np.array(sp.albedo_factor)
    ao_direct = np.sqrt(ao)
    light = np.array(sp.ambient) * ao[..., None]
    spec = np.zeros((s, s, 3))
    for li in range(len(dirs)):
        ndl = np.clip(np.einsum("ijk,k->ij", n, dirs[li]), 0.0, None)
        half = view + dirs[li]
        half /= np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-9)
        ndh = np.clip(np.einsum("ijk,ijk->ij", n, half), 0.0, None)
        light = light + (vis[li] * ndl * ao_direct)[..., None] * cols_l[li]
        spec = spec + (vis[li] * (ndl > 0) * ndh ** sp.shininess)[..., None] * cols_l[li]
    lin = rgb_face * light + sp.specular * pix[..., 6:7] * spec
    face_disp = apply_exposure_white_balance(lin, sp.exposure, sp.white_balance)
    # Camera: background (defocused), composite, lens defocus, vignetting, noise, JPEG.
    rgb8 = apply_camera(face_disp, fg, background_image(sp, config), sp)

    depth16 = render.depth_to_uint16(depth)
    holes = _sensor_holes(depth, parts, cos_view, sp, s) if config.sensor_holes \
        else np.zeros((s, s), bool)
    sensor = np.where(holes, 0, depth16).astype(np.uint16)

    # Landmarks: the expression-warped surface, same pose and camera; visible = in frame,
    # facing, not occluded (z-buffer before holes).
    lm_c, n_c = _landmarks_and_normals(p)
    lm = to_cam(expression_warp(lm_c, p, expr))
    uv = render.project(lm, s, s, f)
    n_lm = _rows_times(n_c, rot)
    cos_lm = np.einsum("ij,ij->i", n_lm, lm) / np.linalg.norm(lm, axis=1)
    facing = cos_lm < 0.1                            # up to ~6 deg past grazing (contour)
    col = np.floor(uv[:, 0]).astype(np.int64)
    row = np.floor(uv[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < s) & (row >= 0) & (row < s)
    pad = np.pad(depth, 1)
    win = np.stack([pad[np.clip(row, 0, s - 1) + 1 + di, np.clip(col, 0, s - 1) + 1 + dj]
                    for di in (-1, 0, 1) for dj in (-1, 0, 1)], 1)
    unoccluded = win.max(1) >= lm[:, 2] - 4.0
    visible = inside & facing & unoccluded
    out = {"rgb": rgb8,
           "depth": sensor,
           "identity": np.int64(identity),
           "landmarks": uv.astype(np.float32),
           "landmarks_visible": visible,
           "pose": np.array([sp.yaw, sp.pitch, sp.roll], np.float32)}
    if extras:
        out.update(parts=parts, depth_complete=depth16, holes=holes)
    return out


def generate_face(identity: int, sample: int, config: FaceConfig = FaceConfig(),
                  extras: bool = False) -> dict:
    """One face: ``rgb`` uint8 (S, S, 3); ``depth`` uint16 (S, S) mm, 0 = background or
    sensor hole; ``identity`` int64; ``landmarks`` float32 (68, 2) pixel (x, y) (pixel
    centres at i + 0.5); ``landmarks_visible`` bool (68,); ``pose`` float32 (yaw, pitch,
    roll) degrees. Bit-identical for the same inputs. ``extras``: see ``render_face``."""
    for name, v in (("identity", identity), ("sample", sample)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"generate_face: {name} must be an int >= 0, got {v!r}")
    return render_face(int(identity), identity_params(identity, config.seed),
                       sample_params(identity, sample, config), config, extras=extras)


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
