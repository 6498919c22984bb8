"""TS-GAN train / evaluate / export as library calls (the binaries only parse flags).

Layout of a ``model_dir``:
  config.json            trainer, method, model preset + run options (checked on resume)
  checkpoints/           tf.train.CheckpointManager: networks, 3-4 optimizers, pools, epoch
  tensorboard/           scalars per step, colourised sample grids per epoch
  samples/               the same grids as PNG
  g_a2b.keras            the shared generator after the last epoch
  metrics_step0.json     held-out metrics before training, with the mean-depth baselines

``RunOptions.method`` picks the trained model: 'tsgan' (Algorithm 1) or one of the paper's
Table 1 baselines 'fcn', 'cgan', 'cyclegan' (``depthlab.models.tsgan_baselines``), trained on the
same data with the same budget flags; every method checkpoints its generator as ``g_a2b``, so
evaluation and export read all four the same way.

``RunOptions.target_protocol`` decides the student's target RGB: 'paper' (the default for a real
face target, IIIT-D / EURECOM / LFW) keeps only the images outside the recognition protocol's
test sets (``recognition_protocols.student_indices``; paper lines 595-607 and 617-619), IIIT-D
for fold ``target_fold``; 'all' reads the whole ``target_split`` (the default for the embedded
``synthetic_faces_target``, whose identities are disjoint from the recognition ones, and for
datasets without a recognition protocol).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from data_pipelines import sources
from data_pipelines.conventions import tanh_depth_to_unit
from data_pipelines.paired import PairedArrays, make_paired_dataset, tsgan_depth_to_unit
from data_pipelines.unpaired import make_unpaired_dataset, zip_streams
from depthlab import collapse, metrics, training
from depthlab.configs import TSGANConfig, tsgan_config
from depthlab.models import tsgan_baselines as baselines
from depthlab.models.tsgan import ABLATIONS, TSGAN
from depthlab.schedules import CompoundEpochDecay, LinearDecay, StepDecay

EVAL_KEYS = ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3")
#: eval_tsgan --protocol: 'paper' = Table 1 on the paper's scale (metrics.PAPER_TABLE1_KEYS,
#: all pixels, delta in %); 'valid_pixels' = the per-valid-pixel metrics of EVAL_KEYS (the
#: ones training logs: sums for l1/l2, delta as fractions).
PROTOCOLS = ("paper", "valid_pixels")
PROTOCOL_KEYS = {"paper": metrics.PAPER_TABLE1_KEYS, "valid_pixels": EVAL_KEYS}
TRAINER = "experiments.train_tsgan"   # written to config.json; eval_tsgan checks it
#: --target_protocol: 'paper' = the recognition protocol's training images only; 'all' = the
#: whole target split (what every run before this option read)
TARGET_PROTOCOLS = ("paper", "all")


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
    method: str = "tsgan"                     # baselines.METHODS (paper Table 1 columns)
    curtin_protocol: Optional[str] = None     # curtinfaces.PROTOCOLS, e.g. 'paper_47_5'
    target_protocol: Optional[str] = None     # TARGET_PROTOCOLS; None: 'paper' for a real face
    target_fold: Optional[int] = None         # IIIT-D target: the recognition fold (1-5)
    target_split_seed: int = 0                # the recognition run's --seed (EURECOM/LFW draws)
    collapse_guard: str = "warn"              # collapse.MODES

    def __post_init__(self):
        collapse.check_mode(self.collapse_guard)
        self._check_target_protocol()
        if self.strategy not in training.STRATEGIES:
            raise ValueError(f"--strategy={self.strategy!r} is not one of {training.STRATEGIES}")
        if self.ablation not in ABLATIONS:
            raise ValueError(f"--ablation={self.ablation!r} is not one of {ABLATIONS}")
        if self.method not in baselines.METHODS:
            raise ValueError(f"--method={self.method!r} is not one of {list(baselines.METHODS)}")
        if self.method != "tsgan" and self.ablation != "none":
            raise ValueError(f"--ablation={self.ablation} is a TS-GAN ablation; --method="
                             f"{self.method} takes none")
        if self.curtin_protocol is not None and self.dataset.split("/")[0] != "curtinfaces":
            raise ValueError(f"--curtin_protocol={self.curtin_protocol} needs "
                             f"--dataset=curtinfaces, got {self.dataset!r}")
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name} must be > 0, got {value}")

    def _check_target_protocol(self):
        """Resolves ``target_protocol`` (None -> 'paper' for IIIT-D / EURECOM / LFW targets,
        else 'all') and checks it with ``target_fold`` (paper lines 595-607)."""
        base = self.target_dataset.split("/")[0]
        if self.target_protocol is None:
            self.target_protocol = "paper" if base in rp.STUDENT_PROTOCOLS else "all"
        if self.target_protocol not in TARGET_PROTOCOLS:
            raise ValueError(f"--target_protocol={self.target_protocol!r} is not one of "
                             f"{list(TARGET_PROTOCOLS)}")
        paper = self.target_protocol == "paper"
        if paper and base not in rp.STUDENT_PROTOCOLS:
            raise ValueError(f"--target_protocol=paper needs a --target_dataset with a "
                             f"recognition protocol ({', '.join(rp.STUDENT_PROTOCOLS)}), got "
                             f"{self.target_dataset!r}; use --target_protocol=all")
        if paper and base == "iiitd_rgbd":
            if self.target_fold not in rp.IIITD_FOLDS:
                raise ValueError(f"--target_fold must be one of {list(rp.IIITD_FOLDS)} with "
                                 f"--target_dataset=iiitd_rgbd --target_protocol=paper (the "
                                 f"recognition fold whose training images the student sees), "
                                 f"got {self.target_fold}")
        elif self.target_fold is not None:
            raise ValueError(f"--target_fold={self.target_fold} applies only to "
                             f"--target_dataset=iiitd_rgbd with --target_protocol=paper "
                             f"(got --target_dataset={self.target_dataset} "
                             f"--target_protocol={self.target_protocol})")
        if paper and self.target_split != "train":
            raise ValueError(f"target_split={self.target_split!r}: with --target_protocol=paper "
                             "the recognition protocol picks the student's images")


def _synthetic_size(opts: RunOptions, split: str) -> sources.SyntheticSize:
    ids = opts.synthetic_identities if split == "train" else max(4, opts.synthetic_identities // 4)
    return sources.SyntheticSize(ids, opts.synthetic_images_per_identity)


def load_source(opts: RunOptions, cfg: TSGANConfig, split: str,
                limit: Optional[int] = None) -> PairedArrays:
    return sources.load_paired(opts.dataset, split, cfg.image_size, seed=opts.seed,
                               data_dir=opts.data_dir, synthetic_size=_synthetic_size(opts, split),
                               limit=limit, protocol=opts.curtin_protocol)


def load_target(opts: RunOptions, cfg: TSGANConfig) -> np.ndarray:
    """The student's unpaired target RGB (uint8): under ``target_protocol='paper'`` only the
    recognition training images (``rp.load_student_faces``, paper lines 595-607), else the
    whole ``target_split``."""
    if opts.target_protocol == "paper":
        return rp.load_student_faces(opts.target_dataset.split("/")[0], cfg.image_size,
                                     data_dir=opts.target_data_dir or opts.data_dir,
                                     fold=opts.target_fold, seed=opts.target_split_seed).rgb
    return sources.load_rgb(opts.target_dataset, opts.target_split, cfg.image_size,
                            seed=opts.seed, data_dir=opts.target_data_dir or opts.data_dir,
                            synthetic_size=_synthetic_size(opts, "train"))


def build_optimizers(cfg: TSGANConfig,
                     steps_per_epoch: int) -> Dict[str, keras.optimizers.Optimizer]:
    """Adam per role with the preset's schedule: {'teacher', 'student', 'disc'[, 'd_rgb']}.

    'disc' trains both discriminators in the code order and D_depth in the 'algorithm1'
    order, which adds 'd_rgb'. ``disc_lr='component'`` (paper l. 551-552: one learning rate
    for the teacher component, G_A2B + D_depth, one for the student, G_B2A + D_RGB) gives
    D_depth the teacher's lr and schedule and D_RGB the student's; 'own' uses ``lr_disc``
    and ``decay_epoch_disc`` (the authors' ``train_tsgan.py``).
    """
    total = cfg.epochs * steps_per_epoch

    def schedule(lr, start_epoch):
        if cfg.decay == "linear":
            return LinearDecay(lr, total, start_epoch * steps_per_epoch)
        if cfg.decay == "compound":
            return CompoundEpochDecay(lr, steps_per_epoch, start_epoch, cfg.decay_factor)
        return StepDecay(lr, every=start_epoch * steps_per_epoch, factor=cfg.decay_factor)

    def adam(lr, start_epoch, name):
        return keras.optimizers.Adam(schedule(lr, start_epoch), beta_1=cfg.beta_1,
                                     beta_2=cfg.beta_2, name=name)

    teacher = (cfg.lr_teacher, cfg.decay_epoch_teacher)
    student = (cfg.lr_student, cfg.decay_epoch_student)
    disc = teacher if cfg.disc_lr == "component" else (cfg.lr_disc, cfg.decay_epoch_disc)
    out = {"teacher": adam(*teacher, "teacher_adam"), "student": adam(*student, "student_adam"),
           "disc": adam(*disc, "disc_adam")}
    if cfg.update_order == "algorithm1":
        d_rgb = student if cfg.disc_lr == "component" else (cfg.lr_disc, cfg.decay_epoch_disc)
        out["d_rgb"] = adam(*d_rgb, "d_rgb_adam")
    return out


def _effective_config(preset: str, opts: RunOptions, overrides: Optional[dict]) -> TSGANConfig:
    changes = dict(overrides or {})
    if opts.epochs is not None:
        changes["epochs"] = opts.epochs
    if opts.batch_size is not None:
        changes["batch_size"] = opts.batch_size
    return tsgan_config(preset, **changes)


_RESUME_KEYS = ("model", "ablation", "dataset", "target_dataset", "seed", "method",
                "curtin_protocol", "target_protocol", "target_fold", "target_split_seed")
#: config.json keys added after runs were recorded, with what those runs did
_LEGACY_DEFAULTS = {"method": "tsgan", "target_protocol": "all", "target_fold": None,
                    "target_split_seed": 0}


def _check_resume_config(model_dir: str, record: dict) -> None:
    """Refuses to resume a run whose config.json differs in ``_RESUME_KEYS`` (or that another
    trainer wrote); runs from before 'method' / 'curtin_protocol' / 'target_protocol' read as
    tsgan / None / 'all' (so an old run on a real target, which read every image, is not resumed
    under the default 'paper')."""
    training.check_resume_config(model_dir, record, _RESUME_KEYS, read=read_run_config)


def read_run_config(model_dir: str) -> dict:
    """``model_dir``'s config.json, checked to be a train_tsgan run; ``method`` filled in.

    Raises FileNotFoundError (no config.json) or ValueError (a config.json of another trainer,
    e.g. train_cyclegan_depth, or an unknown method), naming the directory and what was found.
    Runs from before the 'trainer' field are accepted when their 'model' is a TS-GAN config.
    """
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{model_dir}: no config.json, so not a train_tsgan run "
                                f"directory; train first with experiments.train_tsgan "
                                f"--model_dir={model_dir}")
    record = training.read_json(path)
    trainer = record.get("trainer") if isinstance(record, dict) else None
    if trainer is None:   # written before the field existed: recognise TS-GAN's own layout
        problem = None
        if not isinstance(record, dict) or "ablation" not in record or "model" not in record:
            problem = (f"top-level keys {sorted(record) if isinstance(record, dict) else record}"
                       f" (a train_tsgan config.json has 'trainer', 'model' and 'ablation')")
            model = record.get("model") if isinstance(record, dict) else None
            if isinstance(model, dict):
                known = {f.name for f in dataclasses.fields(TSGANConfig)}
                problem += (f", and a 'model' with fields a TS-GAN config lacks: "
                            f"{sorted(set(model) - known)}")
        else:
            try:
                TSGANConfig.from_dict(record["model"])
            except (TypeError, ValueError) as e:
                problem = f"a 'model' entry that is not a TS-GAN config ({e})"
        if problem is not None:
            raise ValueError(f"{model_dir}: config.json is not from experiments.train_tsgan: "
                             f"found {problem}")
    elif trainer != TRAINER:
        raise ValueError(f"{model_dir}: config.json was written by trainer {trainer!r}, not "
                         f"{TRAINER!r}")
    record = dict(record, **{k: record.get(k, v) for k, v in _LEGACY_DEFAULTS.items()})
    if record["method"] not in baselines.METHODS:
        raise ValueError(f"{model_dir}: config.json has method {record['method']!r}, not one of "
                         f"{list(baselines.METHODS)}")
    return record


def build_model(cfg: TSGANConfig, ablation: str, seed: int, steps_per_epoch: int,
                jit_compile: bool = False, method: str = "tsgan") -> keras.Model:
    """TS-GAN (3-4 optimizers) or a baseline whose G/D Adam settings are TS-GAN's teacher/
    student/disc ones (``baselines.optimizer_roles``), all compiled."""
    opts = build_optimizers(cfg, steps_per_epoch)
    if method != "tsgan":
        g_role, d_role = baselines.optimizer_roles(method)
        model = baselines.build_baseline(method, cfg, seed=seed)
        return baselines.compile_baseline(model, opts[g_role], opts.get(d_role), jit_compile)
    model = TSGAN(cfg, ablation=ablation, seed=seed)
    model.compile(**{f"{role}_optimizer": opt for role, opt in opts.items()},
                  jit_compile=jit_compile)
    return model


def checkpoint_state(model: keras.Model, model_dir: str) -> training.ResumableCheckpoint:
    if not isinstance(model, TSGAN):   # a baseline lists its own state
        objects = {k: v for k, v in model.checkpoint_objects().items() if v is not None}
        return training.ResumableCheckpoint(os.path.join(model_dir, "checkpoints"), **objects)
    objects = dict(g_a2b=model.g_a2b, g_b2a=model.g_b2a, d_depth=model.d_depth, d_rgb=model.d_rgb,
                   teacher_pool=model.teacher_pool, student_pool=model.student_pool,
                   rec_pool=model.rec_pool, teacher_optimizer=model.teacher_optimizer)
    if model.student_optimizer is not None:
        objects["student_optimizer"] = model.student_optimizer
    if model.disc_optimizer is not None:
        objects["disc_optimizer"] = model.disc_optimizer
    if model.d_rgb_optimizer is not None:
        objects["d_rgb_optimizer"] = model.d_rgb_optimizer
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
    pred = tanh_depth_to_unit(model.g_a2b(batch["rgb"], training=False)).numpy()
    gt = tanh_depth_to_unit(batch["depth"]).numpy()
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
    target = tanh_depth_to_unit(batch["depth"]).numpy()
    mask = batch["mask"].numpy() > 0

    def probe(model):
        return tanh_depth_to_unit(model.g_a2b(batch["rgb"], training=False)).numpy(), target, mask
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
    record = {"trainer": TRAINER, "model": cfg.to_dict(), **dataclasses.asdict(opts)}
    _check_resume_config(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)

    log = print if verbose and chief else (lambda *a, **k: None)
    log(f"[tsgan] method={opts.method} preset={cfg.preset} ablation={opts.ablation} "
        f"image={cfg.image_size} "
        f"batch={cfg.batch_size} epochs={cfg.epochs} precision={opts.mixed_precision}")
    log(f"[tsgan] loading data: source={opts.dataset} target={opts.target_dataset} "
        f"(target_protocol={opts.target_protocol}"
        + (f", fold {opts.target_fold}" if opts.target_fold is not None else "") + ")")
    source = load_source(opts, cfg, opts.train_split)
    needs_target = opts.method == "tsgan" and opts.ablation == "none"   # the student's domain
    target = load_target(opts, cfg) if needs_target else None
    test = load_source(opts, cfg, opts.eval_split, limit=opts.eval_limit)
    steps = opts.steps_per_epoch or max(1, len(source) // cfg.batch_size)
    log(f"[tsgan] {len(source)} paired, {0 if target is None else len(target)} target, "
        f"{len(test)} held-out examples; {steps} steps/epoch; strategy={opts.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s) in sync)")

    with strategy.scope():
        model = build_model(cfg, opts.ablation, opts.seed, steps, opts.jit_compile, opts.method)
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
        model_dir=opts.model_dir, chief=chief,
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
    """(model, config record) restored from ``model_dir``'s latest checkpoint (inference);
    the model is the run's method (``record['method']``), its generator ``g_a2b`` restored."""
    record = read_run_config(model_dir)
    cfg = TSGANConfig.from_dict(record["model"])
    if record["method"] == "tsgan":
        model = TSGAN(cfg, ablation=record.get("ablation", "none"), seed=record.get("seed", 0))
        restore = dict(g_a2b=model.g_a2b, g_b2a=model.g_b2a)
    else:
        model = baselines.build_baseline(record["method"], cfg, seed=record.get("seed", 0))
        restore = dict(g_a2b=model.g_a2b)
    ckpt_dir = os.path.join(model_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}; train first with "
                                f"experiments.train_tsgan --model_dir={model_dir}")
    tf.train.Checkpoint(**restore).restore(latest).expect_partial()
    model.compile()
    return model, record


