"""Cross-task distillation DSR (Sun et al., CVPR 2021): train / evaluate / export as library calls.

Layout of a ``model_dir``:
  config.json              trainer, model config + run options (the resume rule of
                           depthlab.core.run; older runs' records lack ``trainer``)
  checkpoints/             all networks, the three optimizers, the stage variable, epoch
  tensorboard/             losses per step, ``role/dsr_is_teacher`` every step, sample grids
  samples/                 PNG grids: RGB | HR | bicubic | DSRNet | DENet (held-out data)
  roles.csv                step, stage, role (1: DSRNet teaches, 0: DENet teaches, -1: stage 1),
                           e_dsr, e_de of that step
  dsrnet_stage1.weights.h5 DSRNet at the end of stage 1 (the "DSRNet only" ablation)
  dsrnet.keras             DSRNet after the last epoch
  metrics_final.json       held-out RMSE (see :func:`evaluate_examples`)

Training goes through the one run lifecycle (``depthlab.core.run``) with the hooks of
:class:`DSRExperiment` (registered as ``dsr_distill``); options: ``depthlab.runners.dsr_options``.

Datasets (the ``rgbd_records`` readers of ``data_pipelines.registry``): ``middlebury_sample``
(embedded: scikit-image's Middlebury 2014 Motorcycle, cropped to 496x736; training patches
come from columns 0-527, evaluation is the held-out columns 544-735), ``nyu_depth_v2`` (the
labeled .mat at full 480x640; ``--nyu_protocol``: first 1000 train, last 449 test by default,
or the official scene split) and ``middlebury`` (a folder of scenes in the 2005/2006/2014
layouts; the last quarter of the scenes in natural order is held out, or for one scene its
right quarter).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import depth_sr
from data_pipelines import nyu_splits
from data_pipelines import registry as datasets
from depthlab import export as export_lib
from depthlab import metrics, training
from depthlab.core import options as options_lib
from depthlab.core import registry
from depthlab.core import run as run_lib
from depthlab.core.experiment import Experiment
from depthlab.models.dsr_distill import (CrossTaskDistiller, DSRConfig, DSRNet, build_dsrnet,
                                         dsr_config, from_normalized, normalize_depth)
from depthlab.runners.dsr_options import DATA_VIEW, DSROptions
from depthlab.visualize import latest_sample_grid  # noqa: F401 (binaries' import path)

#: the former name of the options class (callers that built ``RunOptions(...)``)
RunOptions = DSROptions
CM_PER_M = 100.0
_CROP_MULTIPLE = 16                    # every HR image is cropped to a multiple of the largest scale


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------

def units_of(dataset: str) -> str:
    """RMSE units: centimetres everywhere (NYU as DKN/FDSR; Middlebury depth is metric here)."""
    return "cm"


def _rgbd_records(dataset: str, split: str, data_dir: Optional[str],
                  limit: Optional[int] = None, nyu_protocol: Optional[str] = None
                  ) -> List[Tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, rgb, depth metres, valid) of a split (the dataset's 'rgbd_records' reader in
    data_pipelines.registry), cropped to a multiple of 16. ``nyu_protocol``: the labeled NYU
    set's split (None: 'first1000'); other datasets take none."""
    extra = ({"protocol": nyu_protocol or nyu_splits.DEFAULT_PROTOCOL}
             if dataset == datasets.NYU_DEPTH_V2 else {})
    records = datasets.read(dataset, DATA_VIEW, split=split, data_dir=data_dir, limit=limit,
                            **extra)
    crop = lambda a: depth_sr.crop_to_multiple(a, _CROP_MULTIPLE)  # noqa: E731
    out = [(name, crop(rgb), crop(depth), crop(valid)) for name, rgb, depth, valid in records]
    if not out:
        raise ValueError(f"--dataset={dataset}: split {split!r} is empty")
    return out


def load_examples(dataset: str, split: str, scale: int, data_dir: Optional[str] = None,
                  limit: Optional[int] = None,
                  nyu_protocol: Optional[str] = None) -> List[depth_sr.DSRExample]:
    return [depth_sr.make_example(name, rgb, depth, valid, scale) for name, rgb, depth, valid
            in _rgbd_records(dataset, split, data_dir, limit, nyu_protocol)]


# ----------------------------------------------------------------------------------------
# Model, checkpoint, callbacks
# ----------------------------------------------------------------------------------------

