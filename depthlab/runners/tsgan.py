"""TS-GAN train / evaluate / export as library calls (the binaries only parse flags).

Layout of a ``model_dir``:
  config.json            model preset + run options (checked on resume)
  checkpoints/           tf.train.CheckpointManager: networks, 3 optimizers, pools, epoch
  tensorboard/           scalars per step, colourised sample grids per epoch
  samples/               the same grids as PNG
  g_a2b.keras            the shared generator after the last epoch
  metrics_step0.json     held-out metrics before training, with the mean-depth baselines
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import sources
from data_pipelines.paired import PairedArrays, make_paired_dataset, tsgan_depth_to_unit
from data_pipelines.unpaired import make_unpaired_dataset, zip_streams
from depthlab import collapse, metrics, training
from depthlab.configs import TSGANConfig, tsgan_config
from depthlab.models.tsgan import ABLATIONS, TSGAN, depth_to_unit
from depthlab.schedules import LinearDecay, StepDecay

EVAL_KEYS = ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3")


@dataclasses.dataclass
class RunOptions:
    """Everything about a run that is not a model hyper-parameter."""

    model_dir: str
    dataset: str = sources.SYNTHETIC
    target_dataset: str = sources.SYNTHETIC_TARGET
    data_dir: Optional[str] = None
    target_data_dir: Optional[str] = None
    train_split: str = "train"
    target_split: str = "train"
    eval_split: str = "test"
    epochs: Optional[int] = None              # None: the preset's
    steps_per_epoch: Optional[int] = None     # None: one pass over the source data
    batch_size: Optional[int] = None          # None: the preset's
    ablation: str = "none"
    mixed_precision: str = "float32"
    seed: int = 0
    synthetic_identities: int = 20
    synthetic_images_per_identity: int = 10
    eval_limit: Optional[int] = None
    log_every: int = 10
    jit_compile: bool = False
    strategy: str = "default"                 # training.STRATEGIES
    collapse_guard: str = "warn"              # collapse.MODES

    def __post_init__(self):
        collapse.check_mode(self.collapse_guard)
        if self.strategy not in training.STRATEGIES:
            raise ValueError(f"--strategy={self.strategy!r} is not one of {training.STRATEGIES}")
        if self.ablation not in ABLATIONS:
            raise ValueError(f"--ablation={self.ablation!r} is not one of {ABLATIONS}")
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name} must be > 0, got {value}")


def _synthetic_size(opts: RunOptions, split: str) -> sources.SyntheticSize:
    ids = opts.synthetic_identities if split == "train" else max(4, opts.synthetic_identities // 4)
    return sources.SyntheticSize(ids, opts.synthetic_images_per_identity)


def load_source(opts: RunOptions, cfg: TSGANConfig, split: str,
                limit: Optional[int] = None) -> PairedArrays:
    return sources.load_paired(opts.dataset, split, cfg.image_size, seed=opts.seed,
                               data_dir=opts.data_dir, synthetic_size=_synthetic_size(opts, split),
                               limit=limit)


def load_target(opts: RunOptions, cfg: TSGANConfig) -> np.ndarray:
    return sources.load_rgb(opts.target_dataset, opts.target_split, cfg.image_size,
                            seed=opts.seed, data_dir=opts.target_data_dir or opts.data_dir,
                            synthetic_size=_synthetic_size(opts, "train"))


def build_optimizers(cfg: TSGANConfig, steps_per_epoch: int):
    """Adam per role with the preset's schedule (reference notes 1.8; paper: x0.5 steps)."""
    total = cfg.epochs * steps_per_epoch

    def schedule(lr, start_epoch):
        if cfg.decay == "linear":
            return LinearDecay(lr, total, start_epoch * steps_per_epoch)
        return StepDecay(lr, every=start_epoch * steps_per_epoch, factor=cfg.decay_factor)

    def adam(lr, start_epoch, name):
        return keras.optimizers.Adam(schedule(lr, start_epoch), beta_1=cfg.beta_1,
                                     beta_2=cfg.beta_2, name=name)

    return (adam(cfg.lr_teacher, cfg.decay_epoch_teacher, "teacher_adam"),
            adam(cfg.lr_student, cfg.decay_epoch_student, "student_adam"),
            adam(cfg.lr_disc, cfg.decay_epoch_disc, "disc_adam"))