def paper_protocol_metrics(model: TSGAN, test: PairedArrays,
                           batch_size: int = 16) -> Dict[str, float]:
    """TS-GAN Table 1 on the paper's scale (``metrics.PaperTable1Accumulator``): G_A2B's
    first channel and the ground truth, both mapped to [0, 1] (holes and background are 0),
    every pixel of every held-out image, at the run's image size."""
    acc = metrics.PaperTable1Accumulator()
    for batch in make_eval_dataset(test, batch_size):
        pred = tanh_depth_to_unit(model.g_a2b(tf.cast(batch["rgb"], tf.float32), training=False))
        acc.update(pred.numpy(), tanh_depth_to_unit(batch["depth"]).numpy())
    return acc.result()


def evaluate(model_dir: str, split: Optional[str] = None, limit: Optional[int] = None,
             fid_weights: Optional[str] = None, batch_size: int = 16,
             protocol: str = "paper") -> Dict[str, float]:
    """Held-out Table 1 metrics under ``protocol`` (``PROTOCOLS``), plus FID when a feature
    extractor file is given; the result records ``protocol`` and ``num_images``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r} is not one of {PROTOCOLS}")
    model, record = load_trained(model_dir)
    opts = RunOptions(**{k: v for k, v in record.items()
                         if k in {f.name for f in dataclasses.fields(RunOptions)}})
    test = load_source(opts, model.config, split or opts.eval_split, limit=limit)
    if protocol == "paper":
        result = paper_protocol_metrics(model, test, batch_size)
    else:
        result = {k: v for k, v in evaluate_model(model, test, batch_size).items()
                  if k in EVAL_KEYS}
    extractor = metrics.load_fid_feature_extractor(fid_weights)
    if extractor is not None:
        ds = make_eval_dataset(test, batch_size)
        real, fake = [], []
        for batch in ds:
            real.append(np.repeat(tanh_depth_to_unit(batch["depth"]).numpy(), 3, axis=-1))
            fake.append(np.repeat(tanh_depth_to_unit(model.g_a2b(batch["rgb"])).numpy(), 3,
                                  axis=-1))
        result["fid"] = metrics.FIDCalculator(extractor).distance(
            np.concatenate(real), np.concatenate(fake))
    result["num_images"] = len(test)
    result["protocol"] = protocol
    return result


def evaluate_runs(model_dirs: List[str], split: Optional[str] = None, limit: Optional[int] = None,
                  fid_weights: Optional[str] = None, batch_size: int = 16,
                  protocol: str = "paper",
                  labels: Optional[List[Optional[str]]] = None) -> Dict[str, Dict[str, float]]:
    """{label: metrics} of several train_tsgan runs (our paper Table 1); a run's label is its
    entry of ``labels`` or, when that is None, its method from its config.json. Every directory
    is checked before any is evaluated; two runs with one label (e.g. two unlabelled runs of
    one method) are an error naming both."""
    labels = list(labels) if labels is not None else [None] * len(model_dirs)
    if len(labels) != len(model_dirs):
        raise ValueError(f"{len(labels)} labels for {len(model_dirs)} model_dirs")
    runs: Dict[str, str] = {}
    for label, model_dir in zip(labels, model_dirs):
        method = read_run_config(model_dir)["method"]
        key = label or method
        if key in runs:
            what = f"method {key!r}; pass one run per method" if not label else f"label {key!r}"
            raise ValueError(f"--model_dirs: {runs[key]} and {model_dir} are both {what} "
                             "(or label them: label=dir)")
        runs[key] = model_dir
    return {key: evaluate(model_dir, split=split, limit=limit, fid_weights=fid_weights,
                          batch_size=batch_size, protocol=protocol)
            for key, model_dir in runs.items()}


def summary_rows(model_dir: str, final: Dict[str, float],
                 label: str = "TS-GAN") -> Dict[str, Dict[str, float]]:
    """Rows for the end-of-training table: baselines, step 0 and the trained model."""
    rows: Dict[str, Dict[str, float]] = {}
    path = os.path.join(model_dir, "metrics_step0.json")
    if os.path.exists(path):
        step0 = training.read_json(path)
        rows["predict mean depth"] = {"rmse": step0.get("rmse_mean_depth")}
        rows["predict mean face"] = {"rmse": step0.get("rmse_mean_face")}
        rows[f"{label}, step 0"] = step0
    rows[f"{label}, trained"] = final
    return rows


def latest_sample_grid(model_dir: str) -> Optional[str]:
    folder = os.path.join(model_dir, "samples")
    if not os.path.isdir(folder):
        return None
    pngs = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    return os.path.join(folder, pngs[-1]) if pngs else None
