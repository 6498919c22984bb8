"""Figures of the TS-GAN recognition runs: Figure 4 (paper section 5.1), the t-SNE of one
trained backbone's embeddings of gray RGB, ground-truth D and hallucinated D~; and the run's
``samples/inputs.png`` (RGB | D | D~ of a few test images, as the columns of Figure 5).
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from depthlab.recognition.models import ATTENTION_FUSIONS

from .data import _faces_and_split, _folds, depth_streams
from .options import load_options
from .roles import _restore_models
from .savedmodel_inputs import load_depth_generator


def _write_samples(model_dir: str, faces: rp.FaceSet, idx: np.ndarray, depths: dict) -> None:
    from depthlab import visualize

    rows = []
    for i in idx[:4]:
        row = [faces.rgb[i]]
        for key in ("gt", "hallucinated"):
            d = depths.get(key)
            if d is not None:
                mask = d[i] > 0
                row.append(visualize.colorize_depth(d[i], mask=mask, near_is_small=False))
        rows.append(row)
    labels = ["RGB"] + [n for n, k in (("D", "gt"), ("D~", "hallucinated"))
                        if depths.get(k) is not None]
    visualize.save_png(os.path.join(model_dir, "samples", "inputs.png"),
                       visualize.make_grid(rows, labels=labels))


TSNE_MODALITIES = ("gray RGB", "D", "D~")


def _stream_backbone(models: Dict[str, keras.Model], stream: str) -> keras.Model:
    """The trained backbone of ``stream`` ('rgb' or 'depth') among a run's models."""
    for model in models.values():
        backbones = getattr(model, "backbones", None)
        if backbones is not None and stream in backbones:
            return backbones[stream]
        if getattr(model, "stream", None) == stream:
            return model.backbone
    have = sorted({s for m in models.values()
                   for s in (getattr(m, "backbones", None) or {getattr(m, "stream", None): 0})})
    raise ValueError(f"--tsne_stream={stream}: this run has no {stream} backbone (streams: {have})")


def tsne_figure(model_dir: str, png_path: str, generator: Optional[str] = None,
                stream: Optional[str] = None, max_images: int = 300, perplexity: float = 30.0,
                seed: int = 0) -> dict:
    """TS-GAN Figure 4: t-SNE of one trained backbone's embeddings of gray RGB, D and D~.

    The run's first fold's test images (at most ``max_images``, evenly strided) are fed as
    gray RGB (BT.601 luma, 3 channels), ground-truth depth and the generator's D~ (both
    replicated to 3 channels) through the run's ``stream`` backbone ('depth' when the run has
    one, else 'rgb'), the embeddings go through scikit-learn's t-SNE together and the scatter
    plot is written to ``png_path``. Returns the 2-D points, their modality and identity
    labels and the nearest-neighbour modality fractions (``tsne.modality_separation``) in
    t-SNE and in embedding space.
    """
    from depthlab.recognition import tsne

    opts = load_options(model_dir)
    generator = generator or opts.generator
    if not generator:
        raise ValueError(f"{model_dir} was trained without --generator; Figure 4 needs D~: "
                         "give --generator=<TS-GAN SavedModel dir>")
    if opts.protocol in rp.RGB_ONLY_PROTOCOLS:
        raise ValueError(f"--protocol={opts.protocol} has no ground-truth depth for Figure 4")
    if max_images < 2:
        raise ValueError(f"--tsne_images must be >= 2, got {max_images}")
    if opts.two_stream and opts.fusion in ATTENTION_FUSIONS:
        raise ValueError(f"--tsne_run={model_dir} is a --fusion={opts.fusion} run: its streams "
                         "end in feature maps, not embedding backbones; use an RGB, depth, "
                         "feature- or score-fusion run for Figure 4")
    fold = _folds(opts)[0]
    faces, split = _faces_and_split(opts, fold)
    models = _restore_models(model_dir, opts, fold, split.num_classes)
    if stream is None:
        stream = "rgb" if opts.inputs == "rgb" else "depth"
    backbone = _stream_backbone(models, stream)
    idx = split.tests["test"]
    idx = idx[np.unique(np.linspace(0, len(idx) - 1, min(max_images, len(idx))).astype(int))]
    sub = rp.FaceSet(faces.rgb[idx], faces.depth[idx],
                     {k: v[idx] for k, v in faces.meta.items()}, faces.depth_bits)
    depths = depth_streams(sub, opts, load_depth_generator(generator))
    inputs = [tsne.gray_rgb(sub.rgb / 255.0),
              np.repeat(depths["gt"][..., None], 3, axis=-1),
              np.repeat(depths["hallucinated"][..., None], 3, axis=-1)]
    features = np.concatenate([
        np.concatenate([backbone(tf.constant(x[i:i + 64]), training=False).numpy()
                        for i in range(0, len(x), 64)]) for x in inputs])
    groups = np.repeat(np.arange(3), len(idx))
    points = tsne.tsne_2d(features, perplexity=perplexity, seed=seed)
    title = f"{opts.backbone} {stream} backbone of {os.path.basename(os.path.normpath(model_dir))}"
    tsne.scatter_png(points, groups, TSNE_MODALITIES, png_path, title=title)
    return {"points": points, "groups": groups,
            "identities": np.tile(split.labels(faces.meta, idx), 3),
            "stream": stream, "backbone": opts.backbone, "num_images": int(len(idx)),
            "nearest_tsne": tsne.modality_separation(points, groups, TSNE_MODALITIES),
            "nearest_embedding": tsne.modality_separation(features, groups, TSNE_MODALITIES)}
