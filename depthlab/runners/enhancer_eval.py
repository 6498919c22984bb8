"""Evaluation of the face depth enhancers: the paper's Tables IV-VII on one test set.

For each test face: the ground truth (GT, mm), its degraded version (holes + noise + blur,
never the DL helpers: section IV-C), and each enhancer's output. Everything is compared in
the network convention: [0, 1] over the GT's 250 mm window, holes = 1.0 (the paper's 65535).
The RealSense baselines run on the degraded uint16 millimetres with 0-holes (the SDK's
convention), and their output is normalised with the GT's window afterwards.

- Table IV: RMSE over the face area (GT non-hole pixels): mean, std, skewness, excess
  kurtosis over images, sorted by mean.
- Table V: roughness and hole percentage over the landmark face mask (x100 as the paper).
- Table VI: falsification RMSE between input and output within the face mask, ignoring the
  input's holes, for Neutral inputs and for synthetic OcclusionMouth / OcclusionPaper inputs.
- Table VII: landmark-hole rate (68 landmarks) and the simple geometric PAD error.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from data_pipelines import degradation as deg
from data_pipelines import face_enhancement as fe
from data_pipelines import occlusion
from data_pipelines.conventions import UNIT_HOLE as HOLE
from depthlab import face_eval, handcrafted, training

Enhancer = Callable[[np.ndarray, np.ndarray], np.ndarray]
PC = 0.5          # synthetic_faces puts pixel centres at i + 0.5


def _normalise(mm: np.ndarray, near: np.ndarray) -> np.ndarray:
    """uint16/float mm (N,H,W), 0 = hole -> [0,1] with holes 1.0, using the GT windows."""
    mm = tf.convert_to_tensor(mm, tf.float32)
    norm, valid, _ = deg.normalize_face_depth(mm, near_mm=near)
    return deg.to_paper_convention(norm, valid=valid).numpy()


def handcrafted_enhancers() -> Dict[str, Enhancer]:
    """The paper's Table II baselines: (degraded mm uint16, near) -> normalised output."""
    out = {}
    for name, fn in handcrafted.PAPER_ENHANCERS.items():
        out[name] = (lambda f: lambda mm, near: _normalise(f(mm), near))(fn)
    return out


def dl_enhancer(model, batch_size: int = 8) -> Enhancer:
    def run(mm, near):
        x = _normalise(mm, near)[..., None]
        y = model.predict(x, batch_size=batch_size, verbose=0)[..., 0]
        return np.clip(y, 0.0, HOLE)
    return run


def make_test_set(count: int, seed: int, image_size: int = 256,
                  config: Optional[deg.DegradationConfig] = None):
    """(gt FaceDepthSet, degraded uint16 mm (N,H,W), near (N,)) on unseen identities."""
    from depthlab.runners.enhancer import TEST_IDENTITY_OFFSET

    gt = fe.synthetic_ground_truth(count, seed=seed, image_size=image_size,
                                   identity_offset=TEST_IDENTITY_OFFSET)
    config = deg.DegradationConfig(helper="none") if config is None else config
    gt_mm = tf.constant(gt.depth_mm, tf.float32)
    degraded, _ = deg.degrade(gt_mm, deg.index_seeds(seed + 1, tf.range(count)), config)
    _, _, near = deg.normalize_face_depth(gt_mm)
    degraded = np.round(degraded.numpy()).clip(0, 65534).astype(np.uint16)
    return gt, degraded, near.numpy()


def evaluate(enhancers: Dict[str, Enhancer], gt: fe.FaceDepthSet, degraded: np.ndarray,
             near: np.ndarray, seed: int = 0) -> Dict[str, object]:
    """Per-enhancer Table IV-VII figures (plus per-image RMSEs) and outputs for a figure."""
    gt_norm = _normalise(gt.depth_mm, near)
    gt_valid = gt.depth_mm > 0
    marks = gt.landmarks
    masks = np.stack([face_eval.face_mask_from_landmarks(m, gt_norm.shape[1:], pixel_centre=PC) for m in marks])
    occluded = {
        "OcclusionMouth": [occlusion.occlude_mouth_hand(d, m, seed + i, valid=d > 0, pixel_centre=PC)[0]
                           for i, (d, m) in enumerate(zip(degraded, marks))],
        "OcclusionPaper": [occlusion.occlude_paper_sheet(d, m, seed + i, valid=d > 0, pixel_centre=PC)[0]
                           for i, (d, m) in enumerate(zip(degraded, marks))],
    }
    occluded = {k: np.stack(v).astype(np.uint16) for k, v in occluded.items()}
    all_enhancers = {"None": lambda mm, n: _normalise(mm, n)}
    all_enhancers.update(enhancers)

    results, outputs = {}, {}
    for name, fn in all_enhancers.items():
        out = fn(degraded, near)
        outputs[name] = out
        inp = _normalise(degraded, near)
        rmses = [face_eval.face_area_rmse(o, g, v) for o, g, v in zip(out, gt_norm, gt_valid)]
        row = dict(face_eval.distribution_stats(np.asarray(rmses)))
        row["rmse_per_image"] = rmses
        out_valid = out < HOLE
        row["roughness"] = float(np.mean([face_eval.roughness(o, m, v)
                                          for o, m, v in zip(out, masks, out_valid)]))
        row["hole_percentage"] = float(np.mean([face_eval.hole_percentage(o, m, HOLE)
                                                for o, m in zip(out, masks)]))
        row["falsification_Neutral"] = float(np.mean([
            face_eval.falsification_rmse(i, o, m, i < HOLE) for i, o, m in zip(inp, out, masks)]))
        for cond, occ in occluded.items():
            occ_in = _normalise(occ, near)
            occ_out = fn(occ, near)
            row[f"falsification_{cond}"] = float(np.mean([
                face_eval.falsification_rmse(i, o, m, i < HOLE)
                for i, o, m in zip(occ_in, occ_out, masks)]))
        row["landmark_holes"] = float(np.mean([face_eval.landmark_hole_rate(o, m, valid=o < HOLE, pixel_centre=PC)
                                               for o, m in zip(out, marks)]))
        row["pad_error"] = float(np.mean([face_eval.pad_error(o, m, o < HOLE, near_is_small=True, pixel_centre=PC)
                                          for o, m in zip(out, marks)]))
        results[name] = row
    return {"results": results, "outputs": outputs, "gt": gt_norm, "input": _normalise(degraded, near),
            "masks": masks}


