"""Evaluation of the face depth enhancers: the paper's Tables IV-VII on one test set.

For each test face: the ground truth (GT, mm), its degraded version (holes + noise + blur,
never the DL helpers: section IV-C), and each enhancer's output. Everything is compared in
the network convention: [0, 1] over the GT's 250 mm window, holes = 1.0 (the paper's 65535).

The RealSense baselines (Table II) run, by default, as the paper ran them: on the face-window
16-bit codes with 65535 = hole (``convention="paper_codes"``, ``handcrafted.paper_enhancer``;
paper lines 771-775, 801-805, 1465-1474), so the spatial filter's delta 20 is 20 codes.
``convention="millimetres"`` feeds the degraded uint16 millimetres with 0-holes instead (the
SDK's camera convention; delta 20 = 20 mm) and normalises the output with the GT's window.

- Table IV: RMSE over the face area (GT non-hole pixels): mean, std, skewness, excess
  kurtosis over images, sorted by mean.
- Table V: roughness and hole percentage over the landmark face mask (x100 as the paper), mean
  and sample standard deviation over images.
- Table VI: falsification RMSE between input and output within the face mask, ignoring the
  input's holes, for Neutral inputs and for synthetic OcclusionMouth / OcclusionPaper inputs;
  mean and sample standard deviation.
- Table VII: three groups, each mean / sample sd / min / max over its images: manual landmark
  holes (6 points) and Dlib landmark holes (68 points), each on the images whose unenhanced
  input has at least one hole at those landmarks (lines 1273-1276); the simple geometric PAD
  error on the Dlib subset (``pad_subset="dlib_holes"``, our choice: the text names no set for
  it, lines 1282-1292) or on all images (``"all"``).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from data_pipelines import degradation as deg
from data_pipelines import face_enhancement as fe
from data_pipelines import occlusion
from data_pipelines.conventions import PAPER_HOLE_CODE
from data_pipelines.conventions import UNIT_HOLE as HOLE
from depthlab import face_eval, handcrafted, training
from depthlab.hole_conventions import refuse_paper_holes

Enhancer = Callable[[np.ndarray, np.ndarray], np.ndarray]
PC = 0.5          # synthetic_faces puts pixel centres at i + 0.5
#: --filter_input values (``handcrafted.INPUT_CONVENTIONS``); the first is the paper's.
FILTER_INPUTS = handcrafted.INPUT_CONVENTIONS
PAD_SUBSETS = ("dlib_holes", "all")


def _check_mm(mm, where: str) -> np.ndarray:
    """Degraded / occluded millimetres with 0 = hole; 65535 pixels (the paper's hole code fed
    where 0 = hole is expected) are refused naming ``where``."""
    refuse_paper_holes(mm, where, "eval inputs are millimetres with 0 = hole (the paper's "
                       "65535-hole codes are made inside the evaluation, per image window)")
    return mm


def _normalise(mm: np.ndarray, near: np.ndarray) -> np.ndarray:
    """uint16/float mm (N,H,W), 0 = hole -> [0,1] with holes 1.0, using the GT windows."""
    mm = tf.convert_to_tensor(mm, tf.float32)
    norm, valid, _ = deg.normalize_face_depth(mm, near_mm=near)
    return deg.to_paper_convention(norm, valid=valid).numpy()


def to_codes(mm: np.ndarray, near: np.ndarray) -> np.ndarray:
    """uint16 mm (N,H,W), 0 = hole -> the paper's 16-bit codes over the GT windows (valid
    round(x * 65535) capped at 65534, holes 65535; section IV-J, lines 1465-1474)."""
    mm = tf.convert_to_tensor(mm, tf.float32)
    norm, valid, _ = deg.normalize_face_depth(mm, near_mm=near)
    return deg.to_uint16(norm, valid).numpy()


def from_codes(codes: np.ndarray) -> np.ndarray:
    """The paper's codes -> [0, 1] float, holes 1.0 (65535 / 65535)."""
    return np.asarray(codes, np.float64) / float(PAPER_HOLE_CODE)


def handcrafted_enhancers(convention: str = "paper_codes") -> Dict[str, Enhancer]:
    """The paper's Table II baselines: (degraded mm uint16, near) -> normalised output.

    ``convention``: how the SDK filters are fed (module docstring): "paper_codes" (default,
    the paper's) or "millimetres"."""
    if convention not in FILTER_INPUTS:
        raise ValueError(f"handcrafted_enhancers: convention must be one of {FILTER_INPUTS}, "
                         f"got {convention!r}")
    out = {}
    for name in handcrafted.PAPER_ENHANCERS:
        fn = handcrafted.paper_enhancer(name, convention)
        if convention == "paper_codes":
            out[name] = (lambda f: lambda mm, near: from_codes(f(to_codes(mm, near))))(fn)
        else:
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


def _group_stats(row: dict, key: str, values, subset) -> None:
    """``row[key]``, ``_std``, ``_min``, ``_max`` over ``values[subset]`` (None when empty)."""
    stats = face_eval.subset_stats(values, subset)
    for suffix, stat in (("", "mean"), ("_std", "sd"), ("_min", "min"), ("_max", "max")):
        row[key + suffix] = None if stats is None else stats[stat]