def build_model(cfg: DSRConfig) -> CrossTaskDistiller:
    model = CrossTaskDistiller(cfg)
    adam = lambda name: keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1,  # noqa: E731
                                              beta_2=cfg.beta_2, name=name)
    model.compile(dsr_optimizer=adam("dsr_adam"), de_optimizer=adam("de_adam"),
                  sp_optimizer=adam("sp_adam"))
    return model


NETWORKS = ("dsrnet", "denet", "dsr_heads", "de_heads", "spnet")


def checkpoint_objects(model: CrossTaskDistiller) -> Dict[str, object]:
    """The whole training state under the names every run's checkpoints use."""
    return dict(dsrnet=model.dsrnet, denet=model.denet, dsr_heads=model.dsr_heads,
                de_heads=model.de_heads, spnet=model.spnet, stage=model.stage,
                epoch_teacher=model.epoch_teacher, epoch_errors=model.epoch_errors,
                dsr_optimizer=model.dsr_optimizer, de_optimizer=model.de_optimizer,
                sp_optimizer=model.sp_optimizer)


def checkpoint_state(model: CrossTaskDistiller, model_dir: str) -> training.ResumableCheckpoint:
    return training.ResumableCheckpoint(os.path.join(model_dir, "checkpoints"),
                                        **checkpoint_objects(model))


class StageSchedule(keras.callbacks.Callback):
    """Sets the model's stage (1 for the first ``stage1_epochs`` epochs, then 2; on every
    worker), lets the model choose the epoch's teacher from the previous epoch's mean errors
    (``CrossTaskDistiller.begin_epoch``, Algorithm 1 lines 8-12; with
    ``role_granularity='epoch'``) and, on the chief, saves DSRNet's weights when stage 1 ends
    (the DSRNet-only ablation). The running sums and the teacher are in every checkpoint,
    so a run resumed after epoch k chooses epoch k+1's teacher as an unbroken run does."""

    def __init__(self, stage1_epochs: int, snapshot_path: str, log=print, chief: bool = True):
        super().__init__()
        self.stage1_epochs, self.snapshot_path, self.log = stage1_epochs, snapshot_path, log
        self.chief = chief

    def on_epoch_begin(self, epoch, logs=None):
        stage = 1 if epoch < self.stage1_epochs else 2
        if int(self.model.stage.numpy()) != stage:
            self.log(f"epoch {epoch + 1}: stage {stage}"
                     + (" (role exchange)" if stage == 2 else ""))
        self.model.stage.assign(stage)
        chosen = self.model.begin_epoch()
        if (stage == 2 and chosen is not None and self.chief
                and self.model.config.role_granularity == "epoch"):
            self.log(f"epoch {epoch + 1}: {'DSRNet' if chosen['dsr_teaches'] else 'DENet'} "
                     f"teaches (previous epoch's mean e_dsr {chosen['mean_e_dsr']:.5f}, "
                     f"e_de {chosen['mean_e_de']:.5f} over {chosen['steps']} steps)")

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.stage1_epochs and self.chief:
            training.save_weights_atomic(self.model.dsrnet, self.snapshot_path)


class RoleLogger(keras.callbacks.Callback):
    """Every step: the role each net held, to roles.csv and TensorBoard (``role/*``)."""

    FIELDS = ("step", "stage", "role", "teacher", "e_dsr", "e_de")

    def __init__(self, path: str, summary_dir: str, initial_step: int = 0):
        super().__init__()
        self.path, self.step = path, int(initial_step)
        self.writer = tf.summary.create_file_writer(summary_dir)
        rows = []
        if os.path.exists(path):                     # resume: drop steps after the checkpoint
            with open(path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, self.FIELDS)
            w.writeheader()
            w.writerows(rows)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.step += 1
        role = float(logs.get("role", -1.0))
        teacher = {1.0: "dsrnet", 0.0: "denet"}.get(role, "none (stage 1)")
        row = dict(step=self.step, stage=int(float(logs.get("stage", 1))), role=role,
                   teacher=teacher, e_dsr=float(logs.get("step_e_dsr", np.nan)),
                   e_de=float(logs.get("step_e_de", np.nan)))
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.FIELDS).writerow(row)
        with self.writer.as_default(), tf.summary.record_if(True):
            tf.summary.scalar("role/dsr_is_teacher", float(role == 1.0), step=self.step)
            tf.summary.scalar("role/de_is_teacher", float(role == 0.0), step=self.step)
            tf.summary.scalar("role/stage", row["stage"], step=self.step)
            tf.summary.scalar("role/e_dsr", row["e_dsr"], step=self.step)
            tf.summary.scalar("role/e_de", row["e_de"], step=self.step)

    def on_epoch_end(self, epoch, logs=None):
        self.writer.flush()


