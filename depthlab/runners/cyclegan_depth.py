"""CycleGAN depth synthesis (Suarez, Carpio, Sappa): train / evaluate / export as library calls.

Data. Domain X is the gray (BT.601 luma, replicated to 3 channels) or RGB image, domain Y
the 8-bit depth image; both are held in memory as uint8 at ``image_size``:

- ``synthetic_faces`` (embedded, the default): the procedural faces' RGB and their depth as
  TS-GAN's [0, 1] near-is-bright image (``tsgan_depth_to_unit``: the nearest face point 1,
  250 mm behind it 1/255, background 0), times 255. Test faces are unseen identities.
- ``nyu_depth_v2``: the labeled .mat (``data_pipelines.nyu_depth_v2``), first 1000 frames
  train, the other 449 test; depth as ``round(255 * clip(d / 10 m, 0, 1))``.

Training is unpaired by shuffling: the image stream and the depth stream of the training set
are two independent stateless permutations (``make_unpaired_dataset`` with seeds ``seed`` and
``seed + 1``), so an image meets its own depth only by chance (1/N per step). Element ``i`` of
each stream depends only on ``(seed, i)``, so a resumed run sees the same stream.

Evaluation (paper Table 1 metrics): G1's first output channel mapped to [0, 1] by (o + 1) / 2,
quantised to 8 bits (round(255 u)), compared with the paired 8-bit ground truth over all
pixels with ``depthlab.metrics.psnr/ssim`` at **data range 255** (SSIM: 11x11 Gaussian window,
sigma 1.5), per image, then averaged over the test images.

Layout of a ``model_dir``:
  config.json            model config + run options (checked on resume)
  checkpoints/           G1, G2, D_Y, D_X, NCE heads, image pools, both optimizers, epoch
  tensorboard/           losses per step, sample grids per epoch
  samples/               the grids as PNG (image / ground truth / G1(image))
  g1.keras               G1 after the last epoch
  metrics_step0.json     held-out PSNR/SSIM of the untrained G1 and of the mean baselines
  metrics_final.json     held-out PSNR/SSIM after training
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import sources
from data_pipelines.conventions import rgb_to_gray3, tanh_depth_to_unit
from data_pipelines.paired import tsgan_depth_to_unit
from data_pipelines.unpaired import make_unpaired_dataset, zip_streams
from depthlab import collapse, metrics, training
from depthlab.models.cyclegan_depth import (CycleGANDepth, CycleGANDepthConfig,
                                            cyclegan_depth_config, deployable_generator)
from depthlab.runners.tsgan import latest_sample_grid  # noqa: F401  (re-exported)

NYU = "nyu_depth_v2"
DATASETS = (sources.SYNTHETIC, NYU)
INPUT_MODES = ("gray", "rgb")
DATA_RANGE = 255.0
EVAL_KEYS = ("psnr", "ssim")


@dataclasses.dataclass
class RunOptions:
    """Everything about a run that is not a model hyper-parameter."""

    model_dir: str
    dataset: str = sources.SYNTHETIC
    data_dir: Optional[str] = None        # NYU: the .mat file or the folder holding it
    input_mode: str = "gray"
    epochs: int = 200
    steps_per_epoch: Optional[int] = None  # None: one pass over the training images
    batch_size: int = 1
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    mixed_precision: str = "float32"
    seed: int = 0
    synthetic_identities: int = 20
    synthetic_images_per_identity: int = 10
    eval_limit: Optional[int] = None
    log_every: int = 50
    jit_compile: bool = False
    run_eagerly: bool = False              # debugging, and tests that run a handful of steps
    strategy: str = "default"              # training.STRATEGIES; batch_size is global
    collapse_guard: str = "warn"           # collapse.MODES

    def __post_init__(self):
        collapse.check_mode(self.collapse_guard)
        if self.strategy not in training.STRATEGIES:
            raise ValueError(f"--strategy={self.strategy!r} is not one of {training.STRATEGIES}")
        if self.dataset not in DATASETS:
            raise ValueError(f"--dataset={self.dataset!r} is not one of {list(DATASETS)}")
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"--input_mode={self.input_mode!r} is not one of {list(INPUT_MODES)}")
        if self.dataset == NYU and not self.data_dir:
            raise ValueError("--dataset=nyu_depth_v2 needs --data_dir (nyu_depth_v2_labeled.mat "
                             "or the folder that holds it)")
        for name in ("epochs", "batch_size", "synthetic_identities",
                     "synthetic_images_per_identity", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("steps_per_epoch", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name} must be > 0, got {value}")
        if not self.learning_rate > 0 or not 0 <= self.beta_1 < 1:
            raise ValueError(f"--learning_rate must be > 0 and --beta_1 in [0, 1), got "
                             f"{self.learning_rate}, {self.beta_1}")


@dataclasses.dataclass
class DomainArrays:
    """Paired uint8 arrays: ``image`` (N, S, S, 3) (gray replicated or RGB), ``depth`` (N, S, S)."""

    image: np.ndarray
    depth: np.ndarray

    def __len__(self):
        return len(self.image)


# -- data ------------------------------------------------------------------------------------
def to_gray3_uint8(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 BT.601 luma replicated to 3 channels (the model's ``rgb_to_gray3``)."""
    return np.round(rgb_to_gray3(rgb).numpy()).clip(0, 255).astype(np.uint8)