def evaluate(enhancers: Dict[str, Enhancer], gt: fe.FaceDepthSet, degraded: np.ndarray,
             near: np.ndarray, seed: int = 0, pad_subset: str = "dlib_holes"
             ) -> Dict[str, object]:
    """Per-enhancer Table IV-VII figures (plus per-image values), Table VII's subsets and the
    outputs for a figure. ``degraded``: uint16 mm with 0 = hole (65535 pixels are refused)."""
    if pad_subset not in PAD_SUBSETS:
        raise ValueError(f"evaluate: pad_subset must be one of {PAD_SUBSETS}, got {pad_subset!r}")
    _check_mm(degraded, "enhancer_eval.evaluate: degraded")
    gt_norm = _normalise(gt.depth_mm, near)
    gt_valid = gt.depth_mm > 0
    marks = gt.landmarks
    manual = [face_eval.manual_landmarks_from_dlib(m) for m in marks]
    masks = np.stack([face_eval.face_mask_from_landmarks(m, gt_norm.shape[1:], pixel_centre=PC) for m in marks])
    occluded = {
        "OcclusionMouth": [occlusion.occlude_mouth_hand(d, m, seed + i, valid=d > 0, pixel_centre=PC)[0]
                           for i, (d, m) in enumerate(zip(degraded, marks))],
        "OcclusionPaper": [occlusion.occlude_paper_sheet(d, m, seed + i, valid=d > 0, pixel_centre=PC)[0]
                           for i, (d, m) in enumerate(zip(degraded, marks))],
    }
    occluded = {k: _check_mm(np.stack(v).astype(np.uint16), f"enhancer_eval.evaluate: {k}")
                for k, v in occluded.items()}
    all_enhancers = {"None": lambda mm, n: _normalise(mm, n)}
    all_enhancers.update(enhancers)

    inp = _normalise(degraded, near)
    # Table VII's subsets: images whose unenhanced input has >= 1 landmark hole
    in_manual = [face_eval.landmark_hole_rate(i, m, valid=i < HOLE, pixel_centre=PC)
                 for i, m in zip(inp, manual)]
    in_dlib = [face_eval.landmark_hole_rate(i, m, valid=i < HOLE, pixel_centre=PC)
               for i, m in zip(inp, marks)]
    subsets = {"manual_landmark_holes": face_eval.landmark_hole_subset(in_manual),
               "landmark_holes": face_eval.landmark_hole_subset(in_dlib)}
    subsets["pad_error"] = (subsets["landmark_holes"] if pad_subset == "dlib_holes"
                            else np.arange(len(inp)))

    results, outputs = {}, {}
    for name, fn in all_enhancers.items():
        out = fn(degraded, near)
        outputs[name] = out
        rmses = [face_eval.face_area_rmse(o, g, v) for o, g, v in zip(out, gt_norm, gt_valid)]
        row = dict(face_eval.distribution_stats(np.asarray(rmses)))
        row["rmse_per_image"] = rmses
        out_valid = out < HOLE
        per_image = {
            "roughness": [face_eval.roughness(o, m, v) for o, m, v in zip(out, masks, out_valid)],
            "hole_percentage": [face_eval.hole_percentage(o, m, HOLE) for o, m in zip(out, masks)],
            "falsification_Neutral": [face_eval.falsification_rmse(i, o, m, i < HOLE)
                                      for i, o, m in zip(inp, out, masks)]}
        for cond, occ in occluded.items():
            occ_in = _normalise(occ, near)
            occ_out = fn(occ, near)
            per_image[f"falsification_{cond}"] = [
                face_eval.falsification_rmse(i, o, m, i < HOLE)
                for i, o, m in zip(occ_in, occ_out, masks)]
        for key, values in per_image.items():
            stats = face_eval.sample_stats(values)
            row[key], row[key + "_sd"] = stats["mean"], stats["sd"]
        manual_rates = [face_eval.landmark_hole_rate(o, m, valid=o < HOLE, pixel_centre=PC)
                        for o, m in zip(out, manual)]
        dlib_rates = [face_eval.landmark_hole_rate(o, m, valid=o < HOLE, pixel_centre=PC)
                      for o, m in zip(out, marks)]
        pad = [face_eval.pad_error(o, m, o < HOLE, near_is_small=True, pixel_centre=PC)
               for o, m in zip(out, marks)]
        for key, values in (("manual_landmark_holes", manual_rates),
                            ("landmark_holes", dlib_rates), ("pad_error", pad)):
            _group_stats(row, key, values, subsets[key])
        results[name] = row
    return {"results": results, "outputs": outputs, "gt": gt_norm, "input": inp,
            "masks": masks, "subsets": {k: v.tolist() for k, v in subsets.items()}}


