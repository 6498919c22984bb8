"""Training one TS-GAN recognition run (paper sections 4.2 and 5.2, Tables 2-5) on the one
run lifecycle (``depthlab.core.run``): :class:`RecognitionExperiment`, registered as
'recognition', is the paper's hooks; ``train`` runs it and returns ``results.json``'s content.

A run trains several models one after another (``recognition_options.role_names``): per fold
(IIIT-D: five) the run's roles ('rgb', 'depth' or 'fused'; score and frozen-stream fusion two
or three), then, for the validated score weight, 'rgb_val' and 'depth_val'. They map onto the
lifecycle as one ``Phase`` per (fold, role): the lifecycle's epoch counter runs over the roles
in that order, ``--epochs`` epochs each, and the model the lifecycle fits is :class:`RoleModels`,
a container whose ``train_step`` is the current role's own (its compiled loss, optimizer and
metrics). Each role's data stream is the one a separate ``fit`` of that role would see, so the
numbers are those of training the roles one by one. The run's checkpoint
(``<model_dir>/checkpoints``) holds every role's model and optimizer and the epochs each role
has finished, so an interrupted run resumes inside the role it was training, and a larger
``--epochs`` trains every role further (in role order).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
from typing import Dict, List, Optional

import keras
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from depthlab import training
from depthlab.core import registry
from depthlab.core import run as run_lib
from depthlab.core.experiment import Experiment, Phase

from .data import _load_fold, make_dataset
from .evaluation import evaluate_split, summarize
from .figures import _write_samples
from .options import (COLUMN_LABELS, RecognitionOptions, fold_name, folds, model_roles,
                      role_names)
from .roles import (_collapse_probe, _compile, _models, _single_device_copies, checkpoint_key,
                    collapse_records)
from . import serving
from .savedmodel_inputs import load_depth_generator
from .scores import SCORE_WEIGHT_FILE, _choose_weight


class RoleModels(keras.Model):
    """The run's models by checkpoint key (``<fold>_<role>``); ``train_step`` and ``call`` are
    those of the current role (:meth:`use`), whose own metrics the fit loop resets per epoch."""

    def __init__(self, models: Dict[str, keras.Model], run_eagerly: bool = False):
        super().__init__(name="recognition_roles")
        self.role_models = dict(models)
        self.current = next(iter(self.role_models))
        self.compile(optimizer=None, run_eagerly=run_eagerly)

    def use(self, key: str) -> None:
        if key != self.current:
            self.current = key
            self.train_function = None       # retrace for the new role's train_step

    @property
    def role(self) -> keras.Model:
        return self.role_models[self.current]

    @property
    def metrics(self):
        return self.role.metrics

    def call(self, x, training=False):
        return self.role(x, training=training)

    def train_step(self, data):
        return self.role.train_step(data)


@dataclasses.dataclass
class _Role:
    """One trained model: its fold, role directory name, training images and steps."""

    key: str
    fold: Optional[int]
    role_dir: str
    rgb: object
    depth: object
    labels: object
    steps: int


class _RoleProgress(keras.callbacks.Callback):
    """Counts each role's finished epochs in the checkpointed ``progress`` variables (set at
    the epoch's start, so the lifecycle's checkpoint at its end holds the finished count)."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        phase = self.data.phase
        self.data.progress[phase.name].assign(epoch + phase.info["offset"] + 1)


def _with_depth(opts: RecognitionOptions) -> bool:
    return opts.inputs != "rgb"


