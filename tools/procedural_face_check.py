r"""Procedural-face check of an exported depth generator (issue 20): where on the face the
depth goes right or wrong, on embedded faces with ground truth, per domain.

  python tools/procedural_face_check.py --saved_model=runs/tsgan_demo/saved_model \
      --faces=unseen --output_json=runs/faces_unseen.json
  python tools/procedural_face_check.py --saved_model=runs/tsgan_demo/saved_model \
      --faces=training --data_seed=0      # the run's --seed: train_tsgan's data seed

Faces (``data_pipelines.synthetic_faces.generate_face``, sample 0, ``--image_size`` px, no
framing jitter): ``unseen`` = identities 300,000 + i, never drawn by any trainer (training
identities start at 0, held-out ones at ``sources.SYNTHETIC_TEST_IDENTITY_OFFSET`` = 100,000);
``training`` = identities i = 0, 1, ... of the run's training split: the paired (source)
faces G_A2B is supervised on and the target-domain RGB the student sees without depth. Both
are a pure function of ``--data_seed``, so ``training`` is the run's own faces only when it
equals the run's ``--seed`` and the run kept the default face options (a run with
``--synthetic_diffuse_light`` > 0 lit some of its faces otherwise).

Per domain, means over the ``--count`` faces (ground truth through ``tsgan_depth_to_unit``,
the TS-GAN convention: near-is-bright over 250 mm from each image's nearest valid pixel):
- face front (valid depth within 60 mm of the nearest point, ``face_relief.face_front_mask``):
  RMSE of the prediction and of the best flat face, and Pearson r (``relief_errors``);
- the relief contrasts of ``face_relief.RELIEF_CONTRASTS`` (nose vs eyes, nose vs cheeks,
  chin vs neck; mm, > 0 = the first point nearer), predicted and true, at the named points
  of the face's 68 landmarks (``points_from_68``);
- each named point's offset, predicted minus true depth (mm; > 0 = predicted nearer),
  averaged over a disc of a tenth of the inter-eye distance (``disc_mean``).
"""

import json
import os
import sys

from absl import app, flags

# after PYTHONPATH: a tree on PYTHONPATH is the one measured
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

#: first identity of ``--faces=unseen``: above every trainer's training and held-out ranges
UNSEEN_IDENTITY_OFFSET = 300_000
DOMAINS = ("source", "target")

FLAGS = flags.FLAGS


def define_flags():
    """The binary's flags (defined when run, not on import: tests import this module beside
    real_photo_check and real_scan_check, whose flags share names)."""
    flags.DEFINE_string("saved_model", None, "Exported depth generator (export_depth_generator).")
    flags.DEFINE_enum("faces", "unseen", ["unseen", "training"],
                      "unseen: identities 300,000+ (no trainer draws them); training: identities "
                      "0.. of the training split (the run's own faces when --data_seed is its "
                      "--seed).")
    flags.DEFINE_integer("data_seed", 0, "FaceConfig seed of the faces (train_tsgan: its --seed).",
                         lower_bound=0)
    flags.DEFINE_integer("count", 48, "Faces per domain.", lower_bound=1)
    flags.DEFINE_integer("image_size", 64, "Size (px) the faces are rendered at and given to the "
                         "SavedModel (the demo trains at 64).", lower_bound=16)
    flags.DEFINE_string("output_json", None, "Also write the per-domain means here.")
    flags.mark_flag_as_required("saved_model")


def make_faces(kind: str, domain: str, count: int, image_size: int, data_seed: int):
    """RGB (N, S, S, 3) uint8, depth (N, S, S) uint16 mm, landmarks (N, 68, 2) of the faces
    the module docstring describes."""
    from data_pipelines import synthetic_faces as sf

    if kind not in ("unseen", "training"):
        raise ValueError(f"make_faces: kind must be 'unseen' or 'training', got {kind!r}")
    first = UNSEEN_IDENTITY_OFFSET if kind == "unseen" else 0
    config = sf.FaceConfig(image_size=image_size, domain=domain, seed=data_seed)
    faces = [sf.generate_face(first + i, 0, config) for i in range(count)]
    return (np.stack([f["rgb"] for f in faces]), np.stack([f["depth"] for f in faces]),
            np.stack([f["landmarks"] for f in faces]))