class HeldOutRMSE(keras.callbacks.Callback):
    """Held-out RMSE of DSRNet (and bicubic) after every ``every`` epochs: printed, in
    TensorBoard (``heldout/*``) and in ``heldout.csv``."""

    def __init__(self, examples, summary_dir: str, path: str, units: str, every: int = 1,
                 log=print):
        super().__init__()
        self.examples, self.path, self.units, self.every, self.log = (
            examples, path, units, max(1, int(every)), log)
        self.writer = tf.summary.create_file_writer(summary_dir)
        self.bicubic = evaluate_examples(examples, units=units)["rmse_bicubic"]

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or not training.is_chief():
            return
        rmse = evaluate_examples(self.examples, self.model.dsrnet, units=self.units)["rmse"]
        stage = int(self.model.stage.numpy())
        self.log(f"epoch {epoch + 1} (stage {stage}): held-out RMSE {rmse:.4f} "
                 f"{self.units} (bicubic {self.bicubic:.4f})")
        new = not os.path.exists(self.path)
        with open(self.path, "a") as f:
            if new:
                f.write("epoch,stage,rmse,rmse_bicubic\n")
            f.write(f"{epoch + 1},{stage},{rmse:.6f},{self.bicubic:.6f}\n")
        with self.writer.as_default(), tf.summary.record_if(True):
            tf.summary.scalar("heldout/rmse_dsrnet", rmse, step=epoch + 1)
            tf.summary.scalar("heldout/rmse_bicubic", self.bicubic, step=epoch + 1)
        self.writer.flush()


def collapse_probe(examples: List[depth_sr.DSRExample], n: int = 4):
    """The collapse guard's probe: DSRNet on the first ``n`` held-out images (metres, valid HR
    pixels), each cropped to the smallest HR size among them so they stack."""
    ex = examples[:n]
    h = min(e.hr.shape[0] for e in ex)
    w = min(e.hr.shape[1] for e in ex)
    target = np.stack([e.hr[:h, :w] for e in ex])
    mask = np.stack([e.mask[:h, :w] for e in ex])

    def probe(model):
        return np.stack([predict_dsrnet(model.dsrnet, e.lr)[:h, :w] for e in ex]), target, mask
    return probe


def read_roles(model_dir: str) -> List[dict]:
    with open(os.path.join(model_dir, "roles.csv")) as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------
# Prediction and evaluation
# ----------------------------------------------------------------------------------------

def predict_dsrnet(dsrnet: DSRNet, lr_m: np.ndarray) -> np.ndarray:
    """LR metres (h, w) -> HR metres (h*s, w*s) with DSRNet (per-image normalisation)."""
    x, lo, hi = normalize_depth(lr_m[None, ..., None])
    return from_normalized(dsrnet(x, training=False)["depth"], lo, hi).numpy()[0, ..., 0]


def predict_denet(model: CrossTaskDistiller, example: depth_sr.DSRExample) -> np.ndarray:
    _, lo, hi = normalize_depth(example.lr[None, ..., None])
    rgb = example.rgb[None].astype(np.float32) / 255.0
    return from_normalized(model.denet(rgb, training=False)["depth"], lo, hi).numpy()[0, ..., 0]


def evaluate_examples(examples: List[depth_sr.DSRExample], dsrnet: Optional[DSRNet] = None,
                      dsrnet_stage1: Optional[DSRNet] = None, units: str = "cm") -> Dict[str, object]:
    """RMSE over the valid HR pixels of each image, averaged over images, in ``units``.

    Keys: ``rmse`` (DSRNet), ``rmse_bicubic``, ``rmse_dsrnet_only`` (stage-1 DSRNet, when
    given), ``rmse_x<scale>``, ``units``, ``scale``, ``num_images``.
    """
    factor = {"cm": CM_PER_M, "m": 1.0, "mm": 1000.0}[units]
    scale = examples[0].scale
    preds = {"rmse_bicubic": lambda e: depth_sr.bicubic_upsample(e.lr, scale)}
    if dsrnet is not None:
        preds["rmse"] = lambda e: predict_dsrnet(dsrnet, e.lr)
    if dsrnet_stage1 is not None:
        preds["rmse_dsrnet_only"] = lambda e: predict_dsrnet(dsrnet_stage1, e.lr)
    out: Dict[str, object] = {}
    for key, fn in preds.items():
        values = [metrics.rmse(fn(e) * factor, e.hr * factor, mask=e.mask) for e in examples]
        out[key] = float(np.mean(values))
    if "rmse" in out:
        out[f"rmse_x{scale}"] = out["rmse"]
    out.update(units=units, scale=scale, num_images=len(examples))
    return out


