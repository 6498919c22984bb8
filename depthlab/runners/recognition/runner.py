"""Training one TS-GAN recognition run (paper sections 4.2 and 5.2, Tables 2-5): the run
lifecycle (seeds, precision, strategy, resume check, config record, callbacks, fit, chief-only
writes) and the phases of the training roles; writes ``results.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from depthlab import collapse, training

from .data import _fold_name, _folds, _load_fold, make_dataset
from .evaluation import evaluate_split, summarize
from .figures import _write_samples
from .options import RunOptions
from .roles import (_collapse_probe, _compile, _models, _single_device_copies, _state,
                    collapse_records)
from .savedmodel_inputs import load_depth_generator
from .scores import SCORE_WEIGHT_FILE, _choose_weight


def _check_resume_config(model_dir: str, record: dict) -> None:
    training.check_resume_config(model_dir, record, (
        "backbone", "inputs", "fusion", "protocol", "fold", "image_size", "width",
        "embedding_dim", "seed", "synthetic_identities", "synthetic_images_per_identity",
        "synthetic_domain", "train_per_identity", "protocol_file", "generator",
        "score_validation_per_identity"))


def _fit(model: keras.Model, role: str, role_dir: str, opts: RunOptions, rgb, depth, labels,
         extra_callbacks, log, strategy: tf.distribute.Strategy) -> None:
    """Trains one compiled role model (built in ``strategy.scope()``) from its latest
    checkpoint to ``opts.epochs``."""
    state = _state(model, model.optimizer, role_dir)
    initial = state.restore_latest()
    steps = max(1, math.ceil(len(labels) / opts.batch_size))
    if initial >= opts.epochs:
        log(f"[recognition] {role}: {initial} epochs already done in {role_dir}")
        return
    if initial:
        log(f"[recognition] {role}: resuming from epoch {initial}")
    elif role == "fused" and opts.fusion == "feature_frozen":
        log(f"[recognition] {role}: training the classifier on the frozen rgb and depth "
            "classifiers' embeddings")
    elif opts.backbone_weights is None:
        log(f"[recognition] {role}: no --backbone_weights: training {opts.backbone} FROM SCRATCH "
            "(ImageNet weights cannot be downloaded here)")
    ds = make_dataset(rgb, depth, labels, opts.batch_size, seed=opts.seed, training=True,
                      start_index=initial * steps * opts.batch_size)
    progress = training.ProgressPrinter(opts.epochs * steps, opts.batch_size, every=opts.log_every)
    progress.set_initial_step(initial * steps)
    callbacks = [training.CheckpointCallback(state)]   # writes on the chief only
    if training.is_chief(strategy):
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(role_dir, "tensorboard"),
                                                     update_freq=max(1, opts.log_every),
                                                     write_graph=False))
        if opts.log_every < 10 ** 6:
            callbacks.append(progress)
    chief = training.is_chief(strategy)
    callbacks += collapse.guard_callbacks(
        opts.collapse_guard, _collapse_probe(rgb, depth, labels), kind="classifier",
        name=f"recognition {role}", every=max(1, opts.log_every), model_dir=role_dir,
        chief=chief, initial_step=initial * steps,
        initial_epoch=initial)
    callbacks += list(extra_callbacks or [])
    training.fit(model, ds, epochs=opts.epochs, steps_per_epoch=steps, initial_epoch=initial,
                 callbacks=callbacks, strategy=strategy)


def _train_models(opts: RunOptions, faces: rp.FaceSet, split: rp.Split, depth, fold_dir: str,
                  strategy: tf.distribute.Strategy, extra_callbacks, log, train_idx: np.ndarray,
                  role_suffix: str = "") -> Dict[str, keras.Model]:
    """Builds (in ``strategy.scope()``) and trains or resumes the run's models on the examples
    ``train_idx``; role directories are ``<fold_dir>/<role><role_suffix>``. Returns them by
    role, as built under ``strategy`` (``_save_one_device`` makes the copies to use)."""
    labels = split.labels(faces.meta, train_idx)
    rgb_train = faces.rgb[train_idx]
    depth_train = None if depth is None else depth[train_idx]
    with strategy.scope():
        models = _models(opts, split.num_classes)
        for role, model in models.items():
            _compile(model, opts, depth is not None, role)
            if opts.sync_batchnorm:
                training.synchronize_batch_norm(model, strategy)
    for role, model in models.items():
        _fit(model, role + role_suffix, os.path.join(fold_dir, role + role_suffix), opts,
             rgb_train, depth_train, labels, extra_callbacks, log, strategy)
    return models


def _save_one_device(models: Dict[str, keras.Model], opts: RunOptions, split: rp.Split, depth,
                     fold_dir: str, strategy: tf.distribute.Strategy, role_suffix: str = ""
                     ) -> Dict[str, keras.Model]:
    """One-device copies of distributed models (the models themselves otherwise), saved as
    ``<role><role_suffix>/model.keras`` by the chief. Call it after every phase has trained:
    building the copies draws initial weights, which would change the next phase's."""
    if training.is_distributed(strategy):
        models = _single_device_copies(models, opts, split.num_classes, depth is not None)
    if training.is_chief(strategy):
        for role, model in models.items():
            model.save(os.path.join(fold_dir, role + role_suffix, "model.keras"))
    return models