def score(pred_unit: np.ndarray, depth_mm: np.ndarray, landmarks: np.ndarray) -> dict:
    """Means over the faces of the face-front errors, the relief contrasts (predicted and
    true) and the named points' offsets (module docstring). ``pred_unit`` (N, S, S) in the
    near-is-bright [0, 1] convention; ``depth_mm`` (N, S, S) raw; ``landmarks`` (N, 68, 2)."""
    from data_pipelines.paired import tsgan_depth_to_unit
    from depthlab import face_relief as fr

    pred_unit = np.asarray(pred_unit, np.float64)
    if pred_unit.shape != np.shape(depth_mm) or len(landmarks) != len(pred_unit):
        raise ValueError(f"score: prediction {pred_unit.shape}, depth {np.shape(depth_mm)} and "
                         f"{len(landmarks)} landmark sets do not match")
    unit, valid = (t.numpy() for t in tsgan_depth_to_unit(depth_mm, 16))
    errors, pred_c, true_c, offsets = [], [], [], []
    for i in range(len(pred_unit)):
        region = fr.face_front_mask(unit[i], valid[i])
        errors.append(fr.relief_errors(pred_unit[i], unit[i], region))
        points = fr.points_from_68(landmarks[i])
        radius = fr.point_radius(points)
        pred_c.append(fr.relief_contrasts(pred_unit[i], points, radius))
        true_c.append(fr.relief_contrasts(unit[i], points, radius, valid=valid[i]))
        offsets.append({name: (fr.disc_mean(pred_unit[i], xy, radius)
                               - fr.disc_mean(unit[i], xy, radius, valid[i]))
                        * fr.DEFAULT_FACE_RANGE_MM for name, xy in points.items()})

    def mean(rows, key):
        return float(np.nanmean([r.get(key, np.nan) for r in rows]))

    return {"faces": len(pred_unit),
            "face_front": {k: mean(errors, k) for k in errors[0]},
            "contrasts_pred": {k: mean(pred_c, k) for k in true_c[0]},
            "contrasts_true": {k: mean(true_c, k) for k in true_c[0]},
            "point_offsets_mm": {k: mean(offsets, k) for k in offsets[0]}}


def main(argv):
    del argv
    if not os.path.isdir(FLAGS.saved_model):
        raise app.UsageError(f"--saved_model={FLAGS.saved_model}: not a directory")
    import tensorflow as tf

    sig = tf.saved_model.load(FLAGS.saved_model).signatures["serving_default"]
    results = {"saved_model": FLAGS.saved_model, "faces": FLAGS.faces,
               "data_seed": FLAGS.data_seed, "image_size": FLAGS.image_size}
    for domain in DOMAINS:
        rgb, depth, landmarks = make_faces(FLAGS.faces, domain, FLAGS.count, FLAGS.image_size,
                                           FLAGS.data_seed)
        pred = sig(rgb=tf.constant(rgb))["depth"].numpy()[..., 0]
        res = results[domain] = score(pred, depth, landmarks)
        ff, pc, tc = res["face_front"], res["contrasts_pred"], res["contrasts_true"]
        print(f"{domain} ({FLAGS.faces}, {res['faces']} faces, data seed {FLAGS.data_seed}): "
              f"face front RMSE {ff['rmse_mm']:.1f} mm (best flat face {ff['rmse_flat_mm']:.1f}), "
              f"Pearson r {ff['pearson_r']:+.2f}")
        print("  " + ", ".join(f"{k} {pc[k]:+.1f} mm (true {tc[k]:+.1f})" for k in tc))
        print("  predicted - true depth at: " + ", ".join(
            f"{k} {v:+.1f}" for k, v in res["point_offsets_mm"].items()) + " mm (> 0: nearer)")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(results, f, indent=1)
        print(FLAGS.output_json)


if __name__ == "__main__":
    define_flags()
    app.run(main)
