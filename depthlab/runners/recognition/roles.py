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


def _state(model, optimizer, role_dir: str) -> training.ResumableCheckpoint:
    return training.ResumableCheckpoint(os.path.join(role_dir, "checkpoints"), max_to_keep=2,
                                        model=model, optimizer=optimizer)


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
    """Default-strategy copies of a distributed run's models (call outside any scope): Keras'
    saving and inference are not run under MultiWorkerMirrored; the copies' BN layers are
    the plain (unsynchronised) ones."""
    copies = _models(opts, num_classes, weights=False)
    for role, model in copies.items():
        _build(model, opts, with_depth)
        model.set_weights(models[role].get_weights())
    return copies


def _restore_models(model_dir: str, opts: RunOptions, fold: Optional[int],
                    num_classes: int) -> Dict[str, keras.Model]:
    """The run's models by role, weights from each role's newest checkpoint."""
    models = _models(opts, num_classes, weights=False)
    for role, model in models.items():
        ckpt_dir = os.path.join(model_dir, _fold_name(fold), role, "checkpoints")
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in {ckpt_dir}; train first with "
                                    f"experiments.train_recognition --model_dir={model_dir}")
        _build(model, opts, opts.inputs != "rgb")
        tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    return models
