"""Middlebury stereo scenes as RGB + metric depth (Scharstein et al.), read in their own layouts.

Disparity d (pixels) becomes depth by triangulation, Z = f * B / (d + doffs), f the focal
length in pixels, B the baseline, doffs the x-offset between the two principal points (the
2014 ``calib.txt`` key) or the cropping offset ``dmin`` (2005/2006 ``dmin.txt``). Depth is
returned in **metres** (float32) with a boolean valid mask; unknown disparity (inf or NaN in
PFM, 0 in PNG) and non-positive d + doffs are invalid and stored as depth 0.

Layouts (one folder per scene; :func:`find_scenes` walks a root for them):

2014 (``<Scene>-perfect/`` or ``-imperfect/``; MiddEval3 ``training*/<Scene>/``)::

    calib.txt              cam0=[f 0 cx; 0 f cy; 0 0 1]  cam1=[...]  doffs=..  baseline=.. (mm)
                           width=..  height=..  ndisp=..  (isint, vmin, vmax, dyavg, dymax)
    im0.png  im1.png       left / right RGB
    disp0.pfm (disp1.pfm)  float disparity of the left (right) view, inf = unknown;
                           MiddEval3 names it disp0GT.pfm

2005 / 2006 (``<Scene>/``; the "2views" zips, or the full multi-view download)::

    view1.png view5.png    RGB (or Illum{1,2,3}/Exp{0,1,2}/view{0..6}.png; Illum2/Exp1 preferred)
    disp1.png disp5.png    8-bit disparity of views 1 and 5 (intensity = disparity, 0 = unknown);
                           the 2005/2006 pages define 8-bit disparity PNGs only, so a 16-bit
                           (or float, or colour with differing channels) disp1.png is refused
                           with the file, what was found and what was expected
    dmin.txt               the integer disparity offset of the crop (added to d)

The 2005/2006 folders hold no focal length or baseline. We use f = 3740 px and B = 160 mm at
full size (1390 px wide; the values quoted on the 2005/2006 pages as we recall them, not
verified here), divided by the size factor round(1390 / width) (1 full, 2 half, 3 third).
The PNG intensity is read as disparity at the image's own resolution and ``dmin.txt`` as an
offset at that same resolution (also unverified; ``png_disparity_scale`` and the calibration
arguments override them). BUILD_NOTES.md lists these as open items.

Validation at the edge (DESIGN.md): ``calib.txt`` must give a finite, positive baseline and
cam0 focal length and a finite ``doffs``; a 2005/2006 ``dmin.txt`` must be a finite number; the
calibration arguments of :func:`read_scene_0506` (``focal_px``, ``baseline_mm``,
``png_disparity_scale``) must be finite and > 0. Anything else raises ``ValueError`` naming the
file (or the argument), the value found and what was expected; nothing is guessed.

:func:`motorcycle_sample` is the embedded default: the Middlebury 2014 Motorcycle left view
and disparity that scikit-image ships (``skimage.data.stereo_motorcycle``, down-sampled x4),
with the calibration its docstring gives for the down-sampled images.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional

import cv2
import numpy as np

#: Calibration of skimage.data.stereo_motorcycle(), from its docstring (scikit-image 0.26):
#: "Focal length 994.978px, Principal point x 311.193px, y 254.877px, Principal point dx
#: 31.086px, Baseline 193.001mm", valid for the images down-sampled x4 from Middlebury 2014
#: Motorcycle (i.e. that scene's calib.txt with cam0 f, cx, cy and doffs divided by 4).
MOTORCYCLE_CALIB = {"focal_px": 994.978, "cx": 311.193, "cy": 254.877, "doffs": 31.086,
                    "baseline_mm": 193.001}

#: 2005/2006 full-size camera (see the module docstring: recalled, unverified).
MIDDLEBURY_0506_FOCAL_PX = 3740.0
MIDDLEBURY_0506_BASELINE_MM = 160.0
MIDDLEBURY_0506_FULL_WIDTH = 1390

LAYOUT_2014, LAYOUT_0506 = "2014", "2005/2006"


@dataclasses.dataclass
class Scene:
    """One scene: ``rgb`` uint8 (H, W, 3), ``depth`` float32 metres (H, W) with 0 where
    ``valid`` is False, the raw ``disparity`` (float32, NaN where unknown) and calibration."""

    name: str
    layout: str
    rgb: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    disparity: np.ndarray
    focal_px: float
    baseline_mm: float
    doffs: float
    path: str = ""

    @property
    def shape(self):
        return self.depth.shape


# ----------------------------------------------------------------------------------------
# File formats
# ----------------------------------------------------------------------------------------

def read_pfm(path) -> np.ndarray:
    """Portable Float Map -> float32 (H, W) ('Pf') or (H, W, 3) ('PF'), top row first.

    Header: 'PF'/'Pf', 'W H', scale (negative: little-endian); rows are stored bottom to top.
    inf/NaN values are kept as they are.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        header = f.readline().strip()
        if header not in (b"PF", b"Pf"):
            raise ValueError(f"{path}: not a PFM file (header {header[:10]!r}, expected PF or Pf)")
        dims = f.readline()
        while dims.startswith(b"#"):
            dims = f.readline()
        try:
            width, height = (int(v) for v in dims.split())
            scale = float(f.readline().strip())
        except ValueError as e:
            raise ValueError(f"{path}: malformed PFM header ({dims!r})") from e
        channels = 3 if header == b"PF" else 1
        dtype = "<f4" if scale < 0 else ">f4"
        data = np.frombuffer(f.read(), dtype=dtype)
    expected = width * height * channels
    if data.size != expected:
        raise ValueError(f"{path}: PFM holds {data.size} values, header says {width}x{height}"
                         f"x{channels} = {expected}")
    shape = (height, width, channels) if channels == 3 else (height, width)
    return np.ascontiguousarray(np.flipud(data.reshape(shape)).astype(np.float32))


