r"""Real-scan check of an exported depth generator (issue 20): a textured head mesh that you
supply (a 3D scan of a person or a sculpted head: Wavefront OBJ + a texture image; none ships
with depthlab, no download), rendered to RGB and 16-bit depth from a few views, framed the way
``real_photo_check`` frames photographs, through the SavedModel's ``serving_default``, and
scored against the render's own depth: issue 20's "better than any flat face in RMSE on real
scans" and "nose, eye sockets, chin", with ground truth.

  python tools/real_scan_check.py --saved_model=runs/tsgan_demo/saved_model \
      --mesh=head.obj:head_diffuse.png --mesh=eyes.obj:eyes_diffuse.png \
      --mm_per_unit=163.3 --points_json=head_points.json \
      --output=runs/scan_check.png --output_json=runs/scan_check.json

Mesh: ``--mesh=OBJ[:TEXTURE]``, repeatable (a head and its eyeballs). The OBJ's +y is up and
+z faces the camera (the usual orientation of head scans); polygons are split into triangles
as fans; vertex texture coordinates (``vt``, OpenGL convention: v = 0 at the texture's bottom
row) index the texture, sampled bilinearly; a mesh without texture is grey. ``--mm_per_unit``
scales mesh units to millimetres (1000 for a scan in metres; for a model in arbitrary units,
63 / the model's interpupillary distance).

Rendering (``data_pipelines.render.rasterize``, a perspective z-buffer; ``--render_size`` px,
the camera ``--distance_mm`` from the mesh origin with ``--focal_px``): the texture is read as
sRGB, shaded in linear light by ambient + Lambert terms of each view's lights (per-pixel
normals interpolated from area-weighted vertex normals, turned towards the camera) and written
back as sRGB over the view's background; depth is the camera z of the nearest surface, in
whole millimetres, 0 where no mesh. The views (``VIEWS``) turn the head (yaw +-20 deg, pitch
+-10 deg), change the light (a top light, two soft lights) and the background (mid grey);
``--views`` picks some.

Framing (``--crop``): ``detector`` (default) crops the render exactly as ``real_photo_check``
crops a photograph (scikit-image's LBP face detector, calibrated on procedural faces of the
tree on PYTHONPATH), and the depth with it (nearest neighbour); ``whole`` gives the whole
render. The crop goes to the SavedModel at ``--input_size`` px.

Scores per view (``depthlab.face_relief``; ground truth in TS-GAN's [0, 1] near-is-bright
window, ``data_pipelines.paired.tsgan_depth_to_unit``): RMSE in mm over the **face front**
(valid depth within 60 mm of the nearest point) and over the **whole head** (every pixel the
mesh covers: the measure of the issue's first report), each beside the best flat face (the
constant with the least RMSE there), Pearson r over the face front; and with
``--points_json`` (mesh-unit coordinates of ``nose_tip``, ``left_eye``, ``right_eye``,
``left_cheek``, ``right_cheek``, ``chin``; the first three required; eye centres may lie
inside the eyeballs)
the predicted and true nose-vs-eyes, nose-vs-cheeks and chin-vs-neck contrasts (mm; > 0 = the
first point nearer). Printed as a table, written as JSON, and drawn as a grid: crop | true
depth | predicted depth (both coloured over ``--window`` below their nearest value) |
prediction as a lit surface.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import app, flags

# after PYTHONPATH (as real_photo_check): a baseline tree calibrates with its own faces
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import face_framing  # noqa: E402  (tools/, beside this file)

#: sRGB <-> linear light, the plain 2.2 power law
GAMMA = 2.2
#: albedo of a mesh given without texture
UNTEXTURED_ALBEDO = 0.5
#: contrasts' named points a --points_json may give (the neck follows from chin and nose)
POINT_NAMES = ("nose_tip", "left_eye", "right_eye", "left_cheek", "right_cheek", "chin")


@dataclasses.dataclass(frozen=True)
class ObjMesh:
    """A triangle mesh read from OBJ: ``faces`` index ``vertices``; ``face_uvs`` (same shape)
    index ``uvs``, or is None when the file has no (complete) texture coordinates."""
    vertices: np.ndarray              # (V, 3) float64, mesh units
    faces: np.ndarray                 # (F, 3) int64
    uvs: Optional[np.ndarray]         # (T, 2) float64
    face_uvs: Optional[np.ndarray]    # (F, 3) int64


def _obj_index(token: str, count: int, path: str, line_no: int, what: str) -> int:
    """One OBJ index (1-based, or negative = relative to the end) -> 0-based, checked."""
    try:
        i = int(token)
    except ValueError:
        raise ValueError(f"{path}:{line_no}: bad {what} index {token!r}") from None
    j = i - 1 if i > 0 else count + i
    if i == 0 or not 0 <= j < count:
        raise ValueError(f"{path}:{line_no}: {what} index {i} out of range (the file has "
                         f"{count} {what}s so far)")
    return j


def read_obj(path: str) -> ObjMesh:
    """Reads ``v``, ``vt`` and ``f`` lines of a Wavefront OBJ (``f v``, ``f v/vt``,
    ``f v/vt/vn``, ``f v//vn``; polygons as triangle fans); other lines are ignored."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--mesh: no such OBJ file: {path}")
    vertices, uvs, faces, face_uvs = [], [], [], []
    all_uv = True
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                if parts[0] == "v":
                    vertices.append([float(x) for x in parts[1:4]])
                    if len(vertices[-1]) != 3:
                        raise ValueError
                elif parts[0] == "vt":
                    uvs.append([float(x) for x in parts[1:3]])
                    if len(uvs[-1]) != 2:
                        raise ValueError
            except ValueError:
                raise ValueError(f"{path}:{line_no}: bad {parts[0]} line {line.strip()!r}") \
                    from None
            if parts[0] != "f":
                continue
            if len(parts) < 4:
                raise ValueError(f"{path}:{line_no}: a face needs 3 or more vertices: "
                                 f"{line.strip()!r}")
            corners = [p.split("/") for p in parts[1:]]
            vi = [_obj_index(c[0], len(vertices), path, line_no, "vertex") for c in corners]
            has_uv = all(len(c) > 1 and c[1] for c in corners)
            ti = ([_obj_index(c[1], len(uvs), path, line_no, "texture coordinate")
                   for c in corners] if has_uv else None)
            all_uv &= has_uv
            for k in range(1, len(vi) - 1):
                faces.append([vi[0], vi[k], vi[k + 1]])
                face_uvs.append([ti[0], ti[k], ti[k + 1]] if has_uv else [0, 0, 0])
    if not vertices or not faces:
        raise ValueError(f"{path}: no {'vertices' if not vertices else 'faces'} (v / f lines) "
                         "found; is it a Wavefront OBJ?")
    return ObjMesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64),
                   np.asarray(uvs, np.float64) if all_uv else None,
                   np.asarray(face_uvs, np.int64) if all_uv else None)