def _preview_rows(model: CrossTaskDistiller, examples: List[depth_sr.DSRExample], n: int = 2):
    from depthlab import visualize

    rows = []
    for e in examples[:n]:
        lo, hi = float(e.hr[e.mask].min()), float(e.hr[e.mask].max())
        colour = lambda d: visualize.colorize_depth(d, mask=e.mask, vmin=lo,  # noqa: E731
                                                    vmax=max(hi, lo + 1e-3))
        rows.append([e.rgb, colour(e.hr), colour(depth_sr.bicubic_upsample(e.lr, e.scale)),
                     colour(predict_dsrnet(model.dsrnet, e.lr)), colour(predict_denet(model, e))])
    return rows


# ----------------------------------------------------------------------------------------
# The experiment (hooks of depthlab.core.run: seeds, strategy, resume, checkpoints, fit)
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class DSRData:
    """Training and held-out examples of a run (HR, its bicubic LR, RGB, valid mask)."""

    train: List[depth_sr.DSRExample]
    test: List[depth_sr.DSRExample]


#: the smallest networks (tests): one block of width 4, a 4x4 affinity grid
TINY_OVERRIDES = ("filters=4", "n_blocks=1", "spnet_filters=4", "spnet_layers=1",
                  "affinity_grid=4")


@registry.experiment("dsr_distill")
class DSRExperiment(Experiment):
    """Stage 1 (DSRNet and DENet independently) for ``stage1_epochs``, then stage 2 (role
    exchange, SPNet) to ``epochs``; the stage is switched by :class:`StageSchedule`."""

    Options = DSROptions
    tag = "[dsr]"
    collapse_name = "DSRNet"
    preview_labels = ("RGB", "HR", "bicubic", "DSRNet", "DENet")
    #: config.json keys that records of older runs may lack, with the value those runs used
    legacy_defaults = {"mixed_precision": "float32", "teacher_mode": "frozen",
                       "train_limit": None, "role_granularity": "batch",
                       "nyu_protocol": None}
    tiny_changed_field = ("patch_size", 32)

    # -- configuration ------------------------------------------------------------------------
    def preset_config(self, opts: DSROptions) -> DSRConfig:
        return dsr_config(opts.preset)

    def config(self, opts: DSROptions) -> DSRConfig:
        cfg = dsr_config(opts.preset, scale=opts.scale, teacher_mode=opts.teacher_mode,
                         role_granularity=opts.role_granularity)
        return options_lib.apply_overrides(cfg, opts.config_override)

    # -- data and model -----------------------------------------------------------------------
    def build_data(self, run) -> DSRData:
        opts, cfg = run.opts, run.config
        run.log(f"dataset={opts.dataset} x{opts.scale} preset={cfg.preset} (width "
                f"{cfg.filters}, N={cfg.n_blocks}) epochs={opts.epochs} (stage 1: "
                f"{opts.stage1_epochs}) teacher_mode={cfg.teacher_mode} "
                f"role_granularity={cfg.role_granularity}")
        train_ex = load_examples(opts.dataset, "train", opts.scale, opts.data_dir,
                                 opts.train_limit, opts.nyu_protocol)
        test_ex = load_examples(opts.dataset, "test", opts.scale, opts.data_dir, opts.eval_limit,
                                opts.nyu_protocol)
        run.log(f"{len(train_ex)} training image(s) -> {opts.patch_size}px patches, "
                f"{len(test_ex)} held-out image(s) {test_ex[0].hr.shape}")
        return DSRData(train_ex, test_ex)

    def build_model(self, run, data: DSRData) -> CrossTaskDistiller:
        return build_model(run.config)

    def checkpoint_objects(self, run, model: CrossTaskDistiller) -> Dict[str, object]:
        return checkpoint_objects(model)

    def train_dataset(self, run, data: DSRData, phase, first_epoch: int) -> tf.data.Dataset:
        """The endless patch stream from the patch an uninterrupted run is at."""
        opts = run.opts
        return depth_sr.make_patch_dataset(
            data.train, opts.patch_size, opts.scale, run.batch_size, seed=opts.seed,
            start_index=first_epoch * phase.steps_per_epoch * run.batch_size)

    def callbacks(self, run, model, data: DSRData) -> List[keras.callbacks.Callback]:
        steps = self.steps_per_epoch(run, data)
        out = [StageSchedule(run.opts.stage1_epochs, run.path("dsrnet_stage1.weights.h5"),
                             run.log, run.chief)]
        if run.chief:                          # every write on the chief only
            tb = run.path("tensorboard")
            out.append(RoleLogger(run.path("roles.csv"), os.path.join(tb, "roles"),
                                  initial_step=run.initial_epoch * steps))
            if run.opts.eval_every:
                out.append(HeldOutRMSE(data.test, os.path.join(tb, "heldout"),
                                       run.path("heldout.csv"), units_of(run.opts.dataset),
                                       run.opts.eval_every, run.log))
        return out

    def preview_rows(self, run, model, data: DSRData):
        return _preview_rows(model, data.test)

    def collapse_probe(self, run, data: DSRData):
        return collapse_probe(data.test)

    # -- after training -----------------------------------------------------------------------
    def plain_copy(self, run, model: CrossTaskDistiller) -> CrossTaskDistiller:
        plain = training.single_device_copy(model, lambda: CrossTaskDistiller(run.config),
                                            NETWORKS)
        plain.stage.assign(model.stage.numpy())
        return plain

    def save(self, run, model: CrossTaskDistiller) -> None:
        model.dsrnet.save(run.path("dsrnet.keras"))

    def evaluate(self, run, model: CrossTaskDistiller, data: DSRData) -> Dict[str, object]:
        stage1 = load_stage1_dsrnet(run.model_dir, run.config)
        final = evaluate_examples(data.test, model.dsrnet, stage1, units_of(run.opts.dataset))
        final["dataset"] = run.opts.dataset
        return final

    def export(self, run, model: CrossTaskDistiller, export_dir: str) -> str:
        return export_dsrnet(model.dsrnet, export_dir)

    def summary_lines(self, run, final: Dict[str, object]) -> List[str]:
        from depthlab import reporting

        rows = {"bicubic": {"rmse": final["rmse_bicubic"]}}
        if "rmse_dsrnet_only" in final:
            rows["DSRNet only (stage 1)"] = {"rmse": final["rmse_dsrnet_only"]}
        rows["DSRNet distilled (stage 2)"] = {"rmse": final["rmse"]}
        return ([f"Held-out RMSE ({final['units']}, x{final['scale']}, valid pixels, mean over "
                 f"{final['num_images']} image(s)):"]
                + reporting.metrics_table(rows, ("rmse",)).splitlines())

    # -- tests --------------------------------------------------------------------------------
    def tiny_options(self, model_dir: str, **changes) -> DSROptions:
        """Stage 1 only (one step of 2 patches of 16 px) with the smallest networks; epochs=2
        reaches stage 2."""
        base = dict(model_dir=model_dir, scale=4, preset="demo", epochs=1, stage1_epochs=1,
                    steps_per_epoch=1, batch_size=2, patch_size=16, seed=4, log_every=1000,
                    eval_every=0, config_override=TINY_OVERRIDES)
        return DSROptions(**{**base, **changes})


