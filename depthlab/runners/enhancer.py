"""Face depth enhancer training (Schlett, Rathgeb, Busch, section IV-C) as a library call.

Schedule (``EnhancerOptions.stage_specs``, defaults = the paper's text, l. 970-1006): one or
more training stages (DL-Alpha: 70,000 plain pairs, then 60,000 with the blurred hole
background, then the 240,000 with randomised hole values; Beta/Gamma: the 240,000; Delta:
60,000 ground truths x 3 interleaved variants); each stage is split into chunks of
``chunk_size`` ground truths trained for ``epochs_per_chunk`` epochs before the next chunk
(paper: 30,000 images, 10 epochs). Every chunk is one ``Phase`` of the lifecycle
(``depthlab.schedules.chunk_plan``). The paper keeps a model only when its loss improves:
``best.weights.h5`` is written (atomically) only then, compared within the stage
(``--best_scope``); a later stage starts from the previous stage's saved model
(``--stage_start``). For exact resumption the full state (weights, optimizer, epoch) is also
checkpointed every epoch under ``checkpoints/``. ``init_from`` starts from an earlier
model's best weights (Delta-2/3/4: ``--repeat``).

The run lifecycle (seeds, strategy, resume rule, config.json, callbacks, fit, chief-only
writes) is ``depthlab.core.run``; this module is the enhancer's hooks (:class:`EnhancerExperiment`,
registered as 'enhancer'). Under a distributed strategy the batch is
global. Keras' own ``train_step`` scales the compiled loss (``FaceAreaLoss``: per-image
values, averaged over the replica's share) by 1 / ``num_replicas_in_sync`` and the optimizer
sums the replicas' gradients, so with an evenly split batch the update is the one-device
update on the global batch (``tests/test_distributed_training.py``). Only the chief writes
(config.json, checkpoints, best weights, TensorBoard); a run resumes under any strategy.

Choices the paper leaves open (BUILD_NOTES.md, ``enhancer_options``): MSE over the ground
truth's face (non-hole) pixels, Table IV's pixel set (``--loss=face_mse``; 'mse' is over all
pixels), Adam lr 1e-3 decayed x0.5 per chunk and restarted per stage, batch 8. A fresh run
starts the sigmoid head's bias at the logit of the first chunk's mean face target (issue 21:
with Keras' zero bias, some seeds collapsed to a saturated output of 0;
``output_bias_init='zeros'`` restores the old start).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import keras
import numpy as np

from data_pipelines import face_enhancement as fe
from data_pipelines.conventions import UNIT_HOLE
from depthlab import training
from depthlab.core import registry
from depthlab.core import run as run_lib
from depthlab.core.experiment import Experiment, Phase
from depthlab.losses import FaceAreaLoss
from depthlab.models.enhancers import build_enhancer, init_output_bias
from depthlab.runners.enhancer_options import (LOSSES, OUTPUT_BIAS_INITS,  # noqa: F401
                                               VARIANTS, EnhancerOptions)
from depthlab.schedules import Chunk, Stage, chunk_plan

TEST_IDENTITY_OFFSET = 100_000
#: the options' former name (tests, notebooks)
EnhancerRunOptions = EnhancerOptions


class _BestWeights(keras.callbacks.Callback):
    """Paper rule (l. 973-974): "All network models were saved only if their loss value
    improved during training": ``best.weights.h5`` is replaced (atomically) only by an epoch
    whose loss is below the best so far. With ``scope='stage'`` the best restarts at each
    training stage (:meth:`begin_stage`); ``best.json`` records the stage, and per stage the
    best loss and epoch."""

    def __init__(self, model_dir: str, scope: str = "run"):
        super().__init__()
        self.model_dir, self.scope = model_dir, scope
        self.path = os.path.join(model_dir, "best.weights.h5")
        self.record_path = os.path.join(model_dir, "best.json")
        self.record = (training.read_json(self.record_path)
                       if os.path.exists(self.record_path) else {})
        self.stage = self.record.get("stage")
        self.best = float(self.record.get("loss", np.inf))

    def begin_stage(self, name: str) -> None:
        """Called before each chunk: a new stage restarts the comparison (scope 'stage')."""
        if self.scope == "stage" and name != self.stage:
            self.best = np.inf
        self.stage = name

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", np.inf))
        if loss < self.best and training.is_chief(self.model.distribute_strategy):
            self.best = loss
            training.save_weights_atomic(self.model, self.path)
            stages = dict(self.record.get("stages", {}))
            stages[str(self.stage)] = {"loss": loss, "epoch": epoch + 1}
            self.record = {"loss": loss, "epoch": epoch + 1, "stage": self.stage,
                           "stages": stages}
            training.write_json(self.record_path, self.record)


def _best_loss(model_dir: str) -> float:
    path = os.path.join(model_dir, "best.json")
    return training.read_json(path)["loss"] if os.path.exists(path) else float("inf")


def training_plan(opts: EnhancerOptions) -> List[Chunk]:
    """The run's chunks in order (:func:`depthlab.schedules.chunk_plan` of the options'
    stages): which ground truths, variants and epochs each chunk trains."""
    return chunk_plan([Stage(name, n, tuple(variants), chunk, opts.epochs_per_chunk, first)
                       for name, first, n, variants, chunk in opts.stage_specs()])


def build_and_compile(opts: EnhancerOptions, lr: float) -> keras.Model:
    model = build_enhancer(opts.variant, preset=opts.architecture, image_size=opts.image_size)
    loss = {"mse": keras.losses.MeanSquaredError, "l1": keras.losses.MeanAbsoluteError,
            "face_mse": lambda: FaceAreaLoss("mse", hole_value=UNIT_HOLE),
            "face_l1": lambda: FaceAreaLoss("l1", hole_value=UNIT_HOLE)}[opts.loss]()
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    model.optimizer.build(model.trainable_variables)
    return model


def collapse_probe(gt: fe.FaceDepthSet, variants, seed: int, n: int = 8, config=None):
    """The collapse guard's probe: the enhancer on a fixed batch of ``n`` degraded pairs of the
    first ground truths, in the network convention, over the ground truth's face pixels (the
    pixel set of --loss=face_mse)."""
    count = max(1, -(-n // len(variants)))
    x, y = next(iter(fe.make_enhancer_dataset(
        fe.FaceDepthSet(gt.depth_mm[:count]), n, seed=seed, training=False,
        variants=variants, repeat=False, config=config)))
    target = y.numpy()
    mask = target < UNIT_HOLE

    def probe(model):
        return model(x, training=False).numpy(), target, mask
    return probe


@registry.experiment("enhancer")
class EnhancerExperiment(Experiment):
    """DL-Alpha..Delta with the paper's staged, chunked schedule: one phase per chunk
    (:func:`training_plan`), lr x ``lr_decay_per_chunk`` per chunk of a stage;
    ``best.weights.h5`` only when the epoch loss improves."""

    Options = EnhancerOptions
    tag = "[enhancer]"
    # runs from before issue 21's fix, and from before issue 18's paper schedule (their
    # sizes were always given; their stages had no pre-training and one running best)
    legacy_defaults = {"output_bias_init": "zeros", "architecture": "paper",
                       "pretrain_ground_truths": [0, 0], "pretrain_data": "shared",
                       "best_scope": "stage", "stage_start": "best", "hole_shape": "ellipse",
                       "hole_vertices": [3, 8], "hole_vertex_jitter": 1.0,
                       "outline_region_width": 1}
    tiny_changed_field = ("learning_rate", 2e-3)
    tiny_is_slow = True            # the 256 px U-Net: ~40 s per tiny run on 2 cores

    def __init__(self, gt: Optional[fe.FaceDepthSet] = None):
        self.gt = gt                     # tests pass their own ground truths
        self.best = None

    @property
    def collapse_name(self):
        return "DL enhancer"

    def epochs(self, opts, config) -> int:
        return training_plan(opts)[-1].last_epoch

    def record(self, opts, config):
        """config.json holds the effective sizes (a default of None is the paper's count for
        the variant), so that the resume rule compares what is trained."""
        out = super().record(opts, config)
        sizes = [n for name, _, n, _, _ in opts.stage_specs() if name != "main"]
        out.update(ground_truths=opts.main_ground_truths, chunk_size=opts.main_chunk_size,
                   pretrain_ground_truths=sizes or [0, 0])
        return out

    def build_data(self, run) -> fe.FaceDepthSet:
        opts = run.opts
        need = opts.total_ground_truths()
        if self.gt is not None:
            if len(self.gt) < need:
                raise ValueError(f"the schedule needs {need} ground truths (stages "
                                 f"{[(n, f, c) for n, f, c, _, _ in opts.stage_specs()]}: "
                                 f"name, first, count), the data set holds {len(self.gt)}")
            return self.gt
        run.log(f"rendering {need} ground-truth faces at {opts.image_size}px")
        return fe.synthetic_ground_truth(need, seed=opts.seed, image_size=opts.image_size)

    def build_model(self, run, gt):
        return build_and_compile(run.opts, run.opts.learning_rate)

    def phases(self, run, gt) -> List[Phase]:
        opts, out = run.opts, []
        plan = training_plan(opts)
        for chunk in plan:
            part = fe.FaceDepthSet(gt.depth_mm[chunk.start:chunk.stop])
            steps = opts.steps_per_epoch or max(
                1, len(part) * len(chunk.stage.variants) // opts.batch_size)
            out.append(Phase(
                chunk.first_epoch, chunk.last_epoch, steps,
                name=f"{chunk.stage.name} chunk {chunk.index_in_stage + 1}/"
                     f"{chunk.chunks_in_stage}",
                info={"chunk": chunk.index, "stage": chunk.stage.name,
                      "stage_index": chunk.stage_index, "index_in_stage": chunk.index_in_stage,
                      "first_of_run": chunk.index == 0, "part": part,
                      "ground_truths": (chunk.start, chunk.stop),
                      "variants": chunk.stage.variants,
                      "lr": opts.learning_rate * opts.lr_decay_per_chunk ** chunk.index_in_stage}))
        return out

    def on_fresh_start(self, run, model, gt) -> None:
        opts = run.opts
        if opts.init_from:
            src = os.path.join(opts.init_from, "best.weights.h5")
            if not os.path.exists(src):
                raise FileNotFoundError(f"--init_from: {src} does not exist")
            model.load_weights(src)
            run.log(f"initialised from {src} (repeat training)")
        elif opts.output_bias_init == "face_mean":
            # issue 21: the sigmoid head's bias starts at logit(mean target) of the first
            # chunk (face pixels for the face losses, all pixels with holes 1.0 otherwise)
            first = training_plan(opts)[0]
            mean = fe.mean_face_target(fe.FaceDepthSet(gt.depth_mm[first.start:first.stop]),
                                       face_only=opts.loss.startswith("face_"))
            with run.strategy.scope():
                bias = init_output_bias(model, mean)
            run.log(f"head bias logit({mean:.4f}) = {bias:.3f} (mean target)")

    def on_phase_begin(self, run, model, phase: Phase) -> None:
        info, opts = phase.info, run.opts
        starts_stage = info["index_in_stage"] == 0 and not info["first_of_run"]
        if (starts_stage and opts.stage_start == "best" and run.initial_epoch <= phase.first_epoch
                and os.path.exists(run.path("best.weights.h5"))):
            # a new training session starts from the previous stage's saved model
            # (l. 973-974; Delta-k likewise starts from its "preceding network model",
            # l. 1003-1005); best.weights.h5 still holds it: this stage has saved nothing yet
            model.load_weights(run.path("best.weights.h5"))
            run.log(f"{info['stage']}: starting from the previous stage's saved model")
        if self.best is not None:
            self.best.begin_stage(info["stage"])
        model.optimizer.learning_rate.assign(info["lr"])
        lo, hi = info["ground_truths"]
        run.log(f"{phase.name}: ground truths {lo}-{hi - 1} x variant(s) "
                f"{','.join(info['variants'])}, epochs "
                f"{max(run.initial_epoch, phase.first_epoch) + 1}-{phase.last_epoch}, "
                f"lr {info['lr']:.2e}")

    def train_dataset(self, run, gt, phase: Phase, first_epoch: int):
        opts = run.opts
        return fe.make_enhancer_dataset(
            phase.info["part"], opts.batch_size, seed=opts.seed * 1000 + phase.info["chunk"],
            variants=phase.info["variants"], config=opts.degradation_config(),
            start_index=(first_epoch - phase.first_epoch) * phase.steps_per_epoch * opts.batch_size)

    def callbacks(self, run, model, gt):
        self.best = _BestWeights(run.model_dir, run.opts.best_scope)
        return [self.best, keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: run.log(
            f"epoch {epoch + 1}/{run.epochs}: loss {logs['loss']:.6f}"))]

    def collapse_probe(self, run, gt):
        first = training_plan(run.opts)[0]
        return collapse_probe(fe.FaceDepthSet(gt.depth_mm[first.start:first.stop]),
                              first.stage.variants, run.opts.seed + 99,
                              config=run.opts.degradation_config())

    def collapse_kwargs(self, run):
        opts = run.opts
        first = training_plan(opts)[0]
        steps0 = opts.steps_per_epoch or max(
            1, (first.stop - first.start) * len(first.stage.variants) // opts.batch_size)
        name = opts.variant.replace("_text", "").capitalize()
        return {"name": f"DL-{name} enhancer", "every": max(1, steps0 // 4)}

    def plain_copy(self, run, model):
        return training.single_device_copy(model, lambda: build_enhancer(
            run.opts.variant, preset=run.opts.architecture, image_size=run.opts.image_size))

    def evaluate(self, run, model, gt) -> Dict[str, object]:
        best = self.best.best if self.best is not None else _best_loss(run.model_dir)
        return {"best_loss": best, "epochs": run.epochs}

    def summary_lines(self, run, final):
        return [f"best training loss {final['best_loss']:.6f}; weights: "
                f"{run.path('best.weights.h5')}"]

    def export(self, run, model, export_dir: str) -> str:
        from depthlab.export import export_enhancer

        return export_enhancer(load_enhancer(run.model_dir), export_dir)

    def tiny_options(self, model_dir: str, **changes) -> EnhancerOptions:
        kwargs = dict(model_dir=model_dir, variant="alpha", ground_truths=2, chunk_size=2,
                      epochs_per_chunk=1, steps_per_epoch=1, batch_size=2,
                      pretrain_ground_truths=(1, 1))
        kwargs.update(changes)
        return EnhancerOptions(**kwargs)


def train(opts: EnhancerOptions, gt: Optional[fe.FaceDepthSet] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) one enhancer with the chunked schedule (``depthlab.core.run``).
    Returns ``{"model", "history", "best_loss", "epochs", "collapsed", "collapse_reason"}``."""
    out = run_lib.run(EnhancerExperiment(gt), opts, extra_callbacks, verbose)
    final = out["final"]
    return {"model": out["model"], "history": [{"loss": h["loss"]} for h in out["history"]],
            "best_loss": final["best_loss"], "epochs": final["epochs"],
            "collapsed": final.get("collapsed"), "collapse_reason": final.get("collapse_reason")}


def load_enhancer(model_dir: str) -> keras.Model:
    """An enhancer with its best weights (the paper's saved model)."""
    cfg = training.read_json(os.path.join(model_dir, "config.json"))
    model = build_enhancer(cfg["variant"], preset=cfg.get("architecture", "paper"),
                           image_size=cfg.get("image_size", 256))
    path = os.path.join(model_dir, "best.weights.h5")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; train with experiments.train_enhancer "
                                f"--model_dir={model_dir} first")
    model.load_weights(path)
    return model
