"""Face depth enhancer training (Schlett, Rathgeb, Busch, section IV-C) as a library call.

Schedule: the ground truths are split into chunks of ``chunk_size``; each chunk's degraded
pairs are trained for ``epochs_per_chunk`` epochs before the next chunk (paper: 30,000 pairs,
10 epochs). The paper keeps a model only when its loss improves: ``best.weights.h5`` is
written (atomically) only then. For exact resumption the full state (weights, optimizer,
epoch) is also checkpointed every epoch under ``checkpoints/``. DL-Delta trains on the
three interleaved degradation variants; ``init_from`` starts from an earlier model's best
weights (Delta-2/3/4: ``--repeat``).

``strategy`` ('default', 'mirrored', 'multi_worker'; ``training.get_strategy``): the model and
its optimizer are built inside ``strategy.scope()`` and trained by ``training.fit``; the batch
is global. Keras' own ``train_step`` scales the compiled loss (``FaceAreaLoss``: per-image
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

import dataclasses
import os
import tempfile
from typing import Dict, List, Optional

import keras
import numpy as np

from data_pipelines import face_enhancement as fe
from data_pipelines.conventions import UNIT_HOLE
from depthlab import collapse, training
from depthlab.losses import FaceAreaLoss
from depthlab.models.enhancers import build_enhancer, init_output_bias

VARIANTS = ("alpha", "beta", "gamma", "delta")
#: 'mse'/'l1' over all pixels; 'face_mse'/'face_l1' over the ground truth's non-hole pixels.
LOSSES = ("face_mse", "face_l1", "mse", "l1")
TEST_IDENTITY_OFFSET = 100_000
#: config.json fields a resumed run must share with the run that wrote it.
RESUME_KEYS = ("variant", "ground_truths", "chunk_size", "seed", "helper", "loss")
#: Start of the sigmoid head's bias: 'face_mean' = logit of the training targets' mean face
#: depth (issue 21: prevents the saturated-sigmoid collapse), 'zeros' = Keras' default.
OUTPUT_BIAS_INITS = ("face_mean", "zeros")


@dataclasses.dataclass
class EnhancerRunOptions:
    model_dir: str
    variant: str = "delta"
    ground_truths: int = 600           # paper: 240,000 (Alpha/Beta/Gamma), 60,000 (Delta)
    chunk_size: int = 200              # paper: 30,000 pairs (Delta: 10,000 GTs x 3 variants)
    epochs_per_chunk: int = 10         # paper: 10
    batch_size: int = 8
    learning_rate: float = 1e-3
    lr_decay_per_chunk: float = 0.5
    loss: str = "face_mse"
    helper: Optional[str] = None       # None: 'random' for alpha/beta/gamma; delta mixes all 3
    init_from: Optional[str] = None    # a model_dir whose best weights start this run
    seed: int = 0
    image_size: int = 256
    mixed_precision: str = "float32"
    steps_per_epoch: Optional[int] = None   # default: one pass over the chunk's pairs
    strategy: str = "default"               # training.STRATEGIES
    collapse_guard: str = "warn"            # collapse.MODES (depthlab/collapse.py)
    output_bias_init: str = "face_mean"     # OUTPUT_BIAS_INITS; 'zeros' = before issue 21

    def __post_init__(self):
        collapse.check_mode(self.collapse_guard)
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant={self.variant!r} is not one of {VARIANTS}")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss={self.loss!r} is not one of {LOSSES}")
        if self.output_bias_init not in OUTPUT_BIAS_INITS:
            raise ValueError(f"--output_bias_init={self.output_bias_init!r} is not one of "
                             f"{OUTPUT_BIAS_INITS}")
        if self.strategy not in training.STRATEGIES:
            raise ValueError(f"--strategy={self.strategy!r} is not one of {training.STRATEGIES}")
        for name in ("ground_truths", "chunk_size", "epochs_per_chunk", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.helper is not None and self.helper not in fe.HELPER_VARIANTS:
            raise ValueError(f"--helper={self.helper!r} is not one of {fe.HELPER_VARIANTS}")

    @property
    def variants(self):
        if self.variant == "delta":
            return fe.DELTA_VARIANTS
        return (self.helper or "random",)


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
            fd, tmp = tempfile.mkstemp(dir=self.model_dir, suffix=".weights.h5")
            os.close(fd)
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, self.path)
            training.write_json(os.path.join(self.model_dir, "best.json"),
                                {"loss": loss, "epoch": epoch + 1})


def _best_loss(model_dir: str) -> float:
    path = os.path.join(model_dir, "best.json")
    return training.read_json(path)["loss"] if os.path.exists(path) else float("inf")


def build_and_compile(opts: EnhancerRunOptions, lr: float) -> keras.Model:
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


def train(opts: EnhancerRunOptions, gt: Optional[fe.FaceDepthSet] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) one enhancer with the chunked schedule. Returns a summary."""
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy = training.get_strategy(opts.strategy)
    chief = training.is_chief(strategy)
    training.check_global_batch(opts.batch_size, strategy)
    log = print if verbose and chief else (lambda *a, **k: None)
    record = dataclasses.asdict(opts)
    training.check_resume_config(opts.model_dir, record, RESUME_KEYS)
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)

    if gt is None:
        log(f"[enhancer] rendering {opts.ground_truths} ground-truth faces at {opts.image_size}px")
        gt = fe.synthetic_ground_truth(opts.ground_truths, seed=opts.seed, image_size=opts.image_size)
    chunks, total_epochs = fe.chunk_schedule(len(gt), opts.chunk_size, opts.epochs_per_chunk)
    log(f"[enhancer] strategy={opts.strategy} ({strategy.num_replicas_in_sync} replica(s) in "
        f"sync), global batch {opts.batch_size}")
    with strategy.scope():
        model = build_and_compile(opts, opts.learning_rate)
        state = training.ResumableCheckpoint(os.path.join(opts.model_dir, "checkpoints"),
                                             model=model, optimizer=model.optimizer)
    done = state.restore_latest()
    if done == 0 and opts.init_from:
        src = os.path.join(opts.init_from, "best.weights.h5")
        if not os.path.exists(src):
            raise FileNotFoundError(f"--init_from: {src} does not exist")
        model.load_weights(src)
        log(f"[enhancer] initialised from {src} (repeat training)")
    elif done:
        log(f"[enhancer] resuming after epoch {done}/{total_epochs}")
    else:
        _init_head(model, opts, gt, strategy, log)

    n_var = len(opts.variants)
    history: List[Dict[str, float]] = []
    recorder = training.BatchLossRecorder()
    best_cb = _BestWeights(opts.model_dir, _best_loss(opts.model_dir))
    steps0 = opts.steps_per_epoch or max(1, min(opts.chunk_size, len(gt)) * n_var // opts.batch_size)
    guards = collapse.guard_callbacks(
        opts.collapse_guard, collapse_probe(gt, opts.variants, opts.seed + 99),
        name=f"DL-{opts.variant.capitalize()} enhancer", every=max(1, steps0 // 4),
        model_dir=opts.model_dir, chief=chief, initial_epoch=done)
    for chunk in range(done // opts.epochs_per_chunk, chunks):
        part = fe.FaceDepthSet(gt.depth_mm[chunk * opts.chunk_size:(chunk + 1) * opts.chunk_size])
        steps = opts.steps_per_epoch or max(1, len(part) * n_var // opts.batch_size)
        first = chunk * opts.epochs_per_chunk
        start_epoch = max(done, first)
        lr = opts.learning_rate * opts.lr_decay_per_chunk ** chunk
        model.optimizer.learning_rate.assign(lr)
        ds = fe.make_enhancer_dataset(part, opts.batch_size, seed=opts.seed * 1000 + chunk,
                                      variants=opts.variants,
                                      start_index=(start_epoch - first) * steps * opts.batch_size)
        log(f"[enhancer] chunk {chunk + 1}/{chunks}: {len(part)} ground truths x {n_var} "
            f"variant(s), epochs {start_epoch + 1}-{first + opts.epochs_per_chunk}, lr {lr:.2e}")
        callbacks = [training.CheckpointCallback(state), best_cb, recorder]   # chief writes
        if chief:
            callbacks.append(keras.callbacks.TensorBoard(
                os.path.join(opts.model_dir, "tensorboard"), write_graph=False))
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log(
            f"[enhancer] epoch {epoch + 1}/{total_epochs}: loss {logs['loss']:.6f}")))
        callbacks += guards + list(extra_callbacks or [])
        # fit's epoch counter is global, so checkpoint numbers and TensorBoard steps line up.
        h = training.fit(model, ds, epochs=first + opts.epochs_per_chunk,
                         initial_epoch=start_epoch, steps_per_epoch=steps, callbacks=callbacks,
                         strategy=strategy)
        history += [{"loss": v} for v in h.history.get("loss", [])]
    if training.is_distributed(strategy):
        model = _single_device_copy(model, opts.variant)
    return collapse.mark({"model": model, "history": history, "best_loss": best_cb.best,
                          "epochs": total_epochs}, guards)


def _init_head(model, opts: EnhancerRunOptions, gt: fe.FaceDepthSet, strategy, log) -> None:
    """Fresh runs: the head's bias starts at logit(mean target) of the first chunk, over the
    face pixels for the face losses, over all pixels (holes 1.0) for 'mse'/'l1'
    (``output_bias_init='face_mean'``; issue 21, ``enhancers.init_output_bias``)."""
    if opts.output_bias_init != "face_mean":
        return
    mean = fe.mean_face_target(fe.FaceDepthSet(gt.depth_mm[:opts.chunk_size]),
                               face_only=opts.loss.startswith("face_"))
    with strategy.scope():
        bias = init_output_bias(model, mean)
    log(f"[enhancer] head bias logit({mean:.4f}) = {bias:.3f} (mean target)")


def _single_device_copy(model: keras.Model, variant: str) -> keras.Model:
    """A default-strategy enhancer with ``model``'s weights (call it outside any
    ``strategy.scope()``): Keras' predict/evaluate do not run under MultiWorkerMirrored."""
    plain = build_enhancer(variant, image_size=model.input_shape[1])
    plain.set_weights(model.get_weights())
    return plain


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
