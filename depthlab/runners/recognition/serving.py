"""SavedModel export of a trained TS-GAN recognition run (issue 17: ``train_recognition
--export_dir`` like every trainer; ``experiments.export_savedmodel --model_kind=recognition``).

One SavedModel per run: ``serving_default``, and for IIIT-D's five folds (or --fold) one
signature per fold (``fold1`` .. ``fold5``; ``serving_default`` is the first fold's). Each
maps a face batch to the run's final predictor (paper section 4.2 "Face Recognition";
tsgan-uppal.txt line 650: rank-1 identification, the argmax of ``scores``), with the inputs
the run's models take:

- ``rgb``: uint8 (N, S, S, 3), when the run uses RGB (every --inputs but depth / D~ only);
- ``depth``: float32 [0, 1] (N, S, S, 1), near = bright, when it uses depth: ground-truth D,
  or for the *_hallucinated inputs D~ from the run's --generator SavedModel (its
  ``serving_default`` output ``depth`` has exactly this form);

S = --image_size (checked in the graph, as every depthlab signature: ``depthlab.export``),
any N (an empty batch gives empty outputs). Outputs, float32:

- ``scores`` (N, C): class probabilities of the final predictor (score fusion: the members'
  softmax fused with the run's weight, the validated one where it was chosen, and rule);
- ``logits`` (N, C): where the final predictor is one network (all but score fusion);
- ``embedding`` (N, E): the embedding its classifier reads, where it has one (single stream,
  feature and frozen-stream fusion; not the attention fusions, whose heads read feature maps).

The models are the Keras models the run trained (``<fold>/<role>/model.keras``); the inputs
are prepared as ``data.make_dataset`` does (RGB / 255, depth tiled to 3 channels).
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import keras
import tensorflow as tf

from depthlab import export as export_lib
from depthlab import training
from depthlab.recognition.models import ScoreFusion

from .options import RecognitionOptions, fold_name, folds, load_options, model_roles
from .scores import SCORE_WEIGHT_FILE


def uses_rgb(opts: RecognitionOptions) -> bool:
    return opts.inputs not in ("depth", "depth_hallucinated")


def uses_depth(opts: RecognitionOptions) -> bool:
    return opts.inputs != "rgb"


def final_predictor(members: Dict[str, keras.Model], opts: RecognitionOptions,
                    weight: Optional[float] = None):
    """(predictor, one network or None) of a fold's models by role, as the rank-1 evaluation
    (``scores._scores``) builds it: score fusion of 'rgb' and 'depth', else the last role."""
    if opts.two_stream and opts.fusion == "score":
        w = opts.score_weight if weight is None else weight
        return ScoreFusion(members["rgb"], members["depth"], w, opts.score_rule), None
    net = members[model_roles(opts)[-1]]
    return net, net


def model_inputs(opts: RecognitionOptions, rgb=None, depth=None) -> Dict[str, tf.Tensor]:
    """The signature's inputs as the models take them (``data.make_dataset``)."""
    x = {}
    if rgb is not None:
        x["rgb"] = tf.cast(rgb, tf.float32) / 255.0
    if depth is not None:
        x["depth"] = tf.tile(tf.cast(depth, tf.float32), [1, 1, 1, 3])
    return x


def _outputs(predictor, net, x) -> Dict[str, tf.Tensor]:
    """The network runs once: a model with ``embed`` computes ``classifier(dropout(embed))``,
    and dropout is the identity at inference, so its logits are ``classifier(embedding)``;
    ``scores`` = softmax(logits), as its ``scores`` method."""
    if net is None:
        return {"scores": tf.cast(predictor.scores(x), tf.float32)}
    out = {}
    if hasattr(net, "embed") and hasattr(net, "classifier"):
        out["embedding"] = net.embed(x, training=False)
        logits = net.classifier(out["embedding"])
    else:
        logits = net(x, training=False)
    out.update(logits=logits, scores=tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1))
    return {k: tf.cast(v, tf.float32) for k, v in out.items()}


def export_models(members_by_fold: Dict[str, Dict[str, keras.Model]], opts: RecognitionOptions,
                  export_dir: str, weights: Optional[Dict[str, float]] = None) -> str:
    """Writes the SavedModel (module docstring) of ``{fold name: {role: model}}`` to the new
    or empty ``export_dir``, atomically; ``weights``: the validated score weight per fold."""
    export_lib.check_new_export_dir(export_dir)
    archive = keras.export.ExportArchive()
    size = int(opts.image_size)
    specs = []
    if uses_rgb(opts):
        specs.append(tf.TensorSpec([None, size, size, 3], tf.uint8, name="rgb"))
    if uses_depth(opts):
        specs.append(tf.TensorSpec([None, size, size, 1], tf.float32, name="depth"))
    names = list(members_by_fold)
    for name in names:
        for model in members_by_fold[name].values():
            archive.track(model)
    for i, name in enumerate(names):
        predictor, net = final_predictor(members_by_fold[name], opts,
                                         (weights or {}).get(name))
        endpoint = _endpoint(opts, predictor, net, size)
        if i == 0:
            archive.add_endpoint("serving_default", endpoint, input_signature=specs)
        if name != fold_name(None):        # IIIT-D folds: one signature each
            archive.add_endpoint(name, endpoint, input_signature=specs)
    return export_lib.write_export_archive(archive, export_dir)


def _endpoint(opts: RecognitionOptions, predictor, net, size: int):
    """The serving function of one fold: inputs checked, then :func:`_outputs`."""
    def checked(rgb=None, depth=None):
        if rgb is not None:
            rgb = export_lib.check_image_batch(rgb, "serving input rgb", 3, size)
        if depth is not None:
            depth = export_lib.check_image_batch(depth, "serving input depth", 1, size)
        return [t for t in (rgb, depth) if t is not None]

    def serve_one(*tensors):
        rgb = tensors[0] if uses_rgb(opts) else None
        depth = tensors[-1] if uses_depth(opts) else None
        return _outputs(predictor, net, model_inputs(opts, rgb, depth))

    if uses_rgb(opts) and uses_depth(opts):
        def serve(rgb, depth):
            return export_lib.on_any_batch(serve_one, *checked(rgb, depth))
    elif uses_rgb(opts):
        def serve(rgb):
            return export_lib.on_any_batch(serve_one, *checked(rgb=rgb))
    else:
        def serve(depth):
            return export_lib.on_any_batch(serve_one, *checked(depth=depth))
    return serve


def score_weights(model_dir: str, opts: RecognitionOptions) -> Dict[str, float]:
    """The validated score weight of each fold (``<fold>/score_weight.json``), if any."""
    out = {}
    for fold in folds(opts):
        path = os.path.join(model_dir, fold_name(fold), SCORE_WEIGHT_FILE)
        if opts.validated_score and os.path.exists(path):
            out[fold_name(fold)] = float(training.read_json(path)["weight"])
    return out


def export_run(model_dir: str, export_dir: str) -> str:
    """The SavedModel of a finished run from its ``<fold>/<role>/model.keras`` files."""
    opts = load_options(model_dir)
    members_by_fold = {}
    for fold in folds(opts):
        members = {}
        for role in model_roles(opts):
            path = os.path.join(model_dir, fold_name(fold), role, "model.keras")
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} does not exist; the run has not finished "
                                        f"(experiments.train_recognition --model_dir="
                                        f"{model_dir})")
            members[role] = keras.saving.load_model(path, compile=False)
        members_by_fold[fold_name(fold)] = members
    return export_models(members_by_fold, opts, export_dir, score_weights(model_dir, opts))