def train(opts: RunOptions, extra_callbacks=None, verbose: bool = True) -> dict:
    """Trains (or resumes) every model of the run, evaluates, writes results.json."""
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy = training.get_strategy(opts.strategy)
    chief = training.is_chief(strategy)
    training.check_global_batch(opts.batch_size, strategy)
    log = print if verbose and chief else (lambda *a, **k: None)
    record = dataclasses.asdict(opts)
    _check_resume_config(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)
    hallucinate = load_depth_generator(opts.generator) if opts.generator else None
    log(f"[recognition] backbone={opts.backbone} inputs={opts.inputs} "
        f"fusion={opts.fusion if opts.two_stream else '-'} protocol={opts.protocol} "
        f"image={opts.image_size} width={opts.width} strategy={opts.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s) in sync)")
    per_fold, selections = {}, {}
    for fold in _folds(opts):
        faces, split, depth, depths = _load_fold(opts, fold, hallucinate)
        fold_dir = os.path.join(opts.model_dir, _fold_name(fold))
        log(f"[recognition] {split.name}: {split.num_classes} identities, {len(split.train)} "
            f"training images, test sets " +
            ", ".join(f"{k}={len(v)}" for k, v in split.tests.items()))
        for difference in rp.paper_size_differences(split):
            log(f"[recognition] note: {difference}")
        if fold == _folds(opts)[0] and chief:
            _write_samples(opts.model_dir, faces, split.tests["test"], depths)
        fold_opts = opts
        train_models = functools.partial(_train_models, opts, faces, split, depth, fold_dir,
                                         strategy, extra_callbacks, log)
        save = functools.partial(_save_one_device, opts=opts, split=split, depth=depth,
                                 fold_dir=fold_dir, strategy=strategy)
        models = train_models(split.train)      # first: the same members as a plain score run
        if opts.validated_score:
            fit_idx, val_idx = rp.validation_holdout(split, faces.meta,
                                                     opts.score_validation_per_identity)
            log(f"[recognition] choosing the score weight: members trained on {len(fit_idx)} "
                f"images, validated on {len(val_idx)} held-out training images")
            val_models = train_models(fit_idx, role_suffix="_val")
        models = save(models)
        if opts.validated_score:
            selection = _choose_weight(save(val_models, role_suffix="_val"), opts, faces,
                                       split, depth, val_idx)
            if chief:
                training.write_json(os.path.join(fold_dir, SCORE_WEIGHT_FILE), selection)
            log(f"[recognition] score weight {selection['weight']:.2f} on RGB (validation "
                f"rank-1 {100 * max(selection['rank1']):.2f} %, rule {opts.score_rule})")
            fold_opts = dataclasses.replace(opts, score_weight=selection["weight"])
            selections[_fold_name(fold)] = selection
        per_fold[_fold_name(fold)] = evaluate_split(models, fold_opts, faces, split, depth)
    result = {"column": opts.column, "backbone": opts.backbone, "protocol": opts.protocol,
              "inputs": opts.inputs, "fusion": opts.fusion if opts.two_stream else None,
              "score_weight": opts.score_weight if opts.column.endswith("score") else None,
              "score_rule": opts.score_rule if opts.fusion == "score" and opts.two_stream
              else None,
              "from_scratch": opts.backbone_weights is None,
              "folds": per_fold, "mean": summarize(per_fold)}
    if selections:
        result["score_validation"] = selections
    records = collapse_records(opts.model_dir)
    hit = [r for r in records if r.get("collapsed")]
    result.update(collapsed=bool(hit) if records else None,
                  collapse_reason="; ".join(f"{r['role_dir']}: {r['reason']}" for r in hit)
                  or (None if records else "--collapse_guard=off"))
    if chief:
        training.write_json(os.path.join(opts.model_dir, "results.json"), result)
    return result