TABLES = {
    "IV": ("Table IV: face-area RMSE ([0,1] depth, GT non-hole pixels), over images",
           ["mean", "std", "skewness", "excess_kurtosis"]),
    "V": ("Table V: roughness and hole percentage over the face mask (x100)",
          ["roughness", "hole_percentage"]),
    "VI": ("Table VI: falsification RMSE (%) input vs output, face mask, input holes ignored",
           ["falsification_Neutral", "falsification_OcclusionMouth", "falsification_OcclusionPaper"]),
    "VII": ("Table VII: landmark-hole rate and simple geometric PAD error (fractions of 68)",
            ["landmark_holes", "pad_error"]),
}
_X100 = {"roughness", "hole_percentage", "falsification_Neutral", "falsification_OcclusionMouth",
         "falsification_OcclusionPaper"}


def table_rows(results: Dict[str, dict], table: str) -> List[dict]:
    _, cols = TABLES[table]
    names = list(results)
    if table == "IV":
        names.sort(key=lambda n: results[n]["mean"])
    rows = []
    for n in names:
        rows.append(dict({"enhancer": n}, **{c: results[n][c] * (100 if c in _X100 else 1)
                                             for c in cols}))
    return rows


def save_figure(path: str, evaluation: Dict[str, object], count: int = 3) -> str:
    """Paper Figs. 13-14 style: GT, degraded, each enhancer, colourised, masked to the face."""
    from depthlab import visualize

    names = list(evaluation["outputs"])
    rows = []
    for i in range(min(count, len(evaluation["gt"]))):
        m = evaluation["masks"][i]
        cells = [evaluation["gt"][i], evaluation["input"][i]] + [evaluation["outputs"][n][i] for n in names]
        rows.append([visualize.colorize_depth(c, mask=(c < HOLE) & m, vmin=0.0, vmax=1.0) for c in cells])
    grid = visualize.make_grid(rows, labels=["GT", "degraded"] + names)
    visualize.save_png(path, grid)
    return path


# our result keys -> the column keys of experiments/paper_tables/face_enhancement_table{4,6}.json
PAPER_COLUMNS = {
    "mean": "rmse_mean", "std": "rmse_std", "skewness": "rmse_skewness",
    "excess_kurtosis": "rmse_excess_kurtosis", "roughness": "roughness",
    "hole_percentage": "hole_percentage", "falsification_Neutral": "falsification_neutral",
    "falsification_OcclusionMouth": "falsification_occlusion_mouth",
    "falsification_OcclusionPaper": "falsification_occlusion_paper",
    "landmark_holes": "landmark_holes", "pad_error": "pad_error",
}


def paper_rows(results: Dict[str, dict]) -> Dict[str, Dict[str, float]]:
    """``{enhancer: {paper column: value}}`` with the paper's scaling (x100 where it uses %)."""
    return {name: {PAPER_COLUMNS[k]: float(row[k]) * (100 if k in _X100 else 1)
                   for k in PAPER_COLUMNS}
            for name, row in results.items()}


def write_json(path: str, evaluation: Dict[str, object], **metadata) -> None:
    """``{"rows": {enhancer: {paper column: value}}, "rmse_per_image": {...}, **metadata}``;
    ``experiments.compare_paper --run_json`` prints the rows beside the paper's tables."""
    results = evaluation["results"]
    training.write_json(path, dict(metadata, rows=paper_rows(results),
                                   rmse_per_image={n: r["rmse_per_image"] for n, r in results.items()}))
