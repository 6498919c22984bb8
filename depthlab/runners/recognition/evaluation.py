"""Rank-1 evaluation and tables of the TS-GAN recognition runs (paper section 4.2 "Metrics" /
"Face Recognition": rank-1 identification; Tables 2-5, IIIT-D as the mean over its five folds).

``evaluate`` rebuilds a trained run from its checkpoints; ``paper_layout_rows`` lays runs out
in the paper's Table 2-4 columns; ``mcnemar_against_rgb`` (not in the paper) tests each
two-stream run against RGB on the same test images.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

import numpy as np

from data_pipelines import recognition_protocols as rp
from depthlab import metrics, training
from depthlab.nets.recognition_backbones import BACKBONES

from .data import _fold_name, _folds, _load_fold
from .options import RunOptions, load_options
from .roles import _restore_models
from .savedmodel_inputs import load_depth_generator
from .scores import SCORE_WEIGHT_FILE, _scores


def _hits(scores: np.ndarray, labels: np.ndarray) -> List[int]:
    return [int(v) for v in np.argmax(scores, axis=1) == np.asarray(labels)]


def evaluate_split(models, opts: RunOptions, faces, split: rp.Split, depth) -> Dict[str, dict]:
    """{test set: {'rank1': acc, 'num_images': n, 'correct': [0/1 per image][, 'rank1_rgb_stream',
    'rank1_depth_stream', 'correct_rgb_stream', 'correct_depth_stream']}}."""
    result = {}
    for name, idx in split.tests.items():
        if len(idx) == 0:
            continue
        labels = split.labels(faces.meta, idx)
        scores = _scores(models, opts, faces.rgb[idx], None if depth is None else depth[idx],
                         labels)
        entry = {"rank1": metrics.rank1_accuracy(scores["final"], labels),
                 "num_images": int(len(idx)),
                 # per-image hits (argmax, as rank-1) in index order: the paired McNemar test
                 "correct": _hits(scores["final"], labels)}
        for k in ("rgb", "depth"):
            if k in scores:
                entry[f"rank1_{k}_stream"] = metrics.rank1_accuracy(scores[k], labels)
                entry[f"correct_{k}_stream"] = _hits(scores[k], labels)
        result[name] = entry
    return result


def summarize(per_fold: Dict[str, Dict[str, dict]]) -> Dict[str, float]:
    """Mean rank-1 over folds per test set (IIIT-D: the paper's 5-fold mean)."""
    names = sorted({t for r in per_fold.values() for t in r})
    return {t: float(np.mean([r[t]["rank1"] for r in per_fold.values() if t in r])) for t in names}


def evaluate(model_dir: str, score_weight: Optional[float] = None, verbose: bool = False) -> dict:
    """Rebuilds a trained run from its checkpoints and recomputes rank-1 on its test sets."""
    opts = load_options(model_dir)
    if score_weight is not None:
        opts = dataclasses.replace(opts, score_weight=score_weight)
    hallucinate = load_depth_generator(opts.generator) if opts.generator else None
    per_fold = {}
    for fold in _folds(opts):
        faces, split, depth, _ = _load_fold(opts, fold, hallucinate)
        models = _restore_models(model_dir, opts, fold, split.num_classes)
        fold_opts = opts
        if opts.validated_score and score_weight is None:
            path = os.path.join(model_dir, _fold_name(fold), SCORE_WEIGHT_FILE)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: the validated score weight of this run is "
                                        "missing; train it again to choose it")
            fold_opts = dataclasses.replace(opts, score_weight=training.read_json(path)["weight"])
        per_fold[_fold_name(fold)] = evaluate_split(models, fold_opts, faces, split, depth)
    return {"column": opts.column, "backbone": opts.backbone, "protocol": opts.protocol,
            "inputs": opts.inputs, "fusion": opts.fusion if opts.two_stream else None,
            "from_scratch": opts.backbone_weights is None,
            "folds": per_fold, "mean": summarize(per_fold), "model_dir": model_dir}