def _effective_config(preset: str, opts: RunOptions, overrides: Optional[dict]) -> TSGANConfig:
    changes = dict(overrides or {})
    if opts.epochs is not None:
        changes["epochs"] = opts.epochs
    if opts.batch_size is not None:
        changes["batch_size"] = opts.batch_size
    return tsgan_config(preset, **changes)


def _check_resume_config(model_dir: str, record: dict) -> None:
    training.check_resume_config(model_dir, record, ("model", "ablation", "dataset", "target_dataset", "seed"))


def build_model(cfg: TSGANConfig, ablation: str, seed: int, steps_per_epoch: int,
                jit_compile: bool = False) -> TSGAN:
    model = TSGAN(cfg, ablation=ablation, seed=seed)
    teacher, student, disc = build_optimizers(cfg, steps_per_epoch)
    model.compile(teacher_optimizer=teacher, student_optimizer=student, disc_optimizer=disc,
                  jit_compile=jit_compile)
    return model


def checkpoint_state(model: TSGAN, model_dir: str) -> training.ResumableCheckpoint:
    objects = dict(g_a2b=model.g_a2b, g_b2a=model.g_b2a, d_depth=model.d_depth, d_rgb=model.d_rgb,
                   teacher_pool=model.teacher_pool, student_pool=model.student_pool,
                   rec_pool=model.rec_pool, teacher_optimizer=model.teacher_optimizer)
    if model.student_optimizer is not None:
        objects["student_optimizer"] = model.student_optimizer
    if model.disc_optimizer is not None:
        objects["disc_optimizer"] = model.disc_optimizer
    return training.ResumableCheckpoint(os.path.join(model_dir, "checkpoints"), **objects)


def single_device_copy(model: TSGAN, cfg: TSGANConfig, ablation: str, seed: int) -> TSGAN:
    """A default-strategy TSGAN holding ``model``'s G_A2B weights (call it outside any
    ``strategy.scope()``): evaluation and saving after a distributed run, since Keras'
    ``evaluate`` does not run under MultiWorkerMirroredStrategy."""
    plain = TSGAN(cfg, ablation=ablation, seed=seed)
    plain.g_a2b.set_weights(model.g_a2b.get_weights())
    plain.compile()
    return plain


def make_eval_dataset(arrays: PairedArrays, batch_size: int = 16) -> tf.data.Dataset:
    return make_paired_dataset(arrays, batch_size, training=False, repeat=False)


def mean_depth_baselines(train: PairedArrays, test: PairedArrays) -> Dict[str, float]:
    """Held-out RMSE of two trivial predictors on [0, 1] depth, per image then averaged.

    'mean_depth': the mean valid training depth everywhere; 'mean_face': the per-pixel mean
    of the training depth images.
    """
    train_unit, train_valid = tsgan_depth_to_unit(train.depth, train.depth_bits)
    train_unit, train_valid = train_unit.numpy(), train_valid.numpy()
    scalar = float(train_unit[train_valid].mean())
    mean_face = train_unit.mean(axis=0)
    test_unit, test_valid = tsgan_depth_to_unit(test.depth, test.depth_bits)
    test_unit, test_valid = test_unit.numpy(), test_valid.numpy()
    out = {}
    for name, pred in (("mean_depth", lambda g: np.full_like(g, scalar)),
                       ("mean_face", lambda g: mean_face)):
        out[f"rmse_{name}"] = float(np.mean([
            metrics.rmse(pred(g), g, mask=m) for g, m in zip(test_unit, test_valid) if m.any()]))
    return out


def evaluate_model(model: TSGAN, test: PairedArrays, batch_size: int = 16) -> Dict[str, float]:
    """Table 1 metrics of G_A2B over the held-out arrays (per image, averaged over images)."""
    result = model.evaluate(make_eval_dataset(test, batch_size), verbose=0, return_dict=True)
    return {k: float(v) for k, v in result.items()}


