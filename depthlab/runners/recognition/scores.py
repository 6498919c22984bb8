"""Score-level fusion of a TS-GAN recognition run (paper section 4.2 "Face Recognition"; the
"Score Fusion" columns of Tables 2 and 4): the final predictor's class probabilities (the RGB
and depth members' softmax scores averaged with ``score_weight`` on RGB, or pooled with
``score_rule``), and the stacking extension that chooses the weight on held-out training
images (``<fold>/score_weight.json``).
"""

from __future__ import annotations

from typing import Dict

import keras
import numpy as np

from data_pipelines import recognition_protocols as rp
from depthlab import metrics
from depthlab.recognition.models import ScoreFusion, choose_score_weight

from .data import make_dataset
from .options import RunOptions


SCORE_WEIGHT_FILE = "score_weight.json"


def _scores(models: Dict[str, keras.Model], opts: RunOptions, rgb, depth, labels):
    """(N, C) probabilities of the run's final predictor (score fusion averaged)."""
    ds = make_dataset(rgb, depth, labels, 64, training=False)
    if opts.two_stream and opts.fusion == "score":
        predictor = ScoreFusion(models["rgb"], models["depth"], opts.score_weight, opts.score_rule)
        members = {"rgb": models["rgb"], "depth": models["depth"]}
    elif opts.two_stream and opts.fusion == "feature_frozen":
        predictor, members = models["fused"], {"rgb": models["rgb"], "depth": models["depth"]}
    else:
        predictor, members = next(iter(models.values())), {}
    out = {"final": [], **{k: [] for k in members}}
    for x, _ in ds:
        out["final"].append(predictor.scores(x).numpy())
        for k, m in members.items():
            out[k].append(m.scores(x).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _choose_weight(members: Dict[str, keras.Model], opts: RunOptions, faces: rp.FaceSet,
                   split: rp.Split, depth, val_idx: np.ndarray) -> dict:
    """``models.choose_score_weight`` on the validation images' member scores."""
    labels = split.labels(faces.meta, val_idx)
    scores = _scores(members, opts, faces.rgb[val_idx], depth[val_idx], labels)
    selection = choose_score_weight(scores["rgb"], scores["depth"], labels, opts.score_rule)
    selection.update(rank1_rgb_stream=metrics.rank1_accuracy(scores["rgb"], labels),
                     rank1_depth_stream=metrics.rank1_accuracy(scores["depth"], labels))
    return selection