TABLES = {
    "IV": ("Table IV: face-area RMSE ([0,1] depth, GT non-hole pixels), over images",
           ["mean", "std", "skewness", "excess_kurtosis"]),
    "V": ("Table V: roughness and hole percentage over the face mask (x100), mean (sample sd)",
          ["roughness", "hole_percentage"]),
    "VI": ("Table VI: falsification RMSE (%) input vs output, face mask, input holes ignored, "
           "mean (sample sd)",
           ["falsification_Neutral", "falsification_OcclusionMouth", "falsification_OcclusionPaper"]),
    "VII": ("Table VII: landmark holes (manual 6 / Dlib 68, on the images whose input has a "
            "landmark hole) and simple geometric PAD error, mean / sample sd / min / max",
            ["manual_landmark_holes", "landmark_holes", "pad_error"]),
}
_X100 = {"roughness", "hole_percentage", "falsification_Neutral", "falsification_OcclusionMouth",
         "falsification_OcclusionPaper"}
_MEAN_SD = ("V", "VI")
_GROUP_SUFFIXES = ("", "_std", "_min", "_max")


def _fmt(v, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def table_rows(results: Dict[str, dict], table: str) -> List[dict]:
    """Rows for ``reporting.markdown_table``: IV numbers sorted by mean; V and VI "mean (sd)"
    strings (x100); VII one "mean / sd / min / max" string per group."""
    _, cols = TABLES[table]
    names = list(results)
    if table == "IV":
        names.sort(key=lambda n: results[n]["mean"])
    rows = []
    for n in names:
        r = results[n]
        if table == "IV":
            cells = {c: r[c] for c in cols}
        elif table in _MEAN_SD:
            cells = {c: f"{100 * r[c]:.3f} ({100 * r[c + '_sd']:.3f})" for c in cols}
        else:
            cells = {c: " / ".join(_fmt(r[c + s], 3) for s in _GROUP_SUFFIXES) for c in cols}
        rows.append(dict({"enhancer": n}, **cells))
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


# our result keys -> the column keys of experiments/paper_tables/face_enhancement_table{4..7}.json
# (Table V's paper columns are per dataset, KinectFaceDB / RealSense; ours are the synthetic test
# faces' roughness / hole_percentage, which compare_paper prints as their own column group)
PAPER_COLUMNS = {
    "mean": "rmse_mean", "std": "rmse_std", "skewness": "rmse_skewness",
    "excess_kurtosis": "rmse_excess_kurtosis", "roughness": "roughness",
    "roughness_sd": "roughness_sd", "hole_percentage": "hole_percentage",
    "hole_percentage_sd": "hole_percentage_sd",
    "falsification_Neutral": "falsification_neutral",
    "falsification_Neutral_sd": "falsification_neutral_sd",
    "falsification_OcclusionMouth": "falsification_occlusion_mouth",
    "falsification_OcclusionMouth_sd": "falsification_occlusion_mouth_sd",
    "falsification_OcclusionPaper": "falsification_occlusion_paper",
    "falsification_OcclusionPaper_sd": "falsification_occlusion_paper_sd",
}
for _group in TABLES["VII"][1]:
    PAPER_COLUMNS.update({_group + s: _group + s for s in _GROUP_SUFFIXES})


def paper_rows(results: Dict[str, dict]) -> Dict[str, Dict[str, float]]:
    """``{enhancer: {paper column: value}}`` with the paper's scaling (x100 where it uses %);
    a Table VII group with no selected image is None."""
    def scale(k, v):
        if v is None:
            return None
        return float(v) * (100 if k.replace("_sd", "") in _X100 else 1)
    return {name: {PAPER_COLUMNS[k]: scale(k, row[k]) for k in PAPER_COLUMNS}
            for name, row in results.items()}


def run_json(evaluation: Dict[str, object], **metadata) -> Dict[str, object]:
    """``{"rows": {enhancer: {paper column: value}}, "subsets": {group: {"images", "indices"}},
    "rmse_per_image": {...}, **metadata}``: what ``compare_paper --run_json`` reads."""
    results = evaluation["results"]
    subsets = {k: {"images": len(v), "indices": v} for k, v in evaluation["subsets"].items()}
    return dict(metadata, rows=paper_rows(results), subsets=subsets,
                rmse_per_image={n: r["rmse_per_image"] for n, r in results.items()})


#: the paper-table files of Tables V-VII (printed in the paper's layout beside ours)
PAPER_TABLE_FILES = {"V": "face_enhancement_table5", "VI": "face_enhancement_table6",
                     "VII": "face_enhancement_table7"}


def beside_paper(table: str, data: Dict[str, object]) -> Optional[str]:
    """Tables V-VII in the paper's layout (``reporting.format_face_table``) with ``data``
    (:func:`run_json`) beside it; None for Table IV (``compare_paper`` prints that one)."""
    from depthlab import reporting

    if table not in PAPER_TABLE_FILES:
        return None
    paper = reporting.load_paper_table(PAPER_TABLE_FILES[table])
    return reporting.format_face_table(paper, {"ours": data})


def write_json(path: str, evaluation: Dict[str, object], **metadata) -> None:
    """:func:`run_json` written to ``path``; ``experiments.compare_paper --run_json`` prints
    the rows beside the paper's tables."""
    training.write_json(path, run_json(evaluation, **metadata))
