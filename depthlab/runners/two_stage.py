"""Two-stage depth from RGB + sparse depth: train stage 1 / stage 2, evaluate, export.

Layout of a stage-1 ``model_dir``::

  config.json           stage, model config, run options (checked on resume)
  checkpoints/          network + SGD state + epoch (atomic, resumable after a kill)
  tensorboard/          loss / batch RMSE per step, sample grids
  samples/              PNG grids: RGB | ground truth | sparse input | prediction
  stage1.keras          the network after the last epoch
  metrics_final.json    held-out metrics (per image, then averaged; ``mean_depth_metrics``)

A stage-2 ``model_dir`` holds the same with ``generator.keras`` and the config's
``stage1_dir``; its metrics hold the stage-1 alone and the two-stage pipeline.

Datasets: ``middlebury_sample`` (embedded: scikit-image's Middlebury 2014 Motorcycle with
metric depth from its calibration, down-sampled x ``sample_downscale``; training crops come
from the left part, evaluation tiles from the held-out right part), ``sparse_to_dense_h5``
(the ``{train,val}/<scene>/*.h5`` layout, resized to 240x320) and ``nyu_depth_v2`` (the
labeled .mat: first 1000 train, last 449 test, resized to 240x320).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Dict, List, Optional, Tuple

import cv2
import keras
import numpy as np
import tensorflow as tf

from data_pipelines import middlebury, sparse
from data_pipelines import sparse_to_dense_h5 as s2d_h5
from depthlab import export as export_lib
from depthlab import collapse, metrics, schedules, training
from depthlab.models import two_stage as ts
from depthlab.runners.tsgan import latest_sample_grid  # noqa: F401  (re-exported for the binary)

DATASETS = ("middlebury_sample", "sparse_to_dense_h5", "nyu_depth_v2")
INPUT_TYPES = ("auto", "rgb", "rgbd", "d")
_CHANNELS = {"rgb": 3, "rgbd": 4, "d": 1}
DEFAULT_CROP = {"middlebury_sample": (96, 128), "sparse_to_dense_h5": s2d_h5.CROP_HW,
                "nyu_depth_v2": s2d_h5.CROP_HW}
EVAL_SEED_OFFSET = 1000          # evaluation sparse masks: seed + 1000, fixed per image


def _check_strategy(name: str) -> None:
    if name not in training.STRATEGIES:
        raise ValueError(f"--strategy={name!r} is not one of {training.STRATEGIES}")


@dataclasses.dataclass
class Stage1Options:
    model_dir: str
    dataset: str = "middlebury_sample"
    data_dir: Optional[str] = None
    preset: str = "demo"
    num_samples: int = 200
    input_type: str = "auto"          # auto: rgb for 0 samples, else rgbd
    loss: str = "berhu"
    epochs: int = 20
    steps_per_epoch: int = 100
    batch_size: int = 10
    learning_rate: float = 0.01
    lr_decay_every: int = 5           # epochs
    lr_decay: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # global gradient-norm clip before SGD; None = off. Our choice (issue 21): sparse-to-dense
    # does not clip; without it batch 2 on 32 px crops diverges (BUILD_NOTES.md).
    clip_norm: Optional[float] = 10.0
    crop_hw: Optional[Tuple[int, int]] = None
    base_filters: Optional[int] = None
    backbone_weights: Optional[str] = None
    sample_downscale: int = 2
    seed: int = 0
    mixed_precision: str = "float32"
    train_limit: Optional[int] = None
    eval_limit: Optional[int] = None
    log_every: int = 10
    strategy: str = "default"         # training.STRATEGIES; batch_size is global
    collapse_guard: str = "warn"      # collapse.MODES

    def __post_init__(self):
        _check_strategy(self.strategy)
        collapse.check_mode(self.collapse_guard)
        if self.dataset not in DATASETS:
            raise ValueError(f"--dataset={self.dataset!r} is not one of {DATASETS}")
        if self.preset not in ts.STAGE1_PRESETS:
            raise ValueError(f"--preset={self.preset!r} is not one of {ts.STAGE1_PRESETS}")
        if self.loss not in ts.STAGE1_LOSSES:
            raise ValueError(f"--loss={self.loss!r} is not one of {ts.STAGE1_LOSSES}")
        if self.input_type not in INPUT_TYPES:
            raise ValueError(f"--input_type={self.input_type!r} is not one of {INPUT_TYPES}")
        if self.num_samples < 0:
            raise ValueError(f"--num_samples must be >= 0, got {self.num_samples}")
        if self.input_type in ("rgbd", "d") and self.num_samples == 0:
            raise ValueError(f"--input_type={self.input_type} needs --num_samples > 0")
        for name in ("epochs", "steps_per_epoch", "batch_size", "lr_decay_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"--clip_norm must be > 0 (or unset), got {self.clip_norm}")
        if self.dataset != "middlebury_sample" and not self.data_dir:
            raise ValueError(f"--dataset={self.dataset} needs --data_dir")
        self.crop_hw = tuple(int(v) for v in (self.crop_hw or DEFAULT_CROP[self.dataset]))

    @property
    def input_channels(self) -> int:
        kind = self.input_type
        if kind == "auto":
            kind = "rgb" if self.num_samples == 0 else "rgbd"
        return _CHANNELS[kind]


@dataclasses.dataclass
class Stage2Options:
    model_dir: str
    stage1_dir: str
    preset: str = "demo"
    epochs: int = 200
    steps_per_epoch: int = 100
    batch_size: int = 1
    learning_rate: float = 2e-4
    lambda_l1: float = 100.0
    max_depth: float = 10.0
    seed: int = 0
    mixed_precision: str = "float32"
    log_every: int = 10
    strategy: str = "default"         # training.STRATEGIES; batch_size is global
    collapse_guard: str = "warn"      # collapse.MODES

    def __post_init__(self):
        _check_strategy(self.strategy)
        collapse.check_mode(self.collapse_guard)
        if self.preset not in ts.STAGE2_PRESETS:
            raise ValueError(f"--stage2_preset={self.preset!r} is not one of {ts.STAGE2_PRESETS}")
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not os.path.exists(os.path.join(self.stage1_dir, "stage1.keras")):
            raise FileNotFoundError(f"--stage1_dir={self.stage1_dir} holds no stage1.keras; "
                                    "train stage 1 first (--stage=1)")


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------

def _downscale(rgb, depth, factor):
    if factor == 1:
        return rgb, depth
    h, w = depth.shape[0] // factor, depth.shape[1] // factor
    return s2d_h5.resize_frame(rgb, depth, (h, w))


def _tiles(rgb, depth, crop_hw):
    """Crops of ``crop_hw`` covering the rows of a region (evaluation set of one image)."""
    h, w = crop_hw
    H, W = depth.shape
    n = int(np.ceil(H / h))
    ys = np.linspace(0, H - h, n).round().astype(int) if n > 1 else [0]
    x0 = (W - w) // 2
    return (np.stack([rgb[y:y + h, x0:x0 + w] for y in ys]),
            np.stack([depth[y:y + h, x0:x0 + w] for y in ys]))


def load_split(dataset: str, split: str, data_dir: Optional[str] = None,
               crop_hw: Tuple[int, int] = (96, 128), sample_downscale: int = 2,
               limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(rgb (N, H, W, 3) uint8, depth (N, H, W) metres, 0 = invalid)`` of 'train' / 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if dataset == "middlebury_sample":
        scene = middlebury.motorcycle_sample()
        rgb, depth = _downscale(scene.rgb, np.where(scene.valid, scene.depth, 0.0).astype(np.float32),
                                int(sample_downscale))
        W = depth.shape[1]
        test_w = max(crop_hw[1], W // 4)
        if depth.shape[0] < crop_hw[0] or W - test_w - 8 < crop_hw[1]:
            raise ValueError(f"crop {crop_hw} is too large for the sample at 1/{sample_downscale} "
                             f"size {depth.shape}")
        if split == "train":
            return rgb[None, :, :W - test_w - 8], depth[None, :, :W - test_w - 8]
        return _tiles(rgb[:, W - test_w:], depth[:, W - test_w:], crop_hw)
    if dataset == "sparse_to_dense_h5":
        rgb, depth, _ = s2d_h5.load_split(data_dir, "train" if split == "train" else "val",
                                          s2d_h5.RESIZE_HW, limit=limit)
        return rgb, depth
    if dataset == "nyu_depth_v2":
        from data_pipelines import nyu_depth_v2 as nyu

        arrays = nyu.read_labeled(data_dir, split, image_size=None, limit=limit)
        pairs = [s2d_h5.resize_frame(r, d, s2d_h5.RESIZE_HW) for r, d in zip(arrays.rgb, arrays.depth)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    raise ValueError(f"--dataset={dataset!r} is not one of {DATASETS}")


def train_stream(dataset: str, data_dir: Optional[str], crop_hw, sample_downscale: int,
                 limit: Optional[int], num_samples: int, batch_size: int, seed: int,
                 start_index: int, output_hw) -> Tuple[tf.data.Dataset, str]:
    """The augmented training stream and a one-line description of its source.

    ``sparse_to_dense_h5`` frames are read from their files inside the pipeline (the 47,584
    training frames do not fit in memory); the other datasets are small and held as arrays.
    """
    kw = dict(num_samples=num_samples, batch_size=batch_size, crop_hw=crop_hw, seed=seed,
              training=True, start_index=start_index, output_hw=output_hw)
    if dataset == "sparse_to_dense_h5":
        paths = s2d_h5.list_frames(data_dir, "train")[:limit]

        def load(k):
            rgb, depth, _ = s2d_h5.read_frame(paths[k])
            return s2d_h5.resize_frame(rgb, depth, s2d_h5.RESIZE_HW)

        return (sparse.rgbd_dataset_from_loader(load, len(paths), s2d_h5.RESIZE_HW, **kw),
                f"{len(paths)} training frame(s) streamed from {data_dir}/train")
    rgb, depth = load_split(dataset, "train", data_dir, crop_hw, sample_downscale, limit)
    return sparse.rgbd_dataset(rgb, depth, **kw), f"{rgb.shape[0]} training image(s) {rgb.shape[1:3]}"


def network_batches(ds: tf.data.Dataset, input_channels: int) -> tf.data.Dataset:
    """``{'rgb', 'sparse', 'depth', 'valid'}`` batches -> ``(x, depth, valid)`` for fit."""
    return ds.map(lambda b: (ts.stage1_input(b["rgb"], b["sparse"], input_channels),
                             b["depth"], b["valid"]), num_parallel_calls=tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------

def evaluate_arrays(stage1: ts.Stage1Net, rgb: np.ndarray, depth: np.ndarray, num_samples: int,
                    crop_hw: Tuple[int, int], seed: int, generator=None,
                    max_depth: float = 10.0, batch_size: int = 4) -> Dict[str, object]:
    """Centre crops, sparse masks seeded per image (seed + 1000, index): the pipeline's
    prediction at the crop size against the crop's ground truth, ``mean_depth_metrics``."""
    ds = sparse.rgbd_dataset(rgb, depth, num_samples, batch_size, crop_hw,
                             seed=seed + EVAL_SEED_OFFSET, training=False)
    preds, gts, masks = [], [], []
    for b in ds:
        pred = ts.predict_depth(stage1, b["rgb"], b["sparse"], generator, max_depth)
        preds += list(pred.numpy())
        gts += list(b["depth"].numpy())
        masks += list(b["valid"].numpy())
    out = metrics.mean_depth_metrics(preds, gts, masks)
    out["num_samples"] = int(num_samples)
    return out


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------