@registry.experiment("recognition")
class RecognitionExperiment(Experiment):
    Options = RecognitionOptions
    tag = "[recognition]"
    collapse_name = "recognition"
    #: old runs' config.json lacked these keys
    legacy_defaults = {"trainer": "recognition", "export_dir": None}
    tiny_changed_field = ("embedding_dim", 4)
    tiny_is_slow = True       # the resume-rule test: four tiny runs, ~95 s on 2 shared cores

    def epochs(self, opts, config) -> int:
        """The lifecycle's epochs: ``--epochs`` for every trained model, one after another."""
        return len(role_names(opts)) * int(opts.epochs)

    # -- data and models ----------------------------------------------------------------------
    def build_data(self, run):
        opts, log = run.opts, run.log
        hallucinate = load_depth_generator(opts.generator) if opts.generator else None
        log(f"backbone={opts.backbone} inputs={opts.inputs} "
            f"fusion={opts.fusion if opts.two_stream else '-'} protocol={opts.protocol} "
            f"image={opts.image_size} width={opts.width}")
        data = types.SimpleNamespace(folds=[], roles={}, progress={}, phase=None, groups=[])
        self._data = data          # the hooks without a data argument read it here
        for fold in folds(opts):
            faces, split, depth, depths = _load_fold(opts, fold, hallucinate)
            log(f"{split.name}: {split.num_classes} identities, {len(split.train)} training "
                f"images, test sets " + ", ".join(f"{k}={len(v)}" for k, v in split.tests.items()))
            for difference in rp.paper_size_differences(split):
                log(f"note: {difference}")
            sets = {"": split.train}
            val_idx = None
            if opts.validated_score:
                fit_idx, val_idx = rp.validation_holdout(split, faces.meta,
                                                         opts.score_validation_per_identity)
                log(f"choosing the score weight: members trained on {len(fit_idx)} images, "
                    f"validated on {len(val_idx)} held-out training images")
                sets["_val"] = fit_idx
            data.folds.append(types.SimpleNamespace(fold=fold, faces=faces, split=split,
                                                    depth=depth, depths=depths,
                                                    val_idx=val_idx, sets=sets))
            for suffix, idx in sets.items():
                labels = split.labels(faces.meta, idx)
                for role in model_roles(opts):
                    key = checkpoint_key(fold, role + suffix)
                    data.roles[key] = _Role(
                        key, fold, role + suffix, faces.rgb[idx],
                        None if depth is None else depth[idx], labels,
                        max(1, math.ceil(len(labels) / opts.batch_size)))
        assert [(r.fold, r.role_dir) for r in data.roles.values()] == role_names(opts)
        return data

    def build_model(self, run, data):
        """Every role's model and optimizer (in the order the roles train: the same initial
        weights as building each before its training), compiled, in ``strategy.scope()``."""
        opts = run.opts
        models = {}
        for f in data.folds:
            for suffix in f.sets:
                group = _models(opts, f.split.num_classes)
                for role, model in group.items():
                    _compile(model, opts, f.depth is not None, role)
                    if opts.sync_batchnorm:
                        training.synchronize_batch_norm(model, run.strategy)
                    models[checkpoint_key(f.fold, role + suffix)] = model
                data.groups.append((f, suffix, tuple(group)))
        for key in models:
            data.progress[key] = tf.Variable(0, dtype=tf.int64, trainable=False,
                                             name=f"{key}_epochs")
        return RoleModels(models, run_eagerly=opts.run_eagerly)

    def checkpoint_objects(self, run, model):
        out = {}
        for key, m in model.role_models.items():
            out[key] = m
            out[f"{key}_optimizer"] = m.optimizer
            out[f"{key}_epochs"] = self._data.progress[key]
        return out

    # -- schedule -----------------------------------------------------------------------------
    def phases(self, run, data) -> List[Phase]:
        """One phase per role still short of ``--epochs``, in role order, after the epochs the
        checkpoint holds (a role's epochs continue where its own count stopped)."""
        out, cursor = [], run.initial_epoch
        for key, role in data.roles.items():
            done = int(data.progress[key].numpy())
            left = int(run.opts.epochs) - done
            if left <= 0:
                continue
            out.append(Phase(cursor, cursor + left, role.steps, name=key,
                             info={"offset": done - cursor}))
            cursor += left
        return out

    def on_phase_begin(self, run, model, phase):
        opts, data = run.opts, self._data
        data.phase = phase
        model.use(phase.name)
        role = data.roles[phase.name]
        done = phase.first_epoch + phase.info["offset"]
        name = role.role_dir
        if done:
            run.log(f"{name}: resuming from epoch {done}")
        elif name == "fused" and opts.fusion == "feature_frozen":
            run.log(f"{name}: training the classifier on the frozen rgb and depth "
                    "classifiers' embeddings")
        elif opts.backbone_weights is None:
            run.log(f"{name}: no --backbone_weights: training {opts.backbone} FROM SCRATCH "
                    "(ImageNet weights cannot be downloaded here)")

    def train_dataset(self, run, data, phase, first_epoch):
        role, opts = data.roles[phase.name], run.opts
        epoch = first_epoch + phase.info["offset"]
        return make_dataset(role.rgb, role.depth, role.labels, opts.batch_size, seed=opts.seed,
                            training=True, start_index=epoch * role.steps * opts.batch_size)

    def callbacks(self, run, model, data):
        return [_RoleProgress(data)]

    def collapse_probe(self, run, data):
        """The current role's probe: logits on its first 32 training images, with labels."""
        probes = {}

        def probe(model):
            key = model.current
            if key not in probes:
                r = data.roles[key]
                probes[key] = _collapse_probe(r.rgb, r.depth, r.labels)
            return probes[key](model)
        return probe

    def collapse_kwargs(self, run):
        return {"kind": "classifier", "every": max(1, run.opts.log_every)}

    # -- after training -----------------------------------------------------------------------
    def plain_copy(self, run, model):
        copies = {}
        for f, suffix, roles in self._data.groups:
            group = {role: model.role_models[checkpoint_key(f.fold, role + suffix)]
                     for role in roles}
            for role, m in _single_device_copies(group, run.opts, f.split.num_classes,
                                                 f.depth is not None).items():
                copies[checkpoint_key(f.fold, role + suffix)] = m
        return RoleModels(copies, run_eagerly=run.opts.run_eagerly)

    def save(self, run, model):
        """``<fold>/<role>/model.keras`` per trained model, ``samples/inputs.png``."""
        for key, role in self._data.roles.items():
            os.makedirs(run.path(fold_name(role.fold), role.role_dir), exist_ok=True)
            model.role_models[key].save(run.path(fold_name(role.fold), role.role_dir,
                                                 "model.keras"))
        first = self._data.folds[0]
        _write_samples(run.model_dir, first.faces, first.split.tests["test"], first.depths)

    def evaluate(self, run, model, data):
        """Rank-1 per fold and test set (the validated score weight chosen first); writes
        ``results.json`` (the same content as ``metrics_final.json``)."""
        opts = run.opts
        per_fold, selections = {}, {}
        for f in data.folds:
            name = fold_name(f.fold)
            members = {role: model.role_models[checkpoint_key(f.fold, role)]
                       for role in model_roles(opts)}
            fold_opts = opts
            if opts.validated_score:
                val = {role: model.role_models[checkpoint_key(f.fold, role + "_val")]
                       for role in model_roles(opts)}
                selection = _choose_weight(val, opts, f.faces, f.split, f.depth, f.val_idx)
                if run.chief:
                    training.write_json(run.path(name, SCORE_WEIGHT_FILE), selection)
                run.log(f"score weight {selection['weight']:.2f} on RGB (validation rank-1 "
                        f"{100 * max(selection['rank1']):.2f} %, rule {opts.score_rule})")
                fold_opts = dataclasses.replace(opts, score_weight=selection["weight"])
                selections[name] = selection
            per_fold[name] = evaluate_split(members, fold_opts, f.faces, f.split, f.depth)
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
        if run.chief:
            training.write_json(run.path("results.json"), result)
        return result

    def export(self, run, model, export_dir: str) -> str:
        """The run's final predictor per fold as one SavedModel (``serving``)."""
        members_by_fold = {
            fold_name(f.fold): {role: model.role_models[checkpoint_key(f.fold, role)]
                                for role in model_roles(run.opts)}
            for f in self._data.folds}
        return serving.export_models(members_by_fold, run.opts, export_dir,
                                     serving.score_weights(run.model_dir, run.opts))

    def summary_lines(self, run, final):
        return [f"rank-1 {test}: {100.0 * v:.2f} % ({COLUMN_LABELS[run.opts.column]}, "
                f"{run.opts.backbone})" for test, v in final["mean"].items()]

    # -- tests --------------------------------------------------------------------------------
    def tiny_options(self, model_dir: str, **changes):
        tiny = dict(model_dir=model_dir, backbone="se_resnet50", width=0.0625, image_size=32,
                    embedding_dim=8, batch_size=6, synthetic_identities=3,
                    synthetic_images_per_identity=4, epochs=1, log_every=10 ** 6,
                    run_eagerly=True, collapse_guard="off")
        tiny.update(changes)
        return RecognitionOptions(**tiny)


def train(opts: RecognitionOptions, extra_callbacks=None, verbose: bool = True) -> dict:
    """Trains (or resumes) every model of the run, evaluates, writes results.json; returns its
    content (``depthlab.core.run``'s ``final``)."""
    return run_lib.run(RecognitionExperiment(), opts, extra_callbacks, verbose)["final"]