def write_pfm(path, array) -> str:
    """float32 (H, W) or (H, W, 3) -> little-endian PFM (rows bottom to top)."""
    a = np.asarray(array, np.float32)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"write_pfm({path}): expected (H, W) or (H, W, 3), got {a.shape}")
    header = b"PF" if a.ndim == 3 else b"Pf"
    with open(os.fspath(path), "wb") as f:
        f.write(header + b"\n" + f"{a.shape[1]} {a.shape[0]}\n".encode() + b"-1\n")
        f.write(np.flipud(a).astype("<f4").tobytes())
    return os.fspath(path)


def parse_calib(path) -> Dict[str, object]:
    """Middlebury 2014 ``calib.txt`` -> dict: ``cam0``/``cam1`` 3x3 float arrays, numbers
    as floats (``width``, ``height``, ``ndisp``, ``isint`` as ints)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    out: Dict[str, object] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if "=" not in line:
                raise ValueError(f"{path}:{n}: expected key=value, got {line!r}")
            key, value = (s.strip() for s in line.split("=", 1))
            if value.startswith("["):
                rows = [r.split() for r in value.strip("[]").split(";")]
                try:
                    mat = np.array([[float(v) for v in r] for r in rows], np.float64)
                except ValueError as e:
                    raise ValueError(f"{path}:{n}: bad matrix {value!r}") from e
                if mat.shape != (3, 3):
                    raise ValueError(f"{path}:{n}: {key} must be 3x3, got {mat.shape}")
                out[key] = mat
            else:
                try:
                    out[key] = int(value) if key in ("width", "height", "ndisp", "isint") \
                        else float(value)
                except ValueError as e:
                    raise ValueError(f"{path}:{n}: {key}={value!r} is not a number") from e
    for key in ("cam0", "doffs", "baseline"):
        if key not in out:
            raise ValueError(f"{path}: calib.txt lacks {key!r} (found {sorted(out)})")
    _check_positive(out["baseline"], f"{path}: baseline", "mm")
    cam0 = out["cam0"]
    if not np.all(np.isfinite(cam0)):
        raise ValueError(f"{path}: cam0 holds a non-finite value ({cam0.tolist()})")
    _check_positive(cam0[0, 0], f"{path}: cam0 focal length (cam0[0][0])", "px")
    _check_positive(cam0[1, 1], f"{path}: cam0 focal length (cam0[1][1])", "px")
    if "cam1" in out:
        _check_positive(out["cam1"][0, 0], f"{path}: cam1 focal length (cam1[0][0])", "px")
    if not np.isfinite(out["doffs"]):
        raise ValueError(f"{path}: doffs={out['doffs']} is not a finite number")
    for key in ("width", "height"):
        if key in out and out[key] <= 0:
            raise ValueError(f"{path}: {key}={out[key]}, expected a positive pixel count")
    return out


def _check_positive(value, what: str, unit: str) -> float:
    """``value`` as a float, or ValueError('<what> is <value>, expected a finite value > 0')."""
    try:
        v = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} is {value!r}, expected a number > 0 ({unit})") from e
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{what} is {v}, expected a finite value > 0 ({unit}); a negative or "
                         f"zero value would give negative or infinite depth")
    return v


# ----------------------------------------------------------------------------------------
# Disparity -> depth
# ----------------------------------------------------------------------------------------

def disparity_to_depth(disparity, focal_px: float, baseline_mm: float, doffs: float,
                       unknown_zero: bool = False):
    """Z = focal_px * baseline_mm / (d + doffs) / 1000 (metres) -> (depth float32, valid bool).

    Invalid: d not finite, d + doffs <= 0, or (``unknown_zero``, the PNG convention) d == 0.
    Invalid pixels get depth 0.
    """
    d = np.asarray(disparity, np.float64)
    if d.ndim == 3:
        d = d[..., 0]
    denom = d + float(doffs)
    valid = np.isfinite(d) & (denom > 0)
    if unknown_zero:
        valid &= d != 0
    depth = np.zeros(d.shape, np.float32)
    depth[valid] = (float(focal_px) * float(baseline_mm) / denom[valid] / 1000.0).astype(np.float32)
    return depth, valid


def _read_rgb(path) -> np.ndarray:
    img = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot be read as an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_png_disparity(path) -> np.ndarray:
    """A 2005/2006 disparity PNG -> float32 (H, W). The dataset defines 8-bit disparities
    (intensity = disparity in pixels, 0 = unknown): any other bit depth is refused, since
    reading a 16-bit file's values as disparity (or dividing them by 256) would be a guess."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: cannot be read as an image")
    if img.size == 0:
        raise ValueError(f"{path}: empty image (shape {img.shape})")
    if img.dtype != np.uint8:
        bits = img.dtype.itemsize * 8
        raise ValueError(
            f"{path}: disparity PNG is {bits}-bit ({img.dtype}, values {int(img.min())}.."
            f"{int(img.max())}); the Middlebury 2005/2006 layout defines 8-bit disparity "
            f"(intensity = disparity in pixels, 0 = unknown). Convert it to the dataset's 8-bit "
            f"file, or use the 2014 layout (disp0.pfm) for float disparities")
    if img.ndim == 3:
        channels = img[..., :3] if img.shape[2] >= 3 else img
        if channels.shape[2] > 1 and not all(np.array_equal(channels[..., 0], channels[..., c])
                                             for c in range(1, channels.shape[2])):
            raise ValueError(f"{path}: disparity PNG has {img.shape[2]} channels that differ; "
                             f"expected a single-channel (grey) 8-bit disparity image")
        img = img[..., 0]
    return img.astype(np.float32)