def read_texture(path: str) -> np.ndarray:
    """A texture image -> float64 linear RGB (H, W, 3) in [0, 1] (8-bit sRGB assumed); any
    format OpenCV or Pillow reads (TGA through Pillow)."""
    import cv2

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--mesh: no such texture file: {path}")
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is not None:
        rgb = bgr[..., ::-1]
    else:
        try:
            from PIL import Image

            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except Exception as e:  # noqa: BLE001 -- re-raised with the file name
            raise ValueError(f"--mesh: cannot read texture {path}: {e}") from None
    return (np.asarray(rgb, np.float64) / 255.0) ** GAMMA


@dataclasses.dataclass(frozen=True)
class View:
    """A pose and a light. Directions are towards the light in the viewer's frame (x right,
    y up, z towards the camera); each light is (direction, weight); ``background`` is 8-bit
    sRGB."""
    name: str
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    lights: Tuple[Tuple[Tuple[float, float, float], float], ...] = (((-0.3, 0.4, 1.0), 0.75),)
    ambient: float = 0.35
    background: Tuple[int, int, int] = (0, 0, 0)


VIEWS = (View("front"), View("yaw-20", yaw_deg=-20.0), View("yaw+20", yaw_deg=20.0),
         View("pitch+10", pitch_deg=10.0), View("pitch-10", pitch_deg=-10.0),
         View("top_light", lights=(((0.0, 1.0, 0.6), 0.8),)),
         View("soft_light", lights=(((-0.5, 0.3, 1.0), 0.35), ((0.5, 0.3, 1.0), 0.35)),
              ambient=0.5),
         View("grey_background", background=(128, 128, 128)))