def _member_means(result: dict, test_set: str) -> Dict[str, float]:
    """Fold means of a score- or frozen-feature-fusion run's two members ({'rgb': ..,
    'depth': ..}, [0, 1])."""
    out = {}
    for stream in ("rgb", "depth"):
        values = [f[test_set][f"rank1_{stream}_stream"] for f in result["folds"].values()
                  if f"rank1_{stream}_stream" in f.get(test_set, {})]
        if values:
            out[stream] = float(np.mean(values))
    return out


def paper_layout_rows(results: List[dict], test_set: str = "test") -> List[dict]:
    """One row per backbone with our rank-1 (%) in the paper's Table 2-4 columns.

    A score- or frozen-feature-fusion run's members are single-stream classifiers trained
    exactly as an RGB-only / depth-only run: where no dedicated run gives the 'rgb', 'depth' or
    'depth_hallucinated' column, it is filled from them, and the row's ``from_members``
    lists the columns so filled.
    """
    rows: Dict[str, dict] = {}
    for r in results:
        row = rows.setdefault(r["backbone"], {"backbone": r["backbone"]})
        if test_set in r["mean"]:
            row[r["column"]] = 100.0 * r["mean"][test_set]
    for r in results:
        if not r["column"].endswith(("_score", "_score_validated", "_feature_frozen")):
            continue
        row = rows[r["backbone"]]
        depth_col = "depth_hallucinated" if r["inputs"].endswith("hallucinated") else "depth"
        for stream, value in _member_means(r, test_set).items():
            column = "rgb" if stream == "rgb" else depth_col
            if column not in row:
                row[column] = 100.0 * value
                row.setdefault("from_members", []).append(column)
    return [rows[b] for b in BACKBONES if b in rows]


def per_image_correct(result: dict, test_set: str = "test", stream: Optional[str] = None
                      ) -> Optional[np.ndarray]:
    """A run's per-image hits on ``test_set`` (0/1, folds in name order, images in index order),
    of its final predictor or of its ``stream`` ('rgb' / 'depth') member; None when the run's
    results predate per-image records or lack the test set."""
    key = "correct" if stream is None else f"correct_{stream}_stream"
    parts = []
    for fold in sorted(result["folds"]):
        entry = result["folds"][fold].get(test_set)
        if entry is None or key not in entry:
            return None
        parts.append(np.asarray(entry[key], np.int64))
    return np.concatenate(parts) if parts else None


def mcnemar_against_rgb(results: List[dict], test_set: str = "test") -> List[dict]:
    """Exact McNemar test (``depthlab.significance``) of every two-stream run against RGB of the
    same backbone on the same test images: RGB from a dedicated RGB run, else from the run's own
    RGB member (score / frozen-feature fusion). One dict per run: backbone, column, and either
    b (RGB right, fusion wrong), c (RGB wrong, fusion right), n, p, rgb_source, or 'skipped'."""
    from depthlab import significance

    rgb_runs = {r["backbone"]: r for r in results if r["column"] == "rgb"}
    out = []
    for r in results:
        if not r["column"].startswith("rgbd"):
            continue
        item = {"backbone": r["backbone"], "column": r["column"]}
        fused = per_image_correct(r, test_set)
        rgb_run = rgb_runs.get(r["backbone"])
        if rgb_run is not None and rgb_run.get("protocol") == r.get("protocol"):
            rgb, source = per_image_correct(rgb_run, test_set), "RGB run"
        else:
            rgb, source = per_image_correct(r, test_set, "rgb"), "the run's RGB member"
        if fused is None:
            item["skipped"] = ("the run has no per-image predictions (results from before they "
                               "were recorded: re-evaluate without --from_results)")
        elif rgb is None:
            item["skipped"] = ("no RGB run of this backbone (nor an RGB member) with per-image "
                               "predictions on this test set")
        elif len(fused) != len(rgb):
            item["skipped"] = f"{len(rgb)} RGB vs {len(fused)} fused test images: not paired"
        else:
            b, c = significance.discordant_counts(rgb, fused)
            item.update(b=b, c=c, n=int(len(rgb)), p=significance.mcnemar_exact(b, c),
                        rgb_source=source)
        out.append(item)
    return out