def _check_sizes(path, rgb, disp):
    if rgb.shape[:2] != disp.shape[:2]:
        raise ValueError(f"{path}: RGB is {rgb.shape[:2]} but the disparity is {disp.shape[:2]}")


_DISP_2014 = ("disp0.pfm", "disp0GT.pfm")


def layout_of(folder) -> Optional[str]:
    """'2014', '2005/2006' or None for a folder that is not a scene."""
    names = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    if "calib.txt" in names and any(n in names for n in _DISP_2014):
        return LAYOUT_2014
    if "disp1.png" in names:
        return LAYOUT_0506
    return None


def read_scene_2014(folder) -> Scene:
    folder = os.fspath(folder)
    calib = parse_calib(os.path.join(folder, "calib.txt"))
    disp_path = next((os.path.join(folder, n) for n in _DISP_2014
                      if os.path.exists(os.path.join(folder, n))), None)
    if disp_path is None:
        raise FileNotFoundError(f"{folder}: no {' or '.join(_DISP_2014)}")
    rgb_path = os.path.join(folder, "im0.png")
    if not os.path.exists(rgb_path):
        raise FileNotFoundError(f"{folder}: no im0.png")
    disp = read_pfm(disp_path)
    if disp.ndim == 3:
        disp = disp[..., 0]
    rgb = _read_rgb(rgb_path)
    _check_sizes(folder, rgb, disp)
    for key, n in (("height", disp.shape[0]), ("width", disp.shape[1])):
        if key in calib and calib[key] != n:
            raise ValueError(f"{folder}/calib.txt: {key}={calib[key]} but {disp_path} has {n}")
    focal = float(calib["cam0"][0, 0])
    depth, valid = disparity_to_depth(disp, focal, calib["baseline"], calib["doffs"])
    name = os.path.basename(folder.rstrip("/"))
    return Scene(name, LAYOUT_2014, rgb, depth, valid,
                 np.where(np.isfinite(disp), disp, np.nan).astype(np.float32),
                 focal, float(calib["baseline"]), float(calib["doffs"]), folder)