#: the viewer's frame (x right, y up, z towards the camera) <-> ``render``'s camera axes
#: (x right, y down, z forward)
VIEWER_TO_CAMERA = np.diag([1.0, -1.0, -1.0])


def pose_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rotation in the viewer's frame (x right, y up, z to the camera): yaw about y (> 0 turns
    the face to the image's right), then pitch about x (> 0 turns the face downwards);
    ``render.pose_matrix`` in the viewer's axes (its yaw > 0 turns the nose to image left)."""
    from data_pipelines import render

    return VIEWER_TO_CAMERA @ render.pose_matrix(-yaw_deg, pitch_deg, 0.0) @ VIEWER_TO_CAMERA


@dataclasses.dataclass(frozen=True)
class Camera:
    """Pinhole camera looking along the viewer's -z at the mesh origin ``distance_mm`` away."""
    size: int
    distance_mm: float
    focal_px: float

    def to_camera(self, points_mm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
        """Viewer-frame mm -> ``render``'s camera frame (x right, y down, z forward)."""
        q = np.asarray(points_mm, np.float64) @ rotation.T @ VIEWER_TO_CAMERA
        return q + np.array([0.0, 0.0, self.distance_mm])

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points -> pixel (x, y) (``render.project``: pixel centres at +0.5)."""
        from data_pipelines import render

        return render.project(points_cam, self.size, self.size, self.focal_px)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit; zero for unused vertices)."""
    v = vertices[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    length = np.linalg.norm(out, axis=-1, keepdims=True)
    return np.where(length > 0, out / np.maximum(length, 1e-300), 0.0)


def render_view(meshes: Sequence[Tuple[ObjMesh, Optional[np.ndarray]]], view: View,
                mm_per_unit: float, camera: Camera):
    """Renders textured meshes: (uint8 sRGB (S, S, 3), uint16 depth mm (S, S), 0 = no mesh,
    rotation) for ``camera.project(camera.to_camera(points * mm_per_unit, rotation))``."""
    import cv2

    from data_pipelines import render

    rot = pose_rotation(view.yaw_deg, view.pitch_deg)
    verts, faces, mesh_of_face, corner_uv = [], [], [], []
    offset = 0
    for k, (mesh, _) in enumerate(meshes):
        verts.append(camera.to_camera(mesh.vertices * mm_per_unit, rot))
        faces.append(mesh.faces + offset)
        offset += len(mesh.vertices)
        mesh_of_face.append(np.full(len(mesh.faces), k))
        corner_uv.append(mesh.uvs[mesh.face_uvs] if mesh.uvs is not None
                         else np.zeros(mesh.faces.shape + (2,)))
    verts, faces = np.concatenate(verts), np.concatenate(faces)
    mesh_of_face, corner_uv = np.concatenate(mesh_of_face), np.concatenate(corner_uv)
    size = camera.size
    depth, tri, bary = render.rasterize(verts, faces, size, size, camera.focal_px)
    covered = tri >= 0
    corner_faces = np.arange(3 * len(faces)).reshape(-1, 3)
    uv = render.interpolate(corner_uv.reshape(-1, 2), corner_faces, tri, bary)
    normal = render.interpolate(vertex_normals(verts, faces), faces, tri, bary)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    normal *= np.where(normal[..., 2:] > 0, -1.0, 1.0)      # towards the camera (-z)
    shade = np.full((size, size), view.ambient)
    for direction, weight in view.lights:
        d = np.asarray(direction, np.float64)
        d = VIEWER_TO_CAMERA @ d / np.linalg.norm(d)
        shade += weight * np.clip(normal @ d, 0.0, None)
    albedo = np.full((size, size, 3), UNTEXTURED_ALBEDO ** GAMMA)
    which = np.where(covered, mesh_of_face[np.maximum(tri, 0)], -1)
    for k, (mesh, texture) in enumerate(meshes):
        sel = which == k
        if texture is None or mesh.uvs is None or not sel.any():
            continue
        h, w = texture.shape[:2]
        mx = (uv[..., 0] * w - 0.5).astype(np.float32)
        my = ((1.0 - uv[..., 1]) * h - 0.5).astype(np.float32)
        sampled = cv2.remap(texture.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        albedo[sel] = sampled[sel]
    linear = np.clip(albedo * shade[..., None], 0.0, 1.0)
    srgb = np.round(linear ** (1.0 / GAMMA) * 255.0)
    rgb = np.where(covered[..., None], srgb, np.asarray(view.background, np.float64))
    return rgb.astype(np.uint8), render.depth_to_uint16(depth), rot


def score(pred_unit: np.ndarray, depth_mm: np.ndarray,
          points: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, object]:
    """One view's scores: the prediction ([0, 1] near-is-bright) against uint16 mm depth."""
    from data_pipelines.paired import tsgan_depth_to_unit
    from depthlab import face_relief

    if pred_unit.shape != depth_mm.shape:
        raise ValueError(f"score: prediction {pred_unit.shape} and depth {depth_mm.shape} differ")
    gt, valid = (np.asarray(a) for a in tsgan_depth_to_unit(depth_mm, 16))
    if valid.sum() < 2:
        raise ValueError("score: the mesh covers fewer than 2 pixels of the crop")
    out = {"face_front": face_relief.relief_errors(pred_unit, gt,
                                                   face_relief.face_front_mask(gt, valid)),
           "whole_head": face_relief.relief_errors(pred_unit, gt, valid)}
    if points:
        out["contrasts_pred"] = face_relief.relief_contrasts(pred_unit, points)
        out["contrasts_true"] = face_relief.relief_contrasts(gt, points, valid=valid)
    return out


def read_points(path: str) -> Dict[str, np.ndarray]:
    """--points_json: {name: [x, y, z]} in mesh units, names from ``POINT_NAMES``."""
    with open(path) as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        raise ValueError(f"--points_json={path}: expected an object {{name: [x, y, z]}}")
    out = {}
    for name, xyz in raw.items():
        if name not in POINT_NAMES:
            raise ValueError(f"--points_json={path}: unknown point {name!r}; names: "
                             f"{', '.join(POINT_NAMES)}")
        a = np.asarray(xyz, np.float64)
        if a.shape != (3,) or not np.isfinite(a).all():
            raise ValueError(f"--points_json={path}: {name} must be 3 finite numbers, got {xyz!r}")
        out[name] = a
    missing = [n for n in ("nose_tip", "left_eye", "right_eye") if n not in out]
    if missing:
        raise ValueError(f"--points_json={path}: needs nose_tip, left_eye and right_eye (the eyes "
                         f"set the points' disc radius); missing {', '.join(missing)}")
    return out


def points_in_image(points3: Dict[str, np.ndarray], mm_per_unit: float, rotation: np.ndarray,
                    camera: Camera) -> Dict[str, Tuple[float, float]]:
    """Mesh-unit points -> pixel (x, y) in a view's render."""
    names = list(points3)
    if not names:
        return {}
    xy = camera.project(camera.to_camera(np.stack([points3[n] for n in names]) * mm_per_unit,
                                         rotation))
    return {n: (float(x), float(y)) for n, (x, y) in zip(names, xy)}


FLAGS = flags.FLAGS


def define_flags():
    """The binary's flags (defined when run, not on import: tests import this module beside
    real_photo_check, whose flags share names)."""
    flags.DEFINE_string("saved_model", None, "Exported depth generator (export_depth_generator).")
    flags.DEFINE_multi_string("mesh", None, "OBJ[:TEXTURE] of the head (repeat for e.g. its eyes); "
                              "the OBJ's +y up, +z towards the camera.")
    flags.DEFINE_float("mm_per_unit", None, "Millimetres per mesh unit (1000 for metres).")
    flags.DEFINE_string("points_json", None, "Optional {name: [x, y, z]} of the mesh's nose_tip, "
                        "left_eye, right_eye, left_cheek, right_cheek, chin (mesh units; left = "
                        "the image's left in the front view; nose_tip and the eyes required) "
                        "for the relief contrasts.")
    flags.DEFINE_list("views", [v.name for v in VIEWS], "Views to render (names of VIEWS).")
    flags.DEFINE_enum("crop", "detector", ["detector", "whole"], "detector: frame the face as "
                      "real_photo_check frames photographs; whole: the whole render.")
    flags.DEFINE_integer("render_size", 512, "Render size (px).", lower_bound=32)
    flags.DEFINE_float("distance_mm", 900.0, "Camera distance from the mesh origin (mm).",
                       lower_bound=1.0)
    flags.DEFINE_float("focal_px", 900.0, "Focal length (px) at --render_size.", lower_bound=1.0)
    flags.DEFINE_integer("input_size", 128, "Crop size (px) given to the SavedModel.",
                         lower_bound=16)
    flags.DEFINE_integer("calibration_faces", 12, "Procedural faces used to calibrate the crop.",
                         lower_bound=1)
    flags.DEFINE_integer("tile", 128, "Tile size (px) in the grid.", lower_bound=32)
    flags.DEFINE_integer("columns", 2, "Views per grid row (each takes four tiles: crop, true "
                         "depth, predicted depth, lit surface).", lower_bound=1)
    flags.DEFINE_float("window", 0.4, "Colour range below each depth's nearest value ([0, 1]; "
                       "0.4 = 100 mm of TS-GAN's 250 mm window).", lower_bound=0.01,
                       upper_bound=1.0)
    flags.DEFINE_string("output", "scan_check.png", "PNG grid to write.")
    flags.DEFINE_string("output_json", None, "Also write every score here.")
    flags.mark_flags_as_required(["saved_model", "mesh", "mm_per_unit"])


def _parse_meshes(specs: Sequence[str]):
    meshes = []
    for spec in specs:
        obj, _, tex = spec.partition(":")
        mesh = read_obj(obj)
        texture = read_texture(tex) if tex else None
        if texture is not None and mesh.uvs is None:
            raise ValueError(f"--mesh={spec}: a texture was given but {obj} has faces without "
                             "texture coordinates (f v/vt)")
        meshes.append((mesh, texture))
    return meshes


def _tile(image, t):
    import cv2

    return cv2.resize(image, (t, t), interpolation=cv2.INTER_AREA)


def _table_row(name: str, scores: Dict[str, object], with_points: bool) -> Dict[str, str]:
    """One view's row of the printed table."""
    from depthlab import face_relief

    front, head = scores["face_front"], scores["whole_head"]
    row = {"view": name,
           "face front RMSE mm (best flat)":
               f"{front['rmse_mm']:.1f} ({front['rmse_flat_mm']:.1f})",
           "Pearson r": f"{front['pearson_r']:+.2f}",
           "whole head RMSE mm (best flat)": f"{head['rmse_mm']:.1f} ({head['rmse_flat_mm']:.1f})"}
    for key, _, _ in face_relief.RELIEF_CONTRASTS if with_points else ():
        p, t = (scores[c].get(key, np.nan) for c in ("contrasts_pred", "contrasts_true"))
        row[f"{key} mm (true)"] = f"{p:+.1f} ({t:+.1f})" if np.isfinite(p + t) else "-"
    return row


def _view_tiles(crop, depth_mm, pred, tile: int, window: float) -> List[np.ndarray]:
    """crop | true depth | predicted depth (both coloured over ``window`` below their nearest
    value) | the prediction as a lit surface (2-px Gaussian first, as real_photo_check)."""
    import cv2

    from data_pipelines.paired import tsgan_depth_to_unit
    from depthlab import face_relief, visualize

    gt, valid = (np.asarray(a) for a in tsgan_depth_to_unit(depth_mm, 16))
    hi = float(pred.max())
    col_p = visualize.colorize_depth(pred, mask=np.ones_like(pred, bool),
                                     vmin=min(max(float(pred.min()), hi - window), hi - 1e-3),
                                     vmax=hi, near_is_small=False)
    col_g = visualize.colorize_depth(gt, mask=valid, vmin=1.0 - window, vmax=1.0,
                                     near_is_small=False)
    mm = cv2.GaussianBlur((hi - pred) * face_relief.DEFAULT_FACE_RANGE_MM, (0, 0), 2.0)
    lit = visualize.shade_relief(mm, mask=pred >= hi - window,
                                 pixel_size=face_relief.FRAME_MM_PER_PIXEL_AT_64 * 64 / len(pred))
    return [_tile(crop, tile), _tile(col_g, tile), _tile(col_p, tile), _tile(lit, tile)]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not os.path.isdir(FLAGS.saved_model):
        raise app.UsageError(f"--saved_model={FLAGS.saved_model}: not a directory")
    if FLAGS.mm_per_unit <= 0:
        raise app.UsageError(f"--mm_per_unit={FLAGS.mm_per_unit}: must be > 0")
    by_name = {v.name: v for v in VIEWS}
    unknown = [n for n in FLAGS.views if n not in by_name]
    if unknown or not FLAGS.views:
        raise app.UsageError(f"--views: unknown {unknown or 'empty list'}; choose from "
                             f"{', '.join(by_name)}")
    try:
        meshes = _parse_meshes(FLAGS.mesh)
        points3 = read_points(FLAGS.points_json) if FLAGS.points_json else {}
    except (OSError, ValueError) as e:
        raise app.UsageError(str(e)) from None
    import cv2
    import tensorflow as tf

    from depthlab import reporting, training, visualize

    camera = Camera(FLAGS.render_size, FLAGS.distance_mm, FLAGS.focal_px)
    sig = tf.saved_model.load(FLAGS.saved_model).signatures["serving_default"]
    if FLAGS.crop == "detector":
        detector = face_framing.face_detector()
        calib = face_framing.calibrate(detector, FLAGS.calibration_faces)
    results, rows, tiles = {}, [], []
    size = FLAGS.input_size
    for name in FLAGS.views:
        rgb, depth, rot = render_view(meshes, by_name[name], FLAGS.mm_per_unit, camera)
        pts = points_in_image(points3, FLAGS.mm_per_unit, rot, camera)
        if FLAGS.crop == "detector":
            box = face_framing.detect_face(detector, rgb)
            if box is None:
                print(f"{name}: no face detected in the render, skipped")
                continue
            crop = face_framing.crop_frame(rgb, box, calib, size)
            crop_d = face_framing.crop_frame(depth, box, calib, size, nearest=True)
            pts = face_framing.points_in_crop(pts, box, calib, size) if pts else {}
        else:
            k = size / FLAGS.render_size
            crop = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
            crop_d = cv2.resize(depth, (size, size), interpolation=cv2.INTER_NEAREST)
            pts = face_framing.with_neck({n: np.asarray(p) * k for n, p in pts.items()})
        pred = sig(rgb=tf.constant(crop[None]))["depth"].numpy()[0, ..., 0]
        if pred.shape != crop_d.shape:   # exports from before issue 20: S x S output
            pred = cv2.resize(pred, (size, size), interpolation=cv2.INTER_LINEAR)
        scores = score(pred, crop_d, pts or None)
        results[name] = scores
        rows.append(_table_row(name, scores, bool(points3)))
        tiles += _view_tiles(crop, crop_d, pred, FLAGS.tile, FLAGS.window)
    if not results:
        raise SystemExit("no view could be scored (no face detected in any render; try "
                         "--crop=whole)")
    mean = {region: {k: float(np.mean([r[region][k] for r in results.values()]))
                     for k in ("rmse_mm", "rmse_flat_mm", "pearson_r")}
            for region in ("face_front", "whole_head")}
    print(reporting.markdown_table(rows))
    print(f"mean over {len(results)} views: face front {mean['face_front']['rmse_mm']:.1f} mm "
          f"(best flat {mean['face_front']['rmse_flat_mm']:.1f}), whole head "
          f"{mean['whole_head']['rmse_mm']:.1f} mm (best flat "
          f"{mean['whole_head']['rmse_flat_mm']:.1f})")
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, {"saved_model": FLAGS.saved_model,
                                                "mesh": FLAGS.mesh, "crop": FLAGS.crop,
                                                "views": results, "mean": mean})
    per_row = 4 * FLAGS.columns
    labels = ["render (crop)", "true depth", "predicted depth", "predicted, lit"]
    labels = (labels * min(FLAGS.columns, len(results)))
    grid = visualize.make_grid([tiles[i:i + per_row] for i in range(0, len(tiles), per_row)],
                               labels=labels)
    print(visualize.save_png(FLAGS.output, grid))


if __name__ == "__main__":
    define_flags()
    app.run(main)
