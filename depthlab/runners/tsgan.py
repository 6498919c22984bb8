"""TS-GAN's experiment on the one run lifecycle (``depthlab.core.run``), and evaluate / export
as library calls (the binaries only parse flags).

Layout of a ``model_dir``:
  config.json            trainer 'tsgan', the model config (its 'epochs' aside: --epochs may
                         grow on resume) + run options (the resume rule compares them)
  checkpoints/           tf.train.CheckpointManager: networks, 3-4 optimizers, pools, epoch
  tensorboard/           scalars per step, colourised sample grids per epoch
  samples/               the same grids as PNG
  g_a2b.keras            the shared generator after the last epoch
  metrics_step0.json     held-out metrics before training, with the mean-depth baselines
  metrics_final.json     held-out metrics after training, with the collapse guard's verdict

``TSGANOptions.method`` (``depthlab.runners.tsgan_options``) picks the trained model: 'tsgan'
(Algorithm 1) or one of the paper's Table 1 baselines 'fcn', 'cgan', 'cyclegan'
(``depthlab.models.tsgan_baselines``), trained on the same data with the same budget flags;
every method checkpoints its generator as ``g_a2b``, so evaluation and export read all four
the same way.

``TSGANOptions.target_protocol`` decides the student's target RGB: 'paper' (the default for a
real face target, IIIT-D / EURECOM / LFW) keeps only the images outside the recognition
protocol's test sets (``recognition_protocols.student_indices``; paper lines 595-607 and
617-619), IIIT-D for fold ``target_fold``; 'all' reads the whole ``target_split`` (the default
for the embedded ``synthetic_faces_target``, whose identities are disjoint from the
recognition ones, and for datasets without a recognition protocol).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from data_pipelines import registry as datasets
from data_pipelines import sources
from data_pipelines.conventions import tanh_depth_to_unit
from data_pipelines.paired import PairedArrays, make_paired_dataset, tsgan_depth_to_unit
from data_pipelines.unpaired import make_unpaired_dataset, zip_streams
from depthlab import face_relief, metrics, reporting, training
from depthlab.configs import TSGANConfig, tsgan_config
from depthlab.core import options as options_lib
from depthlab.core import registry
from depthlab.core import run as run_lib
from depthlab.core.experiment import Experiment
from depthlab.models import tsgan_baselines as baselines
from depthlab.models.tsgan import TSGAN
from depthlab.runners.tsgan_options import (DEFAULT_SOURCE, PAIRED_VIEW,  # noqa: F401
                                            TARGET_PROTOCOLS, TARGET_VIEW, TSGANOptions)
from depthlab.schedules import CompoundEpochDecay, LinearDecay, StepDecay
from depthlab.visualize import latest_sample_grid  # noqa: F401 (binaries' import path)

EVAL_KEYS = ("abs_diff", "l1", "l2", "rmse", "delta1", "delta2", "delta3")
#: eval_tsgan --protocol: 'paper' = Table 1 on the paper's scale (metrics.PAPER_TABLE1_KEYS,
#: all pixels, delta in %); 'valid_pixels' = the per-valid-pixel metrics of EVAL_KEYS (the
#: ones training logs: sums for l1/l2, delta as fractions).
PROTOCOLS = ("paper", "valid_pixels")
PROTOCOL_KEYS = {"paper": metrics.PAPER_TABLE1_KEYS, "valid_pixels": EVAL_KEYS}
#: the experiment's registry name, written to config.json as 'trainer'; eval_tsgan checks it
TRAINER = "tsgan"
#: what config.json's 'trainer' said before the lifecycle (runs written then still load)
LEGACY_TRAINER = "experiments.train_tsgan"


#: the options of a TS-GAN run (``depthlab.runners.tsgan_options``; the old name kept for
#: callers that built ``RunOptions`` directly)
RunOptions = TSGANOptions


def _synthetic_size(opts: TSGANOptions, split: str) -> sources.SyntheticSize:
    ids = opts.synthetic_identities if split == "train" else max(4, opts.synthetic_identities // 4)
    return sources.SyntheticSize(ids, opts.synthetic_images_per_identity,
                                 opts.synthetic_diffuse_light)


def _read(name: str, view: str, split: str, image_size: int, **kwargs):
    """``name``'s ``view`` reader from ``data_pipelines.registry`` (the face readers take the
    dataset name first: ``sources.load_paired`` / ``load_rgb``), after its data_dir check."""
    return datasets.read(name, view, name, split, image_size, **kwargs)


def load_source(opts: TSGANOptions, cfg: TSGANConfig, split: str,
                limit: Optional[int] = None) -> PairedArrays:
    """Paired RGB-D faces of ``opts.dataset`` (``data_pipelines.registry``, view
    'paired_faces'); with ``cfg.lambda_landmark`` the training split carries landmark heat maps
    (only the embedded faces mark landmarks)."""
    landmarks = bool(cfg.lambda_landmark) and split == "train"
    return _read(opts.dataset, PAIRED_VIEW, split, cfg.image_size, seed=opts.seed,
                 data_dir=opts.data_dir, synthetic_size=_synthetic_size(opts, split),
                 limit=limit, protocol=opts.curtin_protocol,
                 landmark_sigma=cfg.landmark_sigma if landmarks else None)


def load_target(opts: TSGANOptions, cfg: TSGANConfig) -> np.ndarray:
    """The student's unpaired target RGB (uint8): under ``target_protocol='paper'`` only the
    recognition training images (``rp.load_student_faces``, paper lines 595-607), else the
    whole ``target_split``."""
    if opts.target_protocol == "paper":
        return rp.load_student_faces(opts.target_dataset.split("/")[0], cfg.image_size,
                                     data_dir=opts.target_data_dir or opts.data_dir,
                                     fold=opts.target_fold, seed=opts.target_split_seed).rgb
    return _read(opts.target_dataset, TARGET_VIEW, opts.target_split, cfg.image_size,
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


#: config.json keys added after runs were recorded, with what those runs did
_LEGACY_DEFAULTS = {"method": "tsgan", "target_protocol": "all", "target_fold": None,
                    "target_split_seed": 0}


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
    elif trainer not in (TRAINER, LEGACY_TRAINER):
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
    landmark_weight = None
    if cfg.lambda_landmark and cfg.landmark_decay_epoch >= 0:
        landmark_weight = LinearDecay(cfg.lambda_landmark, cfg.epochs * steps_per_epoch,
                                      cfg.landmark_decay_epoch * steps_per_epoch)
    model.compile(**{f"{role}_optimizer": opt for role, opt in opts.items()},
                  landmark_weight=landmark_weight, jit_compile=jit_compile)
    return model


def checkpoint_objects(model: keras.Model) -> Dict[str, object]:
    """The whole training state of a TS-GAN (networks, image pools, 3-4 optimizers) or of a
    baseline (its own list), by checkpoint name."""
    if not isinstance(model, TSGAN):   # a baseline lists its own state
        return {k: v for k, v in model.checkpoint_objects().items() if v is not None}
    objects = dict(g_a2b=model.g_a2b, g_b2a=model.g_b2a, d_depth=model.d_depth, d_rgb=model.d_rgb,
                   teacher_pool=model.teacher_pool, student_pool=model.student_pool,
                   rec_pool=model.rec_pool, teacher_optimizer=model.teacher_optimizer)
    for name in ("student_optimizer", "disc_optimizer", "d_rgb_optimizer"):
        if getattr(model, name) is not None:
            objects[name] = getattr(model, name)
    return objects


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


#: face-shape keys of ``face_shape_metrics`` (mm over the face front; fraction of images)
FACE_SHAPE_KEYS = ("face_rmse_mm", "face_flat_rmse_mm", "face_shape_rmse_mm", "face_pearson_r",
                   "face_beats_flat")


def face_shape_metrics(model, test: PairedArrays, batch_size: int = 16) -> Dict[str, float]:
    """Issue 20's check on held-out paired faces (``depthlab.face_relief``): over each
    image's face front (valid depth within ``FRONT_MM`` of its nearest point), G_A2B's RMSE,
    the best flat face's (the ground truth's standard deviation there), the RMSE with the
    prediction's mean offset removed and Pearson r, in mm of the 250 mm window, averaged
    over images; ``face_beats_flat`` = the fraction of images where the model's RMSE is below
    the best flat face's. 8-bit depth (no mm scale) gives {}."""
    if test.depth_bits != 16:
        return {}
    rows = []
    start = 0
    for batch in make_eval_dataset(test, batch_size):
        pred = tanh_depth_to_unit(model.g_a2b(batch["rgb"], training=False)).numpy()[..., 0]
        n = len(pred)
        gt, valid = (a.numpy() for a in tsgan_depth_to_unit(test.depth[start:start + n], 16))
        start += n
        for p, g, v in zip(pred, gt, valid):
            region = face_relief.face_front_mask(g, v)
            if region.sum() >= 2:
                rows.append(face_relief.relief_errors(p, g, region))
    if not rows:
        return {}
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    return {"face_rmse_mm": mean("rmse_mm"), "face_flat_rmse_mm": mean("rmse_flat_mm"),
            "face_shape_rmse_mm": mean("rmse_shape_mm"), "face_pearson_r": mean("pearson_r"),
            "face_beats_flat": float(np.mean([r["rmse_mm"] < r["rmse_flat_mm"]
                                              for r in rows]))}