def _view1_path(folder) -> str:
    direct = os.path.join(folder, "view1.png")
    if os.path.exists(direct):
        return direct
    preferred = os.path.join(folder, "Illum2", "Exp1", "view1.png")
    if os.path.exists(preferred):
        return preferred
    for illum in sorted(d for d in os.listdir(folder) if d.startswith("Illum")):
        for exp in sorted(os.listdir(os.path.join(folder, illum))):
            candidate = os.path.join(folder, illum, exp, "view1.png")
            if os.path.exists(candidate):
                return candidate
    raise FileNotFoundError(f"{folder}: no view1.png (nor Illum*/Exp*/view1.png)")


def read_scene_0506(folder, focal_px: Optional[float] = None,
                    baseline_mm: float = MIDDLEBURY_0506_BASELINE_MM,
                    png_disparity_scale: float = 1.0) -> Scene:
    """A 2005/2006 scene (view 1). ``focal_px`` defaults to 3740 / round(1390 / width)."""
    folder = os.fspath(folder)
    if focal_px is not None:
        focal_px = _check_positive(focal_px, f"read_scene_0506({folder}): focal_px", "px")
    baseline_mm = _check_positive(baseline_mm, f"read_scene_0506({folder}): baseline_mm", "mm")
    png_disparity_scale = _check_positive(
        png_disparity_scale, f"read_scene_0506({folder}): png_disparity_scale", "grey levels/px")
    rgb = _read_rgb(_view1_path(folder))
    disp = _read_png_disparity(os.path.join(folder, "disp1.png")) / float(png_disparity_scale)
    _check_sizes(folder, rgb, disp)
    dmin_path = os.path.join(folder, "dmin.txt")
    if not os.path.exists(dmin_path):
        raise FileNotFoundError(f"{folder}: no dmin.txt (needed to convert disparity to depth)")
    with open(dmin_path) as f:
        text = f.read().strip()
    try:
        dmin = float(text.split()[0])
    except (ValueError, IndexError) as e:
        raise ValueError(f"{dmin_path}: expected one number, got {text[:40]!r}") from e
    if not np.isfinite(dmin):
        raise ValueError(f"{dmin_path}: dmin is {dmin}, expected a finite disparity offset")
    if focal_px is None:
        factor = max(1, int(round(MIDDLEBURY_0506_FULL_WIDTH / disp.shape[1])))
        focal_px = MIDDLEBURY_0506_FOCAL_PX / factor
    depth, valid = disparity_to_depth(disp, focal_px, baseline_mm, dmin, unknown_zero=True)
    name = os.path.basename(folder.rstrip("/"))
    return Scene(name, LAYOUT_0506, rgb, depth, valid,
                 np.where(disp > 0, disp, np.nan).astype(np.float32),
                 float(focal_px), float(baseline_mm), dmin, folder)