def _preview_rows(model: TSGAN, arrays: PairedArrays, target: Optional[np.ndarray], n: int = 4):
    """[RGB, ground truth, prediction] rows; both depths share the ground truth's colour range
    and mask, near = warm (TS-GAN depth is near-is-bright)."""
    from depthlab import visualize

    batch = next(iter(make_paired_dataset(arrays, n, training=False, repeat=False)))
    pred = depth_to_unit(model.g_a2b(batch["rgb"], training=False)).numpy()
    gt = depth_to_unit(batch["depth"]).numpy()
    rows = []
    for i in range(min(n, len(gt))):
        mask = batch["mask"][i, ..., 0].numpy() > 0
        lo, hi = float(gt[i][mask].min()), float(gt[i][mask].max())
        hi = hi if hi > lo else lo + 1e-3
        colour = lambda d: visualize.colorize_depth(d, mask=mask, vmin=lo, vmax=hi,  # noqa: E731
                                                    near_is_small=False)
        rows.append([batch["rgb"][i].numpy(), colour(gt[i]), colour(pred[i])])
    return rows


def collapse_probe(arrays: PairedArrays, n: int = 8):
    """The collapse guard's probe: G_A2B on the first ``n`` held-out examples, [0, 1] depth
    over the valid pixels."""
    batch = next(iter(make_paired_dataset(arrays, min(n, len(arrays)), training=False,
                                          repeat=False)))
    target = depth_to_unit(batch["depth"]).numpy()
    mask = batch["mask"].numpy() > 0

    def probe(model):
        return depth_to_unit(model.g_a2b(batch["rgb"], training=False)).numpy(), target, mask
    return probe


def train(opts: RunOptions, preset: str = "code", overrides: Optional[dict] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) TS-GAN; returns a summary with the held-out metrics."""
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy = training.get_strategy(opts.strategy)
    chief = training.is_chief(strategy)
    distributed = training.is_distributed(strategy)
    cfg = _effective_config(preset, opts, overrides)
    record = {"model": cfg.to_dict(), **dataclasses.asdict(opts)}
    _check_resume_config(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)

    log = print if verbose and chief else (lambda *a, **k: None)
    log(f"[tsgan] preset={cfg.preset} ablation={opts.ablation} image={cfg.image_size} "
        f"batch={cfg.batch_size} epochs={cfg.epochs} precision={opts.mixed_precision}")
    log(f"[tsgan] loading data: source={opts.dataset} target={opts.target_dataset}")
    source = load_source(opts, cfg, opts.train_split)
    target = load_target(opts, cfg) if opts.ablation == "none" else None
    test = load_source(opts, cfg, opts.eval_split, limit=opts.eval_limit)
    steps = opts.steps_per_epoch or max(1, len(source) // cfg.batch_size)
    log(f"[tsgan] {len(source)} paired, {0 if target is None else len(target)} target, "
        f"{len(test)} held-out examples; {steps} steps/epoch; strategy={opts.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s) in sync)")

    with strategy.scope():
        model = build_model(cfg, opts.ablation, opts.seed, steps, opts.jit_compile)
        state = checkpoint_state(model, opts.model_dir)
    initial_epoch = state.restore_latest()

    def evaluation_model():
        if not distributed:
            return model
        return single_device_copy(model, cfg, opts.ablation, opts.seed)

    if initial_epoch >= cfg.epochs:
        log(f"[tsgan] {opts.model_dir} already holds {initial_epoch} epochs; nothing to train")
    elif initial_epoch:
        log(f"[tsgan] resuming from epoch {initial_epoch} ({state.manager.latest_checkpoint})")
    elif chief:
        step0 = evaluate_model(evaluation_model(), test)
        step0.update(mean_depth_baselines(source, test))
        training.write_json(os.path.join(opts.model_dir, "metrics_step0.json"), step0)

    start = initial_epoch * steps * cfg.batch_size
    stream = make_paired_dataset(source, cfg.batch_size, seed=opts.seed, training=True,
                                 start_index=start, reproduce_flip_bug=cfg.reproduce_flip_bug)
    if target is not None:
        stream = zip_streams(stream, make_unpaired_dataset(target, cfg.batch_size, seed=opts.seed,
                                                           start_index=start))
    progress = training.ProgressPrinter(cfg.epochs * steps, cfg.batch_size, every=opts.log_every)
    progress.set_initial_step(initial_epoch * steps)
    callbacks = [training.CheckpointCallback(state)]   # writes on the chief only
    callbacks += [] if not chief else [
        keras.callbacks.TensorBoard(os.path.join(opts.model_dir, "tensorboard"),
                                    update_freq=max(1, opts.log_every), write_graph=False),
        training.ImageGridCallback(lambda m: _preview_rows(m, test, target),
                                   os.path.join(opts.model_dir, "samples"),
                                   os.path.join(opts.model_dir, "tensorboard", "images"),
                                   labels=("RGB", "GT", "predicted"),
                                   near_is_small=False),   # TS-GAN depth is near-is-bright
    ]
    if verbose and chief:
        callbacks.append(progress)
    guards = collapse.guard_callbacks(
        opts.collapse_guard, collapse_probe(test), name="TS-GAN G_A2B", every=opts.log_every,
        model_dir=opts.model_dir, summary_dir=os.path.join(opts.model_dir, "tensorboard", "collapse"),
        log=None if chief else (lambda m: None), chief=chief,
        initial_step=initial_epoch * steps, initial_epoch=initial_epoch)
    callbacks += guards + list(extra_callbacks or [])
    if initial_epoch < cfg.epochs:
        training.fit(model, stream, epochs=cfg.epochs, steps_per_epoch=steps,
                     initial_epoch=initial_epoch, callbacks=callbacks, strategy=strategy)
    final_model = evaluation_model()
    final = collapse.mark(evaluate_model(final_model, test), guards)
    if chief:
        final_model.g_a2b.save(os.path.join(opts.model_dir, "g_a2b.keras"))
        training.write_json(os.path.join(opts.model_dir, "metrics_final.json"), final)
    return {"final": final, "model": final_model, "epochs_done": cfg.epochs,
            "steps_per_epoch": steps, "config": cfg}


def load_trained(model_dir: str):
    """(model, config record) restored from ``model_dir``'s latest checkpoint (inference)."""
    record = training.read_json(os.path.join(model_dir, "config.json"))
    cfg = TSGANConfig.from_dict(record["model"])
    model = TSGAN(cfg, ablation=record.get("ablation", "none"), seed=record.get("seed", 0))
    ckpt_dir = os.path.join(model_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}; train first with "
                                f"experiments.train_tsgan --model_dir={model_dir}")
    tf.train.Checkpoint(g_a2b=model.g_a2b, g_b2a=model.g_b2a).restore(latest).expect_partial()
    model.compile()
    return model, record


