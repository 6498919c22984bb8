"""Face depth enhancer training (Schlett, Rathgeb, Busch, section IV-C) as a library call.

Schedule: the ground truths are split into chunks of ``chunk_size``; each chunk's degraded
pairs are trained for ``epochs_per_chunk`` epochs before the next chunk (paper: 30,000 pairs,
10 epochs). The paper keeps a model only when its loss improves: ``best.weights.h5`` is
written (atomically) only then. For exact resumption the full state (weights, optimizer,
epoch) is also checkpointed every epoch under ``checkpoints/``. DL-Delta trains on the
three interleaved degradation variants; ``init_from`` starts from an earlier model's best
weights (Delta-2/3/4: ``--repeat``).

The run lifecycle (seeds, strategy, resume rule, config.json, callbacks, fit, chief-only
writes) is ``depthlab.core.run``; this module is the enhancer's hooks (:class:`EnhancerExperiment`,
registered as 'enhancer'), one ``Phase`` per chunk. Under a distributed strategy the batch is
global. Keras' own ``train_step`` scales the compiled loss (``FaceAreaLoss``: per-image
values, averaged over the replica's share) by 1 / ``num_replicas_in_sync`` and the optimizer
sums the replicas' gradients, so with an evenly split batch the update is the one-device
update on the global batch (``tests/test_distributed_training.py``). Only the chief writes
(config.json, checkpoints, best weights, TensorBoard); a run resumes under any strategy.

Choices the paper leaves open (BUILD_NOTES.md): MSE over the ground truth's face (non-hole)
pixels, Table IV's pixel set (``--loss=face_mse``; 'mse' is over all pixels), Adam lr 1e-3
decayed x0.5 per chunk, batch 8. A fresh run starts the sigmoid head's bias at the logit
of the first chunk's mean face target (issue 21: with Keras' zero bias, some seeds collapsed
to a saturated output of 0; ``output_bias_init='zeros'`` restores the old start).
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

TEST_IDENTITY_OFFSET = 100_000
#: the options' former name (tests, notebooks)
EnhancerRunOptions = EnhancerOptions


class _BestWeights(keras.callbacks.Callback):
    """Paper rule: save the model only when the epoch loss improves (atomic write)."""

    def __init__(self, model_dir: str, best_loss: float):
        super().__init__()
        self.model_dir, self.best = model_dir, best_loss
        self.path = os.path.join(model_dir, "best.weights.h5")

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", np.inf))
        if loss < self.best and training.is_chief(self.model.distribute_strategy):
            self.best = loss
            training.save_weights_atomic(self.model, self.path)
            training.write_json(os.path.join(self.model_dir, "best.json"),
                                {"loss": loss, "epoch": epoch + 1})


def _best_loss(model_dir: str) -> float:
    path = os.path.join(model_dir, "best.json")
    return training.read_json(path)["loss"] if os.path.exists(path) else float("inf")


def build_and_compile(opts: EnhancerOptions, lr: float) -> keras.Model:
    model = build_enhancer(opts.variant, image_size=opts.image_size)
    loss = {"mse": keras.losses.MeanSquaredError, "l1": keras.losses.MeanAbsoluteError,
            "face_mse": lambda: FaceAreaLoss("mse", hole_value=UNIT_HOLE),
            "face_l1": lambda: FaceAreaLoss("l1", hole_value=UNIT_HOLE)}[opts.loss]()
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    model.optimizer.build(model.trainable_variables)
    return model


def collapse_probe(gt: fe.FaceDepthSet, variants, seed: int, n: int = 8):
    """The collapse guard's probe: the enhancer on a fixed batch of ``n`` degraded pairs of the
    first ground truths, in the network convention, over the ground truth's face pixels (the
    pixel set of --loss=face_mse)."""
    count = max(1, -(-n // len(variants)))
    x, y = next(iter(fe.make_enhancer_dataset(
        fe.FaceDepthSet(gt.depth_mm[:count]), n, seed=seed, training=False,
        variants=variants, repeat=False)))
    target = y.numpy()
    mask = target < UNIT_HOLE

    def probe(model):
        return model(x, training=False).numpy(), target, mask
    return probe


@registry.experiment("enhancer")
class EnhancerExperiment(Experiment):
    """DL-Alpha..Delta with the paper's chunked schedule: one phase per chunk of
    ``chunk_size`` ground truths, ``epochs_per_chunk`` epochs each, lr x ``lr_decay_per_chunk``
    per chunk; ``best.weights.h5`` only when the epoch loss improves."""

    Options = EnhancerOptions
    tag = "[enhancer]"
    legacy_defaults = {"output_bias_init": "zeros"}   # runs from before issue 21's fix
    tiny_changed_field = ("learning_rate", 2e-3)
    tiny_is_slow = True            # the 256 px U-Net: ~40 s per tiny run on 2 cores

    def __init__(self, gt: Optional[fe.FaceDepthSet] = None):
        self.gt = gt                     # tests pass their own ground truths
        self.best = None

    @property
    def collapse_name(self):
        return "DL enhancer"

    def epochs(self, opts, config) -> int:
        return fe.chunk_schedule(opts.ground_truths, opts.chunk_size, opts.epochs_per_chunk)[1]

    def build_data(self, run) -> fe.FaceDepthSet:
        opts = run.opts
        if self.gt is not None:
            return self.gt
        run.log(f"rendering {opts.ground_truths} ground-truth faces at {opts.image_size}px")
        return fe.synthetic_ground_truth(opts.ground_truths, seed=opts.seed,
                                         image_size=opts.image_size)

    def build_model(self, run, gt):
        return build_and_compile(run.opts, run.opts.learning_rate)

    def phases(self, run, gt) -> List[Phase]:
        opts, n_var = run.opts, len(run.opts.variants)
        chunks, _ = fe.chunk_schedule(len(gt), opts.chunk_size, opts.epochs_per_chunk)
        out = []
        for chunk in range(chunks):
            part = fe.FaceDepthSet(gt.depth_mm[chunk * opts.chunk_size:
                                               (chunk + 1) * opts.chunk_size])
            steps = opts.steps_per_epoch or max(1, len(part) * n_var // opts.batch_size)
            out.append(Phase(chunk * opts.epochs_per_chunk, (chunk + 1) * opts.epochs_per_chunk,
                             steps, name=f"chunk {chunk + 1}/{chunks}",
                             info={"chunk": chunk, "part": part,
                                   "lr": opts.learning_rate * opts.lr_decay_per_chunk ** chunk}))
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
            mean = fe.mean_face_target(fe.FaceDepthSet(gt.depth_mm[:opts.chunk_size]),
                                       face_only=opts.loss.startswith("face_"))
            with run.strategy.scope():
                bias = init_output_bias(model, mean)
            run.log(f"head bias logit({mean:.4f}) = {bias:.3f} (mean target)")

    def on_phase_begin(self, run, model, phase: Phase) -> None:
        model.optimizer.learning_rate.assign(phase.info["lr"])
        run.log(f"{phase.name}: {len(phase.info['part'])} ground truths x "
                f"{len(run.opts.variants)} variant(s), epochs "
                f"{max(run.initial_epoch, phase.first_epoch) + 1}-{phase.last_epoch}, "
                f"lr {phase.info['lr']:.2e}")

    def train_dataset(self, run, gt, phase: Phase, first_epoch: int):
        opts = run.opts
        return fe.make_enhancer_dataset(
            phase.info["part"], opts.batch_size, seed=opts.seed * 1000 + phase.info["chunk"],
            variants=opts.variants,
            start_index=(first_epoch - phase.first_epoch) * phase.steps_per_epoch * opts.batch_size)

    def callbacks(self, run, model, gt):
        self.best = _BestWeights(run.model_dir, _best_loss(run.model_dir))
        return [self.best, keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: run.log(
            f"epoch {epoch + 1}/{run.epochs}: loss {logs['loss']:.6f}"))]

    def collapse_probe(self, run, gt):
        return collapse_probe(gt, run.opts.variants, run.opts.seed + 99)

    def collapse_kwargs(self, run):
        opts = run.opts
        steps0 = opts.steps_per_epoch or max(
            1, min(opts.chunk_size, opts.ground_truths) * len(opts.variants) // opts.batch_size)
        return {"name": f"DL-{opts.variant.capitalize()} enhancer", "every": max(1, steps0 // 4)}

    def plain_copy(self, run, model):
        return training.single_device_copy(model, lambda: build_enhancer(
            run.opts.variant, image_size=run.opts.image_size))

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
                      epochs_per_chunk=1, steps_per_epoch=1, batch_size=2)
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
    model = build_enhancer(cfg["variant"], image_size=cfg.get("image_size", 256))
    path = os.path.join(model_dir, "best.weights.h5")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; train with experiments.train_enhancer "
                                f"--model_dir={model_dir} first")
    model.load_weights(path)
    return model