def read_scene(folder, **kwargs) -> Scene:
    """Reads one scene folder in whichever layout it has (see the module docstring)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Middlebury scene folder {folder} does not exist")
    layout = layout_of(folder)
    if layout == LAYOUT_2014:
        return read_scene_2014(folder)
    if layout == LAYOUT_0506:
        return read_scene_0506(folder, **kwargs)
    raise ValueError(f"{folder} is not a Middlebury scene: expected calib.txt + disp0.pfm "
                     f"(2014) or disp1.png + dmin.txt (2005/2006); found "
                     f"{sorted(os.listdir(folder))[:10]}")


def _natural(text):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def find_scenes(root) -> List[str]:
    """Scene folders under ``root`` (itself included), in natural path order."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Middlebury root {root} does not exist")
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        if layout_of(dirpath):
            found.append(dirpath)
            dirnames[:] = []          # Illum*/Exp* below a 2005/2006 scene are not scenes
    return sorted(found, key=lambda p: _natural(os.path.relpath(p, root)))


def read_all(root, limit: Optional[int] = None, **kwargs) -> List[Scene]:
    scenes = find_scenes(root)
    if not scenes:
        raise FileNotFoundError(
            f"no Middlebury scene under {root}: expected folders holding calib.txt + "
            f"disp0.pfm + im0.png (2014) or view1.png + disp1.png + dmin.txt (2005/2006)")
    return [read_scene(p, **kwargs) for p in scenes[:limit]]


def load_scenes(data_dir, limit: Optional[int] = None, tfds_data_dir: Optional[str] = None,
                on_change: Optional[str] = None) -> List[Scene]:
    """:func:`read_all` ``(data_dir, limit)`` through the TFDS builder ``middlebury``.

    Prepares the builder with ``manual_dir = data_dir`` into ``tfds_data_dir`` (None: the cache
    of ``data_pipelines.datasets.prepared.default_data_dir``) once, and again when the files
    under ``data_dir`` change (``on_change='error'`` raises instead; see
    ``data_pipelines.datasets.prepared``), then reads it. The scenes are equal to
    :func:`read_all`'s, array for array (lossless storage), in the same natural path order;
    ``path`` is ``data_dir`` joined with the scene's relative path. Only the default
    calibration of 2005/2006 scenes is available (``read_all``'s ``**kwargs`` are not).
    """
    import tensorflow_datasets as tfds

    from data_pipelines import registry
    # importing the builder module registers the builder
    from data_pipelines.datasets import middlebury as builder_module  # noqa: F401
    from data_pipelines.datasets import prepared

    root = os.fspath(data_dir)
    if not find_scenes(root):
        raise FileNotFoundError(
            f"no Middlebury scene under {root}: expected folders holding calib.txt + "
            f"disp0.pfm + im0.png (2014) or view1.png + disp1.png + dmin.txt (2005/2006)")
    builder = prepared.prepare(registry.MIDDLEBURY, root, tfds_data_dir, on_change=on_change)
    out = []
    for ex in tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)):
        rel = ex["name"].decode()
        path = root if rel == "." else os.path.join(root, *rel.split("/"))
        depth = ex["depth"]
        out.append((_natural(rel), Scene(
            os.path.basename(path.rstrip("/")), ex["layout"].decode(), ex["rgb"], depth,
            depth > 0, ex["disparity"], float(ex["focal_px"]), float(ex["baseline_mm"]),
            float(ex["doffs"]), path)))
    out.sort(key=lambda item: item[0])
    return [scene for _, scene in out[:limit]]


