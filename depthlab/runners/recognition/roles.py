"""The models of a TS-GAN recognition run's training roles (paper section 4.2 "Face
Recognition"): 'rgb' and 'depth' single-stream classifiers (the RGB, D and D~ columns of
Tables 2-4 and the members of score-level fusion), 'fused' for feature-level and the two
attention fusions [41, 42], and 'rgb_val' / 'depth_val' for the validated score weight.

Building, compiling (Adam, softmax cross-entropy), checkpoint state, the collapse guard's
probe, one-device copies of distributed models and restoring from checkpoints; the training
loop itself is ``runner``.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import keras
import tensorflow as tf

from depthlab import collapse, training
from depthlab.recognition.models import build_classifier

from .data import _fold_name, make_dataset
from .options import RunOptions


def _models(opts: RunOptions, num_classes: int, weights: bool = True) -> Dict[str, keras.Model]:
    return build_classifier(opts.inputs, opts.fusion, num_classes, opts.backbone, opts.image_size,
                            opts.embedding_dim, opts.width, opts.dropout,
                            opts.backbone_weights if weights else None)


def _build(model: keras.Model, opts: RunOptions, with_depth: bool) -> None:
    s = opts.image_size
    x = {"rgb": tf.zeros((1, s, s, 3))}
    if with_depth:
        x["depth"] = tf.zeros((1, s, s, 3))
    model(x, training=False)


def _optimizer(opts: RunOptions, role: str = "") -> keras.optimizers.Optimizer:
    """Adam at ``--learning_rate``; the frozen-stream fusion classifier at
    ``--fusion_learning_rate`` (a linear layer on fixed features)."""
    if role == "fused" and opts.fusion == "feature_frozen":
        return keras.optimizers.Adam(opts.fusion_learning_rate)
    return keras.optimizers.Adam(opts.learning_rate)


def checkpoint_key(fold: Optional[int], role_dir: str) -> str:
    """Name of a role's model in the run's checkpoint (``<model_dir>/checkpoints``, written by
    ``depthlab.core.run``): ``<fold>_<role>`` (``all_rgb``, ``fold3_depth_val``)."""
    return f"{_fold_name(fold)}_{role_dir}"


def _compile(model: keras.Model, opts: RunOptions, with_depth: bool, role: str = ""
             ) -> keras.Model:
    """Compiles and builds ``model`` (weights and optimizer slots); call it in the run's
    ``strategy.scope()``."""
    optimizer = _optimizer(opts, role)
    model.compile(optimizer=optimizer, run_eagerly=opts.run_eagerly,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    _build(model, opts, with_depth)
    optimizer.build(model.trainable_variables)
    return model


def _collapse_probe(rgb, depth, labels, n: int = 32):
    """The collapse guard's probe (classifier): logits on the first ``n`` training images, in
    order, unflipped, with their labels."""
    x, y = next(iter(make_dataset(rgb[:n], None if depth is None else depth[:n], labels[:n],
                                  n, training=False)))

    def probe(model):
        return model(x, training=False).numpy(), y.numpy(), None
    return probe


def collapse_records(model_dir: str) -> List[dict]:
    """The ``collapse.json`` of every role folder under ``model_dir`` (collapsed or not)."""
    out = []
    for root, _, files in os.walk(model_dir):
        if collapse.RECORD in files:
            out.append(dict(collapse.read_record(root), role_dir=os.path.relpath(root, model_dir)))
    return sorted(out, key=lambda r: r["role_dir"])


def _single_device_copies(models: Dict[str, keras.Model], opts: RunOptions, num_classes: int,
                          with_depth: bool) -> Dict[str, keras.Model]:
    """Default-strategy copies of a distributed run's models of one fold and role set (call
    outside any scope; ``training.single_device_copy``): Keras' saving and inference are not
    run under MultiWorkerMirrored; the copies' BN layers are the plain (unsynchronised) ones.
    The roles are built together (the frozen-stream fusion shares its members)."""
    copies = _models(opts, num_classes, weights=False)

    def built(role):
        _build(copies[role], opts, with_depth)
        return copies[role]
    return {role: training.single_device_copy(models[role], lambda role=role: built(role))
            for role in copies}


def _restore_models(model_dir: str, opts: RunOptions, fold: Optional[int],
                    num_classes: int) -> Dict[str, keras.Model]:
    """The run's models by role, weights from the run's newest checkpoint
    (``<model_dir>/checkpoints``, one for all roles), or, in runs written before the run
    lifecycle (``depthlab.core.run``), from each role's own ``<fold>/<role>/checkpoints``."""
    models = _models(opts, num_classes, weights=False)
    run_ckpt = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    for role, model in models.items():
        _build(model, opts, opts.inputs != "rgb")
        ckpt_dir = os.path.join(model_dir, _fold_name(fold), role, "checkpoints")
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if run_ckpt is not None:
            tf.train.Checkpoint(**{checkpoint_key(fold, role): model}).restore(
                run_ckpt).expect_partial()
        elif latest is not None:             # a run from before depthlab.core
            tf.train.Checkpoint(model=model).restore(latest).expect_partial()
        else:
            raise FileNotFoundError(f"no checkpoint in {model_dir}/checkpoints (nor {ckpt_dir}); "
                                    "train first with experiments.train_recognition "
                                    f"--model_dir={model_dir}")
    return models