def _preview_rows(model: TSGAN, arrays: PairedArrays, target: Optional[np.ndarray], n: int = 4):
    """[RGB, ground truth, prediction, prediction over all pixels, ground truth lit, prediction
    lit] rows; the depths share the ground truth's colour range, near = warm (TS-GAN depth is
    near-is-bright); "predicted" is drawn on the ground truth's valid pixels like the ground
    truth, "predicted, all pixels" everywhere (values beyond the range clipped: background
    predicted near shows warm, issue 20); the lit tiles draw the depths as surfaces under a
    light from the upper left (``visualize.shade_relief``; a nose, eye sockets and a chin show
    as shape); tiles enlarged to at least ``visualize.DISPLAY_MIN_PX`` (RGB bilinear, depth
    nearest)."""
    from depthlab import visualize

    batch = next(iter(make_paired_dataset(arrays, n, training=False, repeat=False)))
    pred = tanh_depth_to_unit(model.g_a2b(batch["rgb"], training=False)).numpy()
    gt = tanh_depth_to_unit(batch["depth"]).numpy()
    rows = []
    for i in range(min(n, len(gt))):
        mask = batch["mask"][i, ..., 0].numpy() > 0
        lo, hi = float(gt[i][mask].min()), float(gt[i][mask].max())
        hi = hi if hi > lo else lo + 1e-3
        colour = lambda d, m=mask: visualize.colorize_depth(  # noqa: E731
            d, mask=m, vmin=lo, vmax=hi, near_is_small=False)
        lit = lambda d: visualize.shade_relief(  # noqa: E731
            (1.0 - d[..., 0]) * face_relief.DEFAULT_FACE_RANGE_MM, mask=mask,
            pixel_size=face_relief.FRAME_MM_PER_PIXEL_AT_64 * 64.0 / d.shape[0])
        rgb = visualize.to_rgb_uint8(batch["rgb"][i].numpy())
        rows.append([visualize.upscale_for_display(rgb, smooth=True),
                     visualize.upscale_for_display(colour(gt[i])),
                     visualize.upscale_for_display(colour(pred[i])),
                     visualize.upscale_for_display(colour(pred[i], np.ones_like(mask))),
                     visualize.upscale_for_display(lit(gt[i])),
                     visualize.upscale_for_display(lit(pred[i]))])
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