# ----------------------------------------------------------------------------------------
# The embedded default
# ----------------------------------------------------------------------------------------

def motorcycle_sample() -> Scene:
    """Middlebury 2014 Motorcycle from ``skimage.data.stereo_motorcycle()`` (needs scikit-image).

    The installed scikit-image (0.26) returns the disparity as (500, 741) float32 with inf
    for unknown pixels (its docstring says (500, 741, 3) and NaN); both are accepted.
    Calibration: :data:`MOTORCYCLE_CALIB`. Depth spans about 2.1 to 5.0 m.
    """
    try:
        from skimage import data as skdata
    except ImportError as e:
        raise ImportError("the embedded Middlebury sample needs scikit-image "
                          "(pip install scikit-image)") from e
    left, _, disp = skdata.stereo_motorcycle()
    disp = np.asarray(disp, np.float32)
    if disp.ndim == 3:
        disp = disp[..., 0]
    c = MOTORCYCLE_CALIB
    depth, valid = disparity_to_depth(disp, c["focal_px"], c["baseline_mm"], c["doffs"])
    return Scene("Motorcycle (skimage, x4 down-sampled)", LAYOUT_2014, np.asarray(left, np.uint8),
                 depth, valid, np.where(np.isfinite(disp), disp, np.nan).astype(np.float32),
                 c["focal_px"], c["baseline_mm"], c["doffs"], "skimage.data.stereo_motorcycle")


# ----------------------------------------------------------------------------------------
# Fixtures (tests): tiny scenes in the exact layouts
# ----------------------------------------------------------------------------------------