def _override_text(key: str, value) -> str:
    if isinstance(value, (tuple, list)):
        value = ",".join(str(v) for v in value)
    return f"{key}={value}"


def train(opts: DSROptions, overrides: Optional[dict] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) stage 1 then stage 2 through the one lifecycle
    (``depthlab.core.run``). ``overrides``: model-config fields (added to
    ``opts.config_override``). Returns run()'s dict (``final``: held-out RMSE, ``model``,
    ``config``, ``history``, ``run``, ``batch_history``) with ``chief``."""
    if overrides:
        opts = dataclasses.replace(opts, config_override=tuple(opts.config_override) + tuple(
            _override_text(k, v) for k, v in overrides.items()))
    result = run_lib.run(DSRExperiment(), opts, extra_callbacks, verbose)
    result["chief"] = result["run"].chief
    return result


# ----------------------------------------------------------------------------------------
# Load, evaluate, export
# ----------------------------------------------------------------------------------------

def load_stage1_dsrnet(model_dir: str, cfg: DSRConfig) -> Optional[DSRNet]:
    path = os.path.join(model_dir, "dsrnet_stage1.weights.h5")
    if not os.path.exists(path):
        return None
    net = build_dsrnet(cfg)
    net(tf.zeros((1, 2, 2, 1)))               # create the variables before loading
    net.load_weights(path)
    return net


def load_trained(model_dir: str) -> Tuple[CrossTaskDistiller, dict]:
    """(model, config record) restored from ``model_dir``'s latest checkpoint (inference)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; train first with "
                                f"experiments.train_dsr_distill --model_dir={model_dir}")
    record = training.read_json(path)
    model = build_model(DSRConfig.from_dict(record["model"]))
    if not checkpoint_state(model, model_dir).restore_latest():
        raise FileNotFoundError(f"no checkpoint in {model_dir}/checkpoints")
    return model, record