@dataclasses.dataclass
class TSGANData:
    """What ``build_data`` loads: paired source, the student's target RGB (None without a
    student), the held-out paired arrays and the steps per epoch."""

    source: PairedArrays
    target: Optional[np.ndarray]
    test: PairedArrays
    steps: int
    #: held-out target-domain faces with depth (evaluation only; the embedded target has it)
    target_test: Optional[PairedArrays] = None


def _override_strings(overrides: Optional[Dict[str, Any]]) -> tuple:
    """``{'lambda_cycle': 10, 'disc_filters': (8, 16)}`` -> ``('lambda_cycle=10',
    'disc_filters=8,16')``: a config dict as ``--config_override`` values."""
    def text(value):
        if value is None:
            return "none"
        if isinstance(value, (tuple, list)):
            return ",".join(str(v) for v in value)
        return repr(value) if isinstance(value, float) else str(value)
    return tuple(f"{k}={text(v)}" for k, v in (overrides or {}).items())


@registry.experiment("tsgan")
class TSGANExperiment(Experiment):
    """TS-GAN (Algorithm 1) or a paper Table 1 baseline (``--method``) on the one lifecycle."""

    Options = TSGANOptions
    tag = "[tsgan]"
    collapse_name = "TS-GAN G_A2B"
    preview_labels = ("RGB", "GT", "predicted", "predicted, all pixels", "GT, lit",
                      "predicted, lit")
    preview_near_is_small = False          # TS-GAN depth is near-is-bright
    preview_every = 1                      # a sample grid every epoch
    legacy_trainers = ("experiments.train_tsgan",)   # runs recorded before the lifecycle
    legacy_defaults = dict(_LEGACY_DEFAULTS)
    tiny_changed_field = ("synthetic_identities", 3)
    tiny_is_slow = True       # the resume-rule test: 4 tiny runs, ~45 s each on 2 shared cores
    #: steps per epoch of the last ``build_data`` (``train``'s summary)
    steps: Optional[int] = None

    # -- configuration --------------------------------------------------------------------
    def preset_config(self, opts: TSGANOptions) -> TSGANConfig:
        return tsgan_config(opts.preset)

    def config(self, opts: TSGANOptions) -> TSGANConfig:
        """The preset, then the flag-backed fields (--epochs, --batch_size), then
        ``--config_override``."""
        changes = {k: getattr(opts, k) for k in ("epochs", "batch_size")
                   if getattr(opts, k) is not None}
        cfg = options_lib.apply_overrides(tsgan_config(opts.preset, **changes),
                                          opts.config_override)
        if cfg.lambda_landmark and (opts.dataset != DEFAULT_SOURCE or opts.method != "tsgan"):
            raise options_lib.OptionsError(
                f"lambda_landmark={cfg.lambda_landmark} (G_A2B's landmark head) needs "
                f"--method=tsgan on the faces that mark landmarks, --dataset={DEFAULT_SOURCE}; "
                f"got --method={opts.method} --dataset={opts.dataset} (the demo preset has the "
                f"head: add --config_override=lambda_landmark=0)")
        return cfg

    def epochs(self, opts, config: TSGANConfig) -> int:
        return int(config.epochs)

    def batch_size(self, opts, config: TSGANConfig) -> int:
        return int(config.batch_size)

    def record(self, opts, config: TSGANConfig) -> Dict[str, Any]:
        """config.json; the model config without 'epochs' (the extendable --epochs is a run
        option: a finished run trains further with a larger --epochs)."""
        out = super().record(opts, config)
        out["model"] = {k: v for k, v in out["model"].items() if k != "epochs"}
        return out

    # -- data and model -------------------------------------------------------------------
    def build_data(self, run) -> TSGANData:
        opts, cfg = run.opts, run.config
        run.log(f"method={opts.method} preset={cfg.preset} ablation={opts.ablation} "
                f"image={cfg.image_size} batch={cfg.batch_size} epochs={cfg.epochs} "
                f"precision={opts.mixed_precision}")
        run.log(f"loading data: source={opts.dataset} target={opts.target_dataset} "
                f"(target_protocol={opts.target_protocol}"
                + (f", fold {opts.target_fold}" if opts.target_fold is not None else "") + ")")
        source = load_source(opts, cfg, opts.train_split)
        needs_target = opts.method == "tsgan" and opts.ablation == "none"   # the student's domain
        target = load_target(opts, cfg) if needs_target else None
        test = load_source(opts, cfg, opts.eval_split, limit=opts.eval_limit)
        target_test = sources.load_target_with_depth(
            opts.target_dataset, opts.eval_split, cfg.image_size, seed=opts.seed,
            synthetic_size=_synthetic_size(opts, opts.eval_split), limit=opts.eval_limit)
        steps = opts.steps_per_epoch or max(1, len(source) // cfg.batch_size)
        run.log(f"{len(source)} paired, {0 if target is None else len(target)} target, "
                f"{len(test)} held-out examples"
                + ("" if target_test is None else
                   f" (+ {len(target_test)} held-out target-domain faces with depth, for "
                   "evaluation only)") + f"; {steps} steps/epoch")
        self.steps = steps
        return TSGANData(source, target, test, steps, target_test)

    def steps_per_epoch(self, run, data: TSGANData) -> int:
        return data.steps

    def build_model(self, run, data: TSGANData) -> keras.Model:
        opts = run.opts
        return build_model(run.config, opts.ablation, opts.seed, data.steps, opts.jit_compile,
                           opts.method)

    def checkpoint_objects(self, run, model) -> Dict[str, Any]:
        return checkpoint_objects(model)

    def train_dataset(self, run, data: TSGANData, phase, first_epoch: int) -> tf.data.Dataset:
        """The paired stream (and the target stream zipped to it) from where an uninterrupted
        run is after ``first_epoch`` epochs."""
        cfg, seed = run.config, run.opts.seed
        start = first_epoch * phase.steps_per_epoch * cfg.batch_size
        stream = make_paired_dataset(data.source, cfg.batch_size, seed=seed, training=True,
                                     start_index=start,
                                     reproduce_flip_bug=cfg.reproduce_flip_bug,
                                     framing_shift=cfg.framing_shift,
                                     framing_log_zoom=cfg.framing_log_zoom,
                                     landmarks=bool(cfg.lambda_landmark))
        if data.target is not None:
            stream = zip_streams(stream, make_unpaired_dataset(
                data.target, cfg.batch_size, seed=seed, start_index=start,
                framing_shift=cfg.framing_shift, framing_log_zoom=cfg.framing_log_zoom))
        return stream

    def on_fresh_start(self, run, model, data: TSGANData) -> None:
        """metrics_step0.json: the untrained generator and the mean-depth baselines."""
        if not run.chief:
            return
        plain = self.plain_copy(run, model) if run.distributed else model
        step0 = held_out_metrics(plain, data)
        step0.update(mean_depth_baselines(data.source, data.test))
        training.write_json(run.path("metrics_step0.json"), step0)

    # -- monitoring -----------------------------------------------------------------------
    def preview_rows(self, run, model, data: TSGANData):
        return _preview_rows(model, data.test, data.target)

    def collapse_probe(self, run, data: TSGANData):
        return collapse_probe(data.test)

    # -- after training -------------------------------------------------------------------
    def plain_copy(self, run, model):
        """A one-device model of the run's method holding G_A2B's weights (evaluation and
        saving after a distributed run)."""
        opts, cfg = run.opts, run.config

        def build():
            if opts.method == "tsgan":
                return TSGAN(cfg, ablation=opts.ablation, seed=opts.seed)
            return baselines.build_baseline(opts.method, cfg, seed=opts.seed)
        plain = training.single_device_copy(model, build, parts=("g_a2b",))
        plain.compile()
        return plain

    def save(self, run, model) -> None:
        model.g_a2b.save(run.path("g_a2b.keras"))

    def evaluate(self, run, model, data: TSGANData) -> Dict[str, Any]:
        return held_out_metrics(model, data)

    def export(self, run, model, export_dir: str) -> str:
        from depthlab.export import export_depth_generator

        return export_depth_generator(model.g_a2b, export_dir, run.config.image_size)

    def summary_lines(self, run, final: Dict[str, Any]) -> List[str]:
        """The end-of-training table: mean-depth baselines, step 0 and the trained model."""
        rows = summary_rows(run.model_dir, final, baselines.PAPER_LABELS[run.opts.method])
        table = reporting.metrics_table(rows, ("rmse", "abs_diff", "l1", "l2", "delta1",
                                               "delta2", "delta3"))
        lines = ["held-out depth metrics ([0,1] depth, valid pixels, mean over images):",
                 *table.splitlines()]
        shape_rows = face_shape_rows(rows)
        if shape_rows:
            lines += ["face shape over the face front (valid depth within "
                      f"{face_relief.FRONT_MM:g} mm of the nearest point), mm, mean over images; "
                      "'flat' = the best flat face, 'shape' = offset removed, 'beats' = "
                      "fraction of images below flat:",
                      *reporting.metrics_table(shape_rows, FACE_SHAPE_KEYS, 3).splitlines()]
        return lines

    # -- tests ----------------------------------------------------------------------------
    def tiny_options(self, model_dir: str, **changes) -> TSGANOptions:
        base = dict(model_dir=model_dir, preset="demo", config_override=_override_strings(TINY),
                    batch_size=4, synthetic_identities=4, synthetic_images_per_identity=3,
                    epochs=1, steps_per_epoch=2, eval_limit=8, seed=3, log_every=1000)
        base.update(changes)
        return TSGANOptions(**base)


#: the smallest TS-GAN (tests, ``tiny_options``): 32x32, 8 generator filters, 2 blocks
TINY = dict(image_size=32, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
            disc_strides=(2, 2, 1), pool_size=8)


def train(opts: TSGANOptions, preset: Optional[str] = None,
          overrides: Optional[Dict[str, Any]] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) ``opts.model_dir`` through ``depthlab.core.run``. ``preset`` and
    ``overrides`` (a config dict) replace ``opts.preset`` and extend
    ``opts.config_override``. Returns the lifecycle's dict (final, model, history, config,
    run, batch_history) with ``epochs_done`` and ``steps_per_epoch``."""
    changes: Dict[str, Any] = {}
    if preset is not None:
        changes["preset"] = preset
    if overrides:
        changes["config_override"] = tuple(opts.config_override) + _override_strings(overrides)
    if changes:
        opts = dataclasses.replace(opts, **changes)
    experiment = TSGANExperiment()
    out = run_lib.run(experiment, opts, extra_callbacks, verbose)
    out["epochs_done"] = out["run"].epochs
    out["steps_per_epoch"] = experiment.steps
    return out


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
    opts = TSGANOptions(**{k: v for k, v in record.items()
                         if k in {f.name for f in dataclasses.fields(TSGANOptions)}})
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


def held_out_metrics(model, data: TSGANData) -> Dict[str, float]:
    """Held-out metrics of G_A2B: Table 1's on the paired test split, the face-shape ones
    (``face_shape_metrics``) and, where the target domain has depth for evaluation, both
    again on held-out target-domain faces (keys prefixed 'target_')."""
    out = evaluate_model(model, data.test)
    out.update(face_shape_metrics(model, data.test))
    if data.target_test is not None:
        target = evaluate_model(model, data.target_test)
        target.update(face_shape_metrics(model, data.target_test))
        out.update({f"target_{k}": v for k, v in target.items()
                    if k in ("rmse",) + FACE_SHAPE_KEYS})
    return out


def face_shape_rows(rows: Dict[str, Dict[str, float]]) -> Dict[str, Dict[str, float]]:
    """The face-shape table's rows from the summary's: per run with face metrics, one row on
    the paired held-out faces and one on the target domain's."""
    out = {}
    for label, values in rows.items():
        for domain, prefix in (("source", ""), ("target", "target_")):
            if values.get(prefix + "face_rmse_mm") is not None:
                out[f"{label}, {domain} held-out"] = {k: values[prefix + k]
                                                      for k in FACE_SHAPE_KEYS}
    return out


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