def write_fixture_2014(folder, height: int = 32, width: int = 48, seed: int = 0,
                       calib: Optional[dict] = None) -> str:
    """A tiny 2014-layout scene: im0/im1.png, disp0/disp1.pfm (inf holes), calib.txt."""
    rng = np.random.default_rng(seed)
    c = dict(f=100.0, cx=width / 2, cy=height / 2, doffs=8.5, baseline=50.0)
    c.update(calib or {})
    os.makedirs(folder, exist_ok=True)
    xx = np.arange(width, dtype=np.float32)[None, :].repeat(height, 0)
    disp = 10.0 + 20.0 * xx / width + rng.uniform(0, 0.5, (height, width)).astype(np.float32)
    disp[: height // 4, : width // 4] = np.inf
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(os.path.join(folder, "im0.png"), rgb[..., ::-1])
    cv2.imwrite(os.path.join(folder, "im1.png"), rgb[:, ::-1, ::-1])
    write_pfm(os.path.join(folder, "disp0.pfm"), disp)
    write_pfm(os.path.join(folder, "disp1.pfm"), disp[:, ::-1])
    with open(os.path.join(folder, "calib.txt"), "w") as f:
        f.write(f"cam0=[{c['f']} 0 {c['cx']}; 0 {c['f']} {c['cy']}; 0 0 1]\n"
                f"cam1=[{c['f']} 0 {c['cx'] + c['doffs']}; 0 {c['f']} {c['cy']}; 0 0 1]\n"
                f"doffs={c['doffs']}\nbaseline={c['baseline']}\nwidth={width}\n"
                f"height={height}\nndisp=64\nisint=0\nvmin=10\nvmax=31\ndyavg=0\ndymax=0\n")
    return folder


def write_fixture_0506(folder, height: int = 30, width: int = 44, seed: int = 0, dmin: int = 20,
                       multiview: bool = False) -> str:
    """A tiny 2005/2006-layout scene: view1/view5.png (or Illum*/Exp*/), disp1/disp5.png, dmin.txt."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    disp = rng.integers(30, 90, (height, width)).astype(np.uint8)
    disp[-3:, -5:] = 0                                   # unknown
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if multiview:
        for illum in (1, 2, 3):
            for exp in (0, 1, 2):
                sub = os.path.join(folder, f"Illum{illum}", f"Exp{exp}")
                os.makedirs(sub, exist_ok=True)
                shade = rgb if (illum, exp) == (2, 1) else rgb // 2
                for v in (1, 5):
                    cv2.imwrite(os.path.join(sub, f"view{v}.png"), shade[..., ::-1])
    else:
        cv2.imwrite(os.path.join(folder, "view1.png"), rgb[..., ::-1])
        cv2.imwrite(os.path.join(folder, "view5.png"), rgb[:, ::-1, ::-1])
    cv2.imwrite(os.path.join(folder, "disp1.png"), disp)
    cv2.imwrite(os.path.join(folder, "disp5.png"), disp[:, ::-1])
    with open(os.path.join(folder, "dmin.txt"), "w") as f:
        f.write(f"{dmin}\n")
    return folder


# ----------------------------------------------------------------------------------------
# Readers of the 'rgbd_records' view (data_pipelines.registry): held-out splits
# ----------------------------------------------------------------------------------------

#: the embedded sample's crop and its train / held-out columns (a gap of 16 columns between)
SAMPLE_HW = (496, 736)
SAMPLE_TRAIN_COLS = slice(0, 528)
SAMPLE_TEST_COLS = slice(544, 736)
_SPLIT_MULTIPLE = 16       # the one-scene split's cut lies on a multiple of the largest scale


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def sample_rgbd_records(split: str, data_dir=None, limit: Optional[int] = None) -> list:
    """``[(name, rgb, depth metres, valid)]`` of the embedded Motorcycle sample, cropped to
    :data:`SAMPLE_HW`: training columns 0-527, held-out columns 544-735 (one record)."""
    _check_split(split)
    scene = motorcycle_sample()
    h, _ = SAMPLE_HW
    cols = SAMPLE_TRAIN_COLS if split == "train" else SAMPLE_TEST_COLS
    records = [(f"motorcycle_{split}", scene.rgb[:h, cols], scene.depth[:h, cols],
                scene.valid[:h, cols])]
    return records[:limit]


def folder_rgbd_records(split: str, data_dir=None, limit: Optional[int] = None,
                        via_tfds: bool = True) -> list:
    """``[(name, rgb, depth metres, valid)]`` of a folder of scenes (2005/2006/2014 layouts):
    the last quarter of the scenes in natural order is held out; with one scene, its right
    quarter (from a multiple of 16 columns; 16 columns between the parts are unused).

    The scenes come through the TFDS builder (:func:`load_scenes`, prepared once into the
    cache), or with ``via_tfds=False`` straight from the files (:func:`read_all`): the same
    arrays either way."""
    _check_split(split)
    scenes = load_scenes(data_dir) if via_tfds else read_all(data_dir)
    if len(scenes) == 1:
        s = scenes[0]
        w = s.depth.shape[1]
        cut = (w * 3 // 4) // _SPLIT_MULTIPLE * _SPLIT_MULTIPLE
        cols = slice(0, cut - _SPLIT_MULTIPLE) if split == "train" else slice(cut, w)
        records = [(f"{s.name}_{split}", s.rgb[:, cols], s.depth[:, cols], s.valid[:, cols])]
    else:
        n_test = max(1, len(scenes) // 4)
        chosen = scenes[:-n_test] if split == "train" else scenes[-n_test:]
        records = [(s.name, s.rgb, s.depth, s.valid) for s in chosen]
    return records[:limit]