def stage1_optimizer(opts: Stage1Options) -> keras.optimizers.Optimizer:
    """Sparse-to-dense SGD: lr 0.01 x 0.2 every 5 epochs, momentum 0.9 (Nesterov), wd 1e-4.
    (The gradient-norm clip, ``opts.clip_norm``, is applied by ``Stage1Trainer``.)"""
    lr = schedules.StepDecay(opts.learning_rate, every=opts.lr_decay_every * opts.steps_per_epoch,
                             factor=opts.lr_decay)
    return keras.optimizers.SGD(lr, momentum=opts.momentum, nesterov=True,
                                weight_decay=opts.weight_decay or None, name="sgd")


def _save_model_atomic(model: keras.Model, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_check_resume = training.check_resume_config


def _strategy(name: str, batch_size: int):
    """(strategy, is chief, is distributed) of a ``--strategy`` name, the global batch checked."""
    strategy = training.get_strategy(name)
    training.check_global_batch(batch_size, strategy)
    return strategy, training.is_chief(strategy), training.is_distributed(strategy)


def _preview_rows(predict, rgb, depth, num_samples, crop_hw, seed, n=2):
    from depthlab import visualize

    ds = sparse.rgbd_dataset(rgb[:n], depth[:n], num_samples, n, crop_hw,
                             seed=seed + EVAL_SEED_OFFSET, training=False)
    b = next(iter(ds))
    pred = predict(b).numpy()
    rows = []
    for i in range(pred.shape[0]):
        gt, valid = b["depth"][i].numpy()[..., 0], b["valid"][i].numpy()[..., 0]
        lo, hi = float(gt[valid].min()), float(gt[valid].max())
        colour = lambda d, m=None: visualize.colorize_depth(d, mask=m, vmin=lo,  # noqa: E731
                                                            vmax=max(hi, lo + 1e-3))
        sp = b["sparse"][i].numpy()[..., 0]
        sp_img = cv2.dilate(colour(sp, sp > 0), np.ones((3, 3), np.uint8))
        rows.append([b["rgb"][i].numpy(), colour(gt, valid), sp_img, colour(pred[i, ..., 0])])
    return rows


def _collapse_probe(predict, rgb, depth, num_samples, crop_hw, seed, n=4):
    """The collapse guard's probe: ``predict(batch)`` on a fixed held-out batch (the preview's
    crops), metric depth over the valid ground-truth pixels."""
    ds = sparse.rgbd_dataset(rgb[:n], depth[:n], num_samples, n, crop_hw,
                             seed=seed + EVAL_SEED_OFFSET, training=False)
    b = next(iter(ds))
    target, mask = b["depth"].numpy(), b["valid"].numpy() > 0

    def probe(model):
        return predict(b).numpy(), target, mask
    return probe


def _guards(opts, name, predict, rgb, depth, num_samples, crop_hw, seed, initial_epoch, chief):
    return collapse.guard_callbacks(
        opts.collapse_guard, _collapse_probe(predict, rgb, depth, num_samples, crop_hw, seed),
        name=name, every=opts.log_every, model_dir=opts.model_dir,
        chief=chief,
        initial_step=initial_epoch * opts.steps_per_epoch, initial_epoch=initial_epoch)


def _callbacks(state, model_dir, preview, epochs, steps, batch, log_every, initial_epoch, verbose,
               chief=True):
    """Checkpoints, TensorBoard, sample grids and progress: every one writes, so the chief's only."""
    if not chief:
        return []
    tb = os.path.join(model_dir, "tensorboard")
    cbs = [training.CheckpointCallback(state),
           keras.callbacks.TensorBoard(tb, update_freq=max(1, log_every), write_graph=False),
           training.ImageGridCallback(preview, os.path.join(model_dir, "samples"),
                                      os.path.join(tb, "images"), every=max(1, epochs // 5),
                                      labels=("RGB", "ground truth", "sparse input", "prediction"))]
    if verbose:
        progress = training.ProgressPrinter(epochs * steps, batch, every=log_every)
        progress.set_initial_step(initial_epoch * steps)
        cbs.append(progress)
    return cbs


# ----------------------------------------------------------------------------------------
# Stage 1
# ----------------------------------------------------------------------------------------

def train_stage1(opts: Stage1Options, overrides: Optional[dict] = None,
                 extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
                 verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) stage 1; returns held-out metrics and the network."""
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy, chief, distributed = _strategy(opts.strategy, opts.batch_size)
    log = print if verbose and chief else (lambda *a, **k: None)
    cfg = ts.stage1_config(opts.preset, opts.input_channels, input_hw=opts.crop_hw,
                           base_filters=opts.base_filters, **(overrides or {}))
    record = {"stage": 1, "model": cfg.to_dict(), **dataclasses.asdict(opts)}
    _check_resume(opts.model_dir, record, ("stage", "model", "dataset", "num_samples", "seed",
                                           "batch_size", "steps_per_epoch", "crop_hw", "loss"))
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)

    test_rgb, test_depth = load_split(opts.dataset, "test", opts.data_dir, opts.crop_hw,
                                      opts.sample_downscale, opts.eval_limit)

    with strategy.scope():
        net = ts.Stage1Net(cfg)
        training.synchronize_batch_norm(net, strategy)
        trainer = ts.Stage1Trainer(net, opts.loss, clip_norm=opts.clip_norm)
        trainer.compile(optimizer=stage1_optimizer(opts))
        state = training.ResumableCheckpoint(os.path.join(opts.model_dir, "checkpoints"), net=net,
                                             optimizer=trainer.optimizer)
    log(f"[two_stage] stage-1 trainable parameters: {ts.count_trainable(net):,}; "
        f"strategy={opts.strategy} ({strategy.num_replicas_in_sync} replica(s) in sync)")
    initial_epoch = state.restore_latest()
    if initial_epoch == 0:
        ts.load_backbone_weights(net, opts.backbone_weights, log)
    elif initial_epoch < opts.epochs:
        log(f"[two_stage] resuming from epoch {initial_epoch} ({state.manager.latest_checkpoint})")
    steps = opts.steps_per_epoch
    stream, source = train_stream(opts.dataset, opts.data_dir, opts.crop_hw, opts.sample_downscale,
                                  opts.train_limit, opts.num_samples, opts.batch_size, opts.seed,
                                  initial_epoch * steps * opts.batch_size, cfg.out_hw)
    stream = network_batches(stream, cfg.input_channels)
    log(f"[two_stage] stage 1: dataset={opts.dataset} preset={cfg.preset} input="
        f"{ {3: 'rgb', 4: 'rgbd', 1: 'd'}[cfg.input_channels] } samples={opts.num_samples} "
        f"loss={opts.loss} crop={opts.crop_hw}; {source}, {test_rgb.shape[0]} held-out image(s)")
    preview = lambda m: _preview_rows(  # noqa: E731
        lambda b: ts.predict_depth(net, b["rgb"], b["sparse"]), test_rgb, test_depth,
        opts.num_samples, opts.crop_hw, opts.seed)
    guards = _guards(opts, "two-stage stage 1", lambda b: ts.predict_depth(net, b["rgb"], b["sparse"]),
                     test_rgb, test_depth, opts.num_samples, opts.crop_hw, opts.seed,
                     initial_epoch, chief)
    callbacks = (_callbacks(state, opts.model_dir, preview, opts.epochs, steps, opts.batch_size,
                            opts.log_every, initial_epoch, verbose, chief)
                 + guards + list(extra_callbacks or []))
    if initial_epoch < opts.epochs:
        training.fit(trainer, stream, epochs=opts.epochs, steps_per_epoch=steps,
                     initial_epoch=initial_epoch, callbacks=callbacks, strategy=strategy)
    else:
        log(f"[two_stage] {opts.model_dir} already holds {initial_epoch} epochs; nothing to train")
    if distributed:          # evaluation and saving on a default-strategy copy
        net = training.single_device_copy(net, lambda: ts.Stage1Net(cfg))
    final = evaluate_arrays(net, test_rgb, test_depth, opts.num_samples, opts.crop_hw, opts.seed)
    final.update(dataset=opts.dataset, stage=1)
    collapse.mark(final, guards)
    if chief:
        _save_model_atomic(net, os.path.join(opts.model_dir, "stage1.keras"))
        training.write_json(os.path.join(opts.model_dir, "metrics_final.json"), final)
    return {"final": final, "net": net, "trainer": trainer, "config": cfg, "chief": chief}


# ----------------------------------------------------------------------------------------
# Stage 2
# ----------------------------------------------------------------------------------------

def load_stage1(stage1_dir: str) -> Tuple[ts.Stage1Net, dict]:
    path = os.path.join(stage1_dir, "stage1.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; train stage 1 first (--stage=1)")
    record = training.read_json(os.path.join(stage1_dir, "config.json"))
    return keras.saving.load_model(path, compile=False), record


def train_stage2(opts: Stage2Options, overrides: Optional[dict] = None,
                 extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
                 verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) the pix2pix refiner on the frozen stage 1 of ``opts.stage1_dir``."""
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy, chief, distributed = _strategy(opts.strategy, opts.batch_size)
    log = print if verbose and chief else (lambda *a, **k: None)
    with strategy.scope():
        stage1, s1 = load_stage1(opts.stage1_dir)
    cfg = ts.stage2_config(opts.preset, lambda_l1=opts.lambda_l1, max_depth=opts.max_depth,
                           learning_rate=opts.learning_rate, **(overrides or {}))
    record = {"stage": 2, "model": cfg.to_dict(), **dataclasses.asdict(opts),
              "stage1": {k: s1[k] for k in ("dataset", "data_dir", "num_samples", "crop_hw",
                                            "sample_downscale", "train_limit", "eval_limit")}}
    _check_resume(opts.model_dir, record, ("stage", "model", "stage1", "seed", "batch_size",
                                           "steps_per_epoch"))
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)
    d = record["stage1"]
    crop = tuple(d["crop_hw"])
    test_rgb, test_depth = load_split(d["dataset"], "test", d["data_dir"], crop,
                                      d["sample_downscale"], d["eval_limit"])
    with strategy.scope():
        gen, disc = ts.build_stage2(cfg)
        training.synchronize_batch_norm(gen, strategy)
        refiner = ts.Pix2PixRefiner(gen, disc, stage1, cfg.lambda_l1, cfg.max_depth)
        adam = lambda name: keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1,  # noqa: E731
                                                  beta_2=cfg.beta_2, name=name)
        refiner.compile(g_optimizer=adam("g_adam"), d_optimizer=adam("d_adam"))
        state = training.ResumableCheckpoint(os.path.join(opts.model_dir, "checkpoints"),
                                             generator=gen, discriminator=disc,
                                             g_optimizer=refiner.g_optimizer,
                                             d_optimizer=refiner.d_optimizer)
    log(f"[two_stage] stage 2: pix2pix preset={cfg.preset} G {ts.count_trainable(gen):,} / "
        f"D {ts.count_trainable(disc):,} parameters, lambda_L1={cfg.lambda_l1}, on the frozen "
        f"stage 1 of {opts.stage1_dir} ({d['num_samples']} samples); strategy={opts.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s) in sync)")
    initial_epoch = state.restore_latest()
    if 0 < initial_epoch < opts.epochs:
        log(f"[two_stage] resuming from epoch {initial_epoch} ({state.manager.latest_checkpoint})")
    steps = opts.steps_per_epoch
    stream, _ = train_stream(d["dataset"], d["data_dir"], crop, d["sample_downscale"],
                             d["train_limit"], d["num_samples"], opts.batch_size, opts.seed,
                             initial_epoch * steps * opts.batch_size, stage1.config.out_hw)
    stream = network_batches(stream, stage1.config.input_channels)
    preview = lambda m: _preview_rows(  # noqa: E731
        lambda b: ts.predict_depth(stage1, b["rgb"], b["sparse"], gen, cfg.max_depth),
        test_rgb, test_depth, d["num_samples"], crop, opts.seed)
    guards = _guards(opts, "two-stage stage 2 (pix2pix)",
                     lambda b: ts.predict_depth(stage1, b["rgb"], b["sparse"], gen, cfg.max_depth),
                     test_rgb, test_depth, d["num_samples"], crop, opts.seed, initial_epoch, chief)
    callbacks = (_callbacks(state, opts.model_dir, preview, opts.epochs, steps, opts.batch_size,
                            opts.log_every, initial_epoch, verbose, chief)
                 + guards + list(extra_callbacks or []))
    if initial_epoch < opts.epochs:
        training.fit(refiner, stream, epochs=opts.epochs, steps_per_epoch=steps,
                     initial_epoch=initial_epoch, callbacks=callbacks, strategy=strategy)
    if distributed:          # evaluation and saving on default-strategy copies
        gen = training.single_device_copy(gen, lambda: ts.build_stage2(cfg)[0])
        stage1 = load_stage1(opts.stage1_dir)[0]
    if chief:
        _save_model_atomic(gen, os.path.join(opts.model_dir, "generator.keras"))
    seed = int(s1["seed"])
    final = {"stage1": evaluate_arrays(stage1, test_rgb, test_depth, d["num_samples"], crop, seed),
             "two_stage": evaluate_arrays(stage1, test_rgb, test_depth, d["num_samples"], crop,
                                          seed, gen, cfg.max_depth),
             "dataset": d["dataset"], "stage": 2}
    collapse.mark(final, guards)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "metrics_final.json"), final)
    return {"final": final, "generator": gen, "stage1": stage1, "config": cfg, "chief": chief}