def evaluate(model_dir: str, dataset: Optional[str] = None, data_dir: Optional[str] = None,
             limit: Optional[int] = None) -> Dict[str, object]:
    """Held-out RMSE of the trained DSRNet, the bicubic baseline and the stage-1 DSRNet."""
    model, record = load_trained(model_dir)
    dataset = dataset or record["dataset"]
    if dataset not in datasets.names(view=DATA_VIEW):
        raise ValueError(f"--dataset={dataset!r} is not one of {datasets.names(view=DATA_VIEW)}")
    data_dir = data_dir or (record.get("data_dir") if dataset == record["dataset"] else None)
    cfg = model.config
    protocol = record.get("nyu_protocol") if dataset == record["dataset"] else None
    examples = load_examples(dataset, "test", cfg.scale, data_dir, limit, protocol)
    out = evaluate_examples(examples, model.dsrnet, load_stage1_dsrnet(model_dir, cfg),
                            units_of(dataset))
    out.update(dataset=dataset, model_dir=model_dir)
    return out


def export_dsrnet(dsrnet: DSRNet, export_dir: str) -> str:
    """SavedModel of DSRNet alone, written atomically. Endpoints:

    - ``serving_default``: ``depth`` float32 metres (N, h, w, 1) -> ``depth`` float32 metres
      (N, h*s, w*s, 1);
    - ``serve_uint16``: ``depth_mm`` uint16 millimetres -> ``depth_mm`` uint16 millimetres
      (rounded, clipped to [0, 65535]).

    Input contract, checked in the graph (``tf.debugging`` asserts; a violation raises
    ``tf.errors.InvalidArgumentError`` whose message starts with the endpoint and the input
    name): rank 4, h, w >= 1, one channel, every value finite and > 0 (hole-free depth: the per-image normalisation uses the LR
    image's min and max, so one NaN/inf, hole (0) or negative pixel would corrupt the whole
    output image). Fill holes before calling. An empty batch (N = 0) gives empty outputs
    (``export_lib.on_any_batch``).
    """
    export_lib.check_new_export_dir(export_dir)
    archive = keras.export.ExportArchive()
    archive.track(dsrnet)

    def check(depth, where: str, finite: bool):
        x = export_lib.check_image_batch(depth, where, 1)
        if finite:
            x = tf.debugging.assert_all_finite(
                x, message=f"{where} holds NaN or inf; the LR depth must be finite metres")
        with tf.control_dependencies([tf.debugging.assert_positive(
                x, message=f"{where} holds a value <= 0 (a hole or negative depth); the LR "
                           f"depth must be hole-free and positive: fill holes first")]):
            return tf.identity(x)

    def metres(depth):
        x, lo, hi = normalize_depth(depth)
        return from_normalized(dsrnet(x, training=False)["depth"], lo, hi)

    def serve(depth):
        return export_lib.on_any_batch(lambda x: {"depth": metres(x)},
                                       check(depth, "serving_default input depth", True))

    def millimetres(depth_mm):
        hr = metres(tf.cast(depth_mm, tf.float32) / 1000.0) * 1000.0
        return {"depth_mm": tf.cast(tf.round(tf.clip_by_value(hr, 0.0, 65535.0)), tf.uint16)}

    def serve_uint16(depth_mm):
        return export_lib.on_any_batch(millimetres,
                                       check(depth_mm, "serve_uint16 input depth_mm", False))

    # declared (N, h, w, 1); enforced in the graph (export_lib.check_image_batch), since a
    # loaded signature does not enforce its spec
    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32,
                                                        name="depth")])
    archive.add_endpoint("serve_uint16", serve_uint16,
                         input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint16,
                                                        name="depth_mm")])
    return export_lib.write_export_archive(archive, export_dir)
