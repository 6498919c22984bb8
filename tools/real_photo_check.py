r"""Real-photo check of an exported depth generator (issue 20): photographs that ship with
scikit-image, cropped to the face the way the demo's training faces are framed, through the
SavedModel's ``serving_default``, as a PNG grid of crop | colourised predicted depth.

  python tools/real_photo_check.py --saved_model=runs/tsgan_demo/saved_model \
      --output=docs/images/real_photo_check.png

Photographs (offline, in scikit-image's data module): ``astronaut()`` (Eileen Collins,
colour), ``camera()`` (the cameraman, grey) and the first ``--lfw`` faces of
``lfw_subset()`` (grey 25x25 face crops), grey ones repeated to three channels.

Cropping (``tools/face_framing.py``, shared with ``real_scan_check``): the generator was
trained on ``synthetic_faces`` frames, so the crop must frame a real face the same way
(``data_pipelines`` is imported from PYTHONPATH first, so a baseline tree on PYTHONPATH
calibrates with the procedural faces its model was trained on). The same face detector (scikit-
image's LBP frontal-face cascade) is run on ``--calibration_faces`` near-frontal procedural
faces; the mean detector box, relative to the frame (side / frame side, centre offset / side),
gives the frame around a detection in a photograph. LFW's 25x25 crops are taken as the
detector's box (they are tight face crops) and padded with black (a training background) to the
same framing. The square crop is passed to the SavedModel at ``--input_size`` px (uint8 RGB;
the signature resizes it to the generator's resolution and returns depth at the input size).
Depth is TS-GAN's [0, 1] near-is-bright image, coloured with near = warm over ``--window``
below each prediction's nearest value (farther, e.g. the background, is the coolest colour),
and beside it the same prediction as a lit surface (``visualize.shade_relief``, light from the
upper left; black beyond the colour window; smoothed by ``--relief_sigma`` first, the colour
tile is not), where a nose, eye sockets and a chin show as shape. Tiles are ``--tile`` px.

Numbers (issue 20): face points were marked by hand -- the astronaut's (``ASTRONAUT_POINTS``,
pixel (x, y) of ``skimage.data.astronaut()``, read off a 6x enlargement with a 5 px grid, each
within about 2 px) and those of three LFW crops (``LFW_POINTS``: eyes, nose tip and cheeks;
the crops end above the chin) -- carried into the crop, and
``depthlab.face_relief.relief_contrasts`` gives the predicted nose-tip-vs-eyes,
nose-tip-vs-cheeks and chin-vs-neck depth differences in mm (a real face: the nose tip some
20-40 mm nearer than the eyes and cheeks, the chin nearer than the neck below it).
``--output_json`` writes them.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

# after PYTHONPATH: a baseline tree on PYTHONPATH calibrates with its own procedural faces
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import face_framing  # noqa: E402  (tools/, beside this file)
from face_framing import (calibrate, crop_frame, detect_face, frame_of,  # noqa: E402,F401
                          points_in_crop)

FLAGS = flags.FLAGS
flags.DEFINE_string("saved_model", None, "Exported depth generator (export_depth_generator).")
flags.DEFINE_string("output", "docs/images/real_photo_check.png", "PNG grid to write.")
flags.DEFINE_integer("lfw", 6, "How many LFW faces (lfw_subset's first 100 are faces).",
                     lower_bound=0, upper_bound=100)
flags.DEFINE_integer("calibration_faces", 12, "Procedural faces used to calibrate the crop.",
                     lower_bound=1)
flags.DEFINE_integer("input_size", 128, "Crop size (px) given to the SavedModel.", lower_bound=16)
flags.DEFINE_integer("tile", 128, "Tile size (px) in the grid.", lower_bound=32)
flags.DEFINE_float("window", 0.4, "Colour range below each prediction's nearest value ([0, 1] "
                   "depth; 0.4 = 100 mm of TS-GAN's 250 mm window): farther is drawn coolest.",
                   lower_bound=0.01, upper_bound=1.0)
flags.DEFINE_integer("columns", 3, "Photographs per grid row (each takes three tiles: crop, "
                     "colour depth, lit surface).", lower_bound=1)
flags.DEFINE_float("relief_sigma", 2.0, "Gaussian sigma (crop pixels) applied to the prediction "
                   "before it is drawn as a lit surface (the colour tile is never smoothed); 2 = one "
                   "pixel of the demo's 64 px generator at the default 128 px crop, which removes "
                   "its 2-pixel checkerboard; 0 = none.", lower_bound=0.0)
flags.DEFINE_string("output_json", None, "Also write the astronaut's relief contrasts (mm) here.")

#: hand-marked points of ``skimage.data.astronaut()`` (pixel x, y; image sides: left_eye is
#: the eye on the image's left); the neck point follows ``face_relief.NECK_BELOW_CHIN``
ASTRONAUT_POINTS = {"nose_tip": (225.0, 128.3), "left_eye": (203.3, 101.3),
                    "right_eye": (245.8, 102.5), "left_cheek": (200.5, 123.0),
                    "right_cheek": (250.0, 123.0), "chin": (225.0, 178.0)}
#: hand-marked points of three of ``skimage.data.lfw_subset()``'s 25x25 crops (pixel x, y,
#: read off a 16x enlargement with a 1 px grid, each within about 1 px; the crops end above
#: the chin, so only the nose contrasts), by index in lfw_subset
LFW_POINTS = {
    0: {"nose_tip": (12.0, 13.5), "left_eye": (8.0, 8.3), "right_eye": (16.0, 7.8),
        "left_cheek": (6.5, 13.0), "right_cheek": (17.0, 12.5)},
    2: {"nose_tip": (10.0, 13.3), "left_eye": (6.0, 8.0), "right_eye": (13.2, 7.0),
        "left_cheek": (5.0, 13.0), "right_cheek": (15.0, 12.5)},
    3: {"nose_tip": (10.5, 14.8), "left_eye": (6.3, 9.5), "right_eye": (15.3, 9.4),
        "left_cheek": (5.0, 14.0), "right_cheek": (16.5, 14.0)}}
flags.mark_flag_as_required("saved_model")


def _rgb(image):
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a


def photographs(detector, calib, lfw: int, size: int):
    """([(name, uint8 RGB crop (size, size, 3))], {name: hand-marked points in the crop}) of
    the offline photographs."""
    import skimage.data

    crops, points = [], {}
    for name, image in (("astronaut", skimage.data.astronaut()),
                        ("cameraman", skimage.data.camera())):
        image = _rgb(image)
        box = detect_face(detector, image)
        if box is None:
            print(f"{name}: no face detected, skipped")
            continue
        crops.append((name, crop_frame(image, box, calib, size)))
        if name == "astronaut":
            points[name] = points_in_crop(ASTRONAUT_POINTS, box, calib, size)
    faces = skimage.data.lfw_subset()[:lfw]
    for k, face in enumerate(faces):
        image = _rgb(face)
        box = (12.5, 12.5, 25.0)
        crops.append((f"lfw{k}", crop_frame(image, box, calib, size)))
        if k in LFW_POINTS:
            points[f"lfw{k}"] = points_in_crop(LFW_POINTS[k], box, calib, size)
    return crops, points


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not os.path.isdir(FLAGS.saved_model):
        raise app.UsageError(f"--saved_model={FLAGS.saved_model}: not a directory")
    import cv2
    import tensorflow as tf

    from depthlab import face_relief, training, visualize

    detector = face_framing.face_detector()
    calib = calibrate(detector, FLAGS.calibration_faces)
    crops, points = photographs(detector, calib, FLAGS.lfw, FLAGS.input_size)
    sig = tf.saved_model.load(FLAGS.saved_model).signatures["serving_default"]
    batch = np.stack([c for _, c in crops])
    depth = sig(rgb=tf.constant(batch))["depth"].numpy()[..., 0]
    if depth.shape[1:] != batch.shape[1:3]:    # exports from before issue 20: S x S output
        print(f"note: the SavedModel returned {depth.shape[1:]} depth for {batch.shape[1:3]} "
              "input; resized here (bilinear)")
        depth = np.stack([cv2.resize(d, batch.shape[2:0:-1], interpolation=cv2.INTER_LINEAR)
                          for d in depth])
    tiles = []
    for (name, crop), d in zip(crops, depth):
        t = FLAGS.tile
        rgb = cv2.resize(crop, (t, t), interpolation=cv2.INTER_AREA)
        hi = float(d.max())
        lo = min(max(float(d.min()), hi - FLAGS.window), hi - 1e-3)
        col = visualize.colorize_depth(d, mask=np.ones_like(d, bool), vmin=lo, vmax=hi,
                                       near_is_small=False)
        col = cv2.resize(col, (t, t), interpolation=cv2.INTER_NEAREST)
        # near-is-bright [0, 1] -> mm, near small; one crop pixel ~ frame mm / input px
        mm = (hi - d) * face_relief.DEFAULT_FACE_RANGE_MM
        if FLAGS.relief_sigma > 0:
            mm = cv2.GaussianBlur(mm, (0, 0), FLAGS.relief_sigma)
        mm_per_px = face_relief.FRAME_MM_PER_PIXEL_AT_64 * 64.0 / len(d)
        lit = visualize.shade_relief(mm, mask=d >= lo, pixel_size=mm_per_px)
        lit = cv2.resize(lit, (t, t), interpolation=cv2.INTER_AREA)
        print(f"{name}: predicted depth range [{float(d.min()):.3f}, {hi:.3f}]")
        tiles += [rgb, col, lit]
    contrasts = {name: face_relief.relief_contrasts(depth[[n for n, _ in crops].index(name)], pts)
                 for name, pts in points.items()}
    for name, values in contrasts.items():
        print(f"{name}: " + ", ".join(f"{k} {v:+.1f} mm" for k, v in values.items())
              + " (hand-marked points; > 0 = the first point is nearer)")
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, {"saved_model": FLAGS.saved_model,
                                                "relief_contrasts_mm": contrasts})
    per_row = 3 * FLAGS.columns
    rows = [tiles[i:i + per_row] for i in range(0, len(tiles), per_row)]
    grid = visualize.make_grid(rows)
    print(visualize.save_png(FLAGS.output, grid))


if __name__ == "__main__":
    app.run(main)