# ----------------------------------------------------------------------------------------
# Load, evaluate, export
# ----------------------------------------------------------------------------------------

def load_pipeline(model_dir: str):
    """``(stage1, generator or None, max_depth, stage-1 record)`` of a stage-1 or stage-2 dir."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; train first with "
                                f"experiments.train_two_stage --model_dir={model_dir}")
    record = training.read_json(path)
    if record.get("stage") == 2:
        stage1, s1 = load_stage1(record["stage1_dir"])
        gen_path = os.path.join(model_dir, "generator.keras")
        if not os.path.exists(gen_path):
            raise FileNotFoundError(f"{gen_path} does not exist; stage-2 training did not finish")
        gen = keras.saving.load_model(gen_path, compile=False)
        return stage1, gen, float(record["model"]["max_depth"]), s1
    stage1, s1 = load_stage1(model_dir)
    return stage1, None, ts.Stage2Config().max_depth, s1


def evaluate(model_dir: str, num_samples: Optional[int] = None, data_dir: Optional[str] = None,
             limit: Optional[int] = None) -> Dict[str, object]:
    """Held-out metrics of a trained run (stage 1, plus the two-stage pipeline for stage 2)."""
    stage1, gen, max_depth, s1 = load_pipeline(model_dir)
    n = s1["num_samples"] if num_samples is None else int(num_samples)
    if stage1.config.input_channels == 3 and n:
        raise ValueError(f"{model_dir} is an RGB-only model; --num_samples must be 0, got {n}")
    crop = tuple(s1["crop_hw"])
    rgb, depth = load_split(s1["dataset"], "test", data_dir or s1["data_dir"], crop,
                            s1["sample_downscale"], limit or s1["eval_limit"])
    seed = int(s1["seed"])
    out = {"stage1": evaluate_arrays(stage1, rgb, depth, n, crop, seed)}
    if gen is not None:
        out["two_stage"] = evaluate_arrays(stage1, rgb, depth, n, crop, seed, gen, max_depth)
    out.update(model_dir=model_dir, dataset=s1["dataset"], num_samples=n,
               input_channels=stage1.config.input_channels)
    return out


def export_pipeline(model_dir: str, export_dir: str) -> str:
    """SavedModel of the full pipeline of ``model_dir``, written atomically.

    ``serving_default(rgb: uint8 (N, H, W, 3), sparse_depth: float32 metres (N, H, W, 1),
    0 = no sample)`` -> ``{'depth': float32 metres (N, H, W, 1), 'coarse_depth': the stage-1
    map, same shape}`` (``depth`` = ``coarse_depth`` for a stage-1 run). Any H x W: RGB is
    resized to the network size and each sample moved to its nearest network pixel
    (``two_stage.resample_sparse``); the output is resized back. Mismatched RGB / sparse
    sizes raise ``InvalidArgumentError``. An RGB-only model ignores ``sparse_depth``.
    """
    export_lib.check_new_export_dir(export_dir)
    stage1, gen, max_depth, _ = load_pipeline(model_dir)
    archive = keras.export.ExportArchive()
    archive.track(stage1)
    if gen is not None:
        archive.track(gen)

    def serve(rgb, sparse_depth):
        depth, coarse = ts.predict_depth(stage1, rgb, sparse_depth, gen, max_depth,
                                         return_coarse=True)
        return {"depth": depth, "coarse_depth": coarse}

    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="rgb"),
        tf.TensorSpec([None, None, None, 1], tf.float32, name="sparse_depth")])
    return export_lib.write_export_archive(archive, export_dir)     # temp dir, then one rename