def load_domains(opts: RunOptions, split: str, image_size: int,
                 limit: Optional[int] = None) -> DomainArrays:
    """The ``split`` of the run's dataset as paired (image, 8-bit depth) arrays."""
    if opts.dataset == sources.SYNTHETIC:
        ids = opts.synthetic_identities if split == "train" else max(4, opts.synthetic_identities // 4)
        paired = sources.load_paired(sources.SYNTHETIC, split, image_size, seed=opts.seed,
                                     synthetic_size=sources.SyntheticSize(
                                         ids, opts.synthetic_images_per_identity), limit=limit)
        unit, _ = tsgan_depth_to_unit(paired.depth, paired.depth_bits)
        rgb, depth8 = paired.rgb, np.round(unit.numpy() * 255.0).astype(np.uint8)
    else:
        from data_pipelines import nyu_depth_v2 as nyu

        frames = nyu.read_labeled(opts.data_dir, split, image_size, limit=limit)
        rgb, depth8 = frames.rgb, nyu.depth_to_uint8(frames.depth)
    image = to_gray3_uint8(rgb) if opts.input_mode == "gray" else rgb
    return DomainArrays(image, depth8)


def make_train_dataset(train: DomainArrays, batch_size: int, seed: int,
                       start_index: int = 0) -> tf.data.Dataset:
    """Unpaired ``{'image', 'depth'}`` batches in [-1, 1]: two independent shuffles (+ flips)."""
    depth3 = np.repeat(train.depth[..., None], 3, axis=-1)
    return zip_streams(
        make_unpaired_dataset(train.image, batch_size, seed=seed, start_index=start_index,
                              key="image"),
        make_unpaired_dataset(depth3, batch_size, seed=seed + 1, start_index=start_index,
                              key="depth"))


def make_eval_dataset(test: DomainArrays, batch_size: int = 8) -> tf.data.Dataset:
    """Paired test batches in file order: ``image`` in [-1, 1], ``depth`` uint8 (B, S, S)."""
    ds = tf.data.Dataset.from_tensor_slices({"image": test.image, "depth": test.depth})
    ds = ds.map(lambda d: {"image": tf.cast(d["image"], tf.float32) / 127.5 - 1.0,
                           "depth": d["depth"]}, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# -- metrics ---------------------------------------------------------------------------------
def unit_to_uint8(unit) -> np.ndarray:
    """[0, 1] depth -> the 8-bit depth image round(255 u)."""
    return np.round(np.clip(np.asarray(unit, np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def image_metrics(pred_uint8: np.ndarray, gt_uint8: np.ndarray) -> Dict[str, float]:
    """Mean over images of PSNR and SSIM (data range 255) of 8-bit depth images (N, H, W)."""
    pred = np.asarray(pred_uint8, np.float64)
    gt = np.asarray(gt_uint8, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"image_metrics: pred {pred.shape} and gt {gt.shape} must be equal (N,H,W)")
    psnr = [metrics.psnr(p, g, DATA_RANGE) for p, g in zip(pred, gt)]
    ssim = [metrics.ssim(p, g, DATA_RANGE) for p, g in zip(pred, gt)]
    finite = [v for v in psnr if np.isfinite(v)]
    return {"psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean(ssim)), "num_images": int(len(gt))}


def predict_uint8(generator: keras.Model, test: DomainArrays, batch_size: int = 8) -> np.ndarray:
    """G1 on the test images -> 8-bit depth images (N, S, S)."""
    out = [unit_to_uint8(tanh_depth_to_unit(generator(b["image"], training=False),
                                            clip=True).numpy()[..., 0])
           for b in make_eval_dataset(test, batch_size)]
    return np.concatenate(out)


def evaluate_generator(generator: keras.Model, test: DomainArrays,
                       batch_size: int = 8) -> Dict[str, float]:
    return image_metrics(predict_uint8(generator, test, batch_size), test.depth)


def mean_baselines(train: DomainArrays, test: DomainArrays) -> Dict[str, float]:
    """Held-out PSNR/SSIM of two trivial predictors of the 8-bit depth image:
    'constant_mean' (the mean training depth value everywhere) and 'mean_image' (the per-pixel
    mean training depth image)."""
    out = {}
    const = np.full(test.depth.shape, float(np.round(train.depth.mean())))
    mean_image = np.broadcast_to(np.round(train.depth.astype(np.float64).mean(0)), test.depth.shape)
    for name, pred in (("constant_mean", const), ("mean_image", mean_image)):
        m = image_metrics(pred, test.depth)
        out[f"psnr_{name}"], out[f"ssim_{name}"] = m["psnr"], m["ssim"]
    return out


# -- model, checkpoints ------------------------------------------------------------------------
def build_model(cfg: CycleGANDepthConfig, opts: RunOptions) -> CycleGANDepth:
    """The trainer compiled with Adam(lr, beta_1) for the generator side and for D (paper: 2e-4,
    0.5)."""
    model = CycleGANDepth(cfg, seed=opts.seed)

    def adam(name):
        return keras.optimizers.Adam(opts.learning_rate, beta_1=opts.beta_1, beta_2=0.999,
                                     name=name)

    model.compile(g_optimizer=adam("g_adam"), d_optimizer=adam("d_adam"),
                  jit_compile=opts.jit_compile, run_eagerly=opts.run_eagerly)
    return model


def checkpoint_state(model: CycleGANDepth, model_dir: str) -> training.ResumableCheckpoint:
    objects = dict(g1=model.g1, d_y=model.d_y, g_optimizer=model.g_optimizer,
                   d_optimizer=model.d_optimizer)
    for name in ("g2", "d_x", "pool_x", "pool_y"):
        if getattr(model, name) is not None:
            objects[name] = getattr(model, name)
    for i, head in enumerate(model.nce_heads):
        objects[f"nce_head_{i}"] = head
    return training.ResumableCheckpoint(os.path.join(model_dir, "checkpoints"), **objects)


def _check_resume_config(model_dir: str, record: dict) -> None:
    training.check_resume_config(model_dir, record, (
        "model", "dataset", "input_mode", "seed", "batch_size", "steps_per_epoch",
        "learning_rate", "beta_1"))


def _preview_rows(generator: keras.Model, test: DomainArrays, near_is_small: bool, n: int = 4):
    """[image, ground-truth depth, G1(image)] rows, both depths on the 0..255 colour range."""
    from depthlab import visualize

    sub = DomainArrays(test.image[:n], test.depth[:n])
    pred = predict_uint8(generator, sub, n)
    colour = lambda d: visualize.colorize_depth(d, mask=np.ones(d.shape, bool), vmin=0,  # noqa
                                                vmax=255, near_is_small=near_is_small)
    return [[sub.image[i], colour(sub.depth[i]), colour(pred[i])] for i in range(len(sub))]


def collapse_probe(test: DomainArrays, n: int = 8):
    """The collapse guard's probe: G1 on the first ``n`` held-out images, [0, 1] depth."""
    batch = next(iter(make_eval_dataset(DomainArrays(test.image[:n], test.depth[:n]), n)))
    target = batch["depth"].numpy().astype(np.float64) / 255.0

    def probe(model):
        pred = tanh_depth_to_unit(model.g1(batch["image"], training=False), clip=True)
        return pred.numpy()[..., 0], target, None
    return probe


def train(opts: RunOptions, cfg: Optional[CycleGANDepthConfig] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) the variant of ``cfg``; returns a summary with held-out metrics."""
    cfg = cfg or cyclegan_depth_config("paper")
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy = training.get_strategy(opts.strategy)
    training.check_global_batch(opts.batch_size, strategy)
    chief, distributed = training.is_chief(strategy), training.is_distributed(strategy)
    record = {"model": cfg.to_dict(), **dataclasses.asdict(opts)}
    _check_resume_config(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)

    log = print if verbose and chief else (lambda *a, **k: None)
    log(f"[cyclegan_depth] variant={cfg.variant} lambdas={cfg.lambdas} image={cfg.image_size} "
        f"batch={opts.batch_size} epochs={opts.epochs} data={opts.dataset}/{opts.input_mode}")
    train_arrays = load_domains(opts, "train", cfg.image_size)
    test = load_domains(opts, "test", cfg.image_size, limit=opts.eval_limit)
    steps = opts.steps_per_epoch or max(1, len(train_arrays) // opts.batch_size)
    log(f"[cyclegan_depth] {len(train_arrays)} training images (unpaired), {len(test)} "
        f"held-out pairs; {steps} steps/epoch; strategy={opts.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s) in sync)")

    with strategy.scope():
        model = build_model(cfg, opts)
        state = checkpoint_state(model, opts.model_dir)
    initial_epoch = state.restore_latest()

    def plain_model():     # evaluation and saving: a default-strategy copy after a distributed run
        if not distributed:
            return model
        return training.single_device_copy(model, lambda: CycleGANDepth(cfg, seed=opts.seed),
                                           ("g1",))

    if initial_epoch >= opts.epochs:
        log(f"[cyclegan_depth] {opts.model_dir} already holds {initial_epoch} epochs")
    elif initial_epoch:
        log(f"[cyclegan_depth] resuming from epoch {initial_epoch} "
            f"({state.manager.latest_checkpoint})")
    elif chief:
        step0 = evaluate_generator(plain_model().g1, test)
        step0.update(mean_baselines(train_arrays, test))
        training.write_json(os.path.join(opts.model_dir, "metrics_step0.json"), step0)

    stream = make_train_dataset(train_arrays, opts.batch_size, opts.seed,
                                start_index=initial_epoch * steps * opts.batch_size)
    near_is_small = opts.dataset == NYU        # NYU 8-bit depth: small = near; faces: bright
    callbacks = [] if not chief else [        # every write on the chief only
        training.CheckpointCallback(state),
        keras.callbacks.TensorBoard(os.path.join(opts.model_dir, "tensorboard"),
                                    update_freq=opts.log_every, write_graph=False),
        training.ImageGridCallback(lambda m: _preview_rows(m.g1, test, near_is_small),
                                   os.path.join(opts.model_dir, "samples"),
                                   os.path.join(opts.model_dir, "tensorboard", "images"),
                                   labels=("image", "GT depth", "G1(image)")),
    ]
    if verbose and chief:
        progress = training.ProgressPrinter(opts.epochs * steps, opts.batch_size,
                                            every=opts.log_every)
        progress.set_initial_step(initial_epoch * steps)
        callbacks.append(progress)
    guards = collapse.guard_callbacks(
        opts.collapse_guard, collapse_probe(test), name="CycleGAN-depth G1", every=opts.log_every,
        model_dir=opts.model_dir, chief=chief,
        initial_step=initial_epoch * steps, initial_epoch=initial_epoch)
    callbacks += guards + list(extra_callbacks or [])
    if initial_epoch < opts.epochs:
        training.fit(model, stream, epochs=opts.epochs, steps_per_epoch=steps,
                     initial_epoch=initial_epoch, callbacks=callbacks, strategy=strategy)
    final_model = plain_model()
    final = collapse.mark(evaluate_generator(final_model.g1, test), guards)
    if chief:
        final_model.g1.save(os.path.join(opts.model_dir, "g1.keras"))
        training.write_json(os.path.join(opts.model_dir, "metrics_final.json"), final)
    return {"final": final, "model": final_model, "config": cfg, "steps_per_epoch": steps,
            "chief": chief}


def load_trained(model_dir: str) -> Tuple[CycleGANDepth, RunOptions]:
    """(model, run options) with G1 restored from ``model_dir``'s latest checkpoint."""
    record = training.read_json(os.path.join(model_dir, "config.json"))
    cfg = CycleGANDepthConfig.from_dict(record["model"])
    opts = RunOptions(**{k: v for k, v in record.items()
                         if k in {f.name for f in dataclasses.fields(RunOptions)}})
    model = CycleGANDepth(cfg, seed=opts.seed)
    ckpt_dir = os.path.join(model_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}; train first with "
                                f"experiments.train_cyclegan_depth --model_dir={model_dir}")
    tf.train.Checkpoint(g1=model.g1).restore(latest).expect_partial()
    return model, opts


def evaluate(model_dir: str, limit: Optional[int] = None, batch_size: int = 8) -> Dict[str, object]:
    """Held-out PSNR/SSIM (data range 255 on 8-bit depth) of G1, with the run's identity."""
    model, opts = load_trained(model_dir)
    test = load_domains(opts, "test", model.config.image_size, limit=limit)
    result: Dict[str, object] = dict(evaluate_generator(model.g1, test, batch_size))
    result.update(variant=model.config.variant, dataset=opts.dataset, input_mode=opts.input_mode,
                  split="test", data_range=DATA_RANGE,
                  metric_note="PSNR/SSIM of round(255 * (G1 + 1) / 2) vs the 8-bit ground truth, "
                              "all pixels, data range 255, mean over test images")
    step0 = os.path.join(model_dir, "metrics_step0.json")
    if os.path.exists(step0):
        base = training.read_json(step0)
        result["baselines"] = {"untrained": {k: base.get(k) for k in EVAL_KEYS},
                               "constant_mean": {"psnr": base.get("psnr_constant_mean"),
                                                 "ssim": base.get("ssim_constant_mean")},
                               "mean_image": {"psnr": base.get("psnr_mean_image"),
                                              "ssim": base.get("ssim_mean_image")}}
    return result


def export(model: CycleGANDepth, export_dir: str, input_mode: str = "gray") -> str:
    """G1 as a SavedModel via ``depthlab.export.export_depth_generator`` (uint8 RGB in; gray
    conversion inside when the model was trained on gray images)."""
    from depthlab.export import export_depth_generator

    return export_depth_generator(deployable_generator(model, input_mode), export_dir,
                                  model.config.image_size)