def evaluate(model_dir: str, split: Optional[str] = None, limit: Optional[int] = None,
             fid_weights: Optional[str] = None, batch_size: int = 16) -> Dict[str, float]:
    """Held-out Table 1 metrics (and FID when a feature extractor file is given)."""
    model, record = load_trained(model_dir)
    opts = RunOptions(**{k: v for k, v in record.items()
                         if k in {f.name for f in dataclasses.fields(RunOptions)}})
    test = load_source(opts, model.config, split or opts.eval_split, limit=limit)
    result = {k: v for k, v in evaluate_model(model, test, batch_size).items() if k in EVAL_KEYS}
    extractor = metrics.load_fid_feature_extractor(fid_weights)
    if extractor is not None:
        ds = make_eval_dataset(test, batch_size)
        real, fake = [], []
        for batch in ds:
            real.append(np.repeat(depth_to_unit(batch["depth"]).numpy(), 3, axis=-1))
            fake.append(np.repeat(depth_to_unit(model.g_a2b(batch["rgb"])).numpy(), 3, axis=-1))
        result["fid"] = metrics.FIDCalculator(extractor).distance(
            np.concatenate(real), np.concatenate(fake))
    result["num_images"] = len(test)
    return result


def summary_rows(model_dir: str, final: Dict[str, float]) -> Dict[str, Dict[str, float]]:
    """Rows for the end-of-training table: baselines, step 0 and the trained model."""
    rows: Dict[str, Dict[str, float]] = {}
    path = os.path.join(model_dir, "metrics_step0.json")
    if os.path.exists(path):
        step0 = training.read_json(path)
        rows["predict mean depth"] = {"rmse": step0.get("rmse_mean_depth")}
        rows["predict mean face"] = {"rmse": step0.get("rmse_mean_face")}
        rows["TS-GAN, step 0"] = step0
    rows["TS-GAN, trained"] = final
    return rows


def latest_sample_grid(model_dir: str) -> Optional[str]:
    folder = os.path.join(model_dir, "samples")
    if not os.path.isdir(folder):
        return None
    pngs = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    return os.path.join(folder, pngs[-1]) if pngs else None
