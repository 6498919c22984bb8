"""Two-stage depth from RGB + sparse depth: the experiments ``two_stage_stage1`` (sparse-to-
dense) and ``two_stage_stage2`` (pix2pix refiner on a trained, frozen stage 1) on the one run
lifecycle (``depthlab.core.run``), plus evaluation and export of a trained run.

Layout of a stage-1 ``model_dir``::

  config.json           trainer, stage, model config, run options (checked on resume)
  checkpoints/          network + SGD state + epoch (atomic, resumable after a kill)
  tensorboard/          loss / batch RMSE per step, sample grids
  samples/              PNG grids: RGB | ground truth | sparse input | prediction
  stage1.keras          the network after the last epoch
  metrics_final.json    held-out metrics (per image, then averaged; ``mean_depth_metrics``)

A stage-2 ``model_dir`` holds the same with ``generator.keras`` and the config's
``stage1_dir``; its metrics hold the stage-1 alone and the two-stage pipeline.

Datasets (``data_pipelines/registry.py``, view ``depth_completion_arrays``; readers in
``data_pipelines/depth_completion.py``): ``middlebury_sample`` (embedded: scikit-image's
Middlebury 2014 Motorcycle with metric depth from its calibration, down-sampled x
``sample_downscale``; training crops come from the left part, evaluation tiles from the
held-out right part), ``sparse_to_dense_h5`` (the ``{train,val}/<scene>/*.h5`` layout, resized
to 240x320, streamed from the files; train/ and val/ already follow NYU's official scene
split) and ``nyu_depth_v2`` (the labeled .mat resized to 240x320, split by ``--nyu_protocol``:
'official_scenes' by default, the text's 249 / 215 scenes, lines 522-526, from the toolbox's
splits.mat beside the .mat; or 'first1000'). Options: ``depthlab/runners/two_stage_options.py``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

import cv2
import keras
import numpy as np
import tensorflow as tf

from data_pipelines import nyu_splits
from data_pipelines import registry as data_registry
from data_pipelines import sparse
from depthlab import export as export_lib
from depthlab import metrics, reporting, schedules, training
from depthlab.core import options as options_lib
from depthlab.core import registry
from depthlab.core import run as run_lib
from depthlab.core.experiment import Experiment
from depthlab.models import two_stage as ts
from depthlab.visualize import latest_sample_grid  # noqa: F401  (binaries' import path)
from depthlab.runners.two_stage_options import (DATA_VIEW, EXPERIMENT_STAGE1,
                                                EXPERIMENT_STAGE2, STREAM_VIEW, Stage1Options,
                                                Stage2Options)

DATASETS = tuple(data_registry.names(view=DATA_VIEW))
EVAL_SEED_OFFSET = 1000          # evaluation sparse masks: seed + 1000, fixed per image
PREVIEW_LABELS = ("RGB", "ground truth", "sparse input", "prediction")
METRIC_COLUMNS = ("rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")
#: the stage-1 record's fields a stage-2 run depends on (its data; checked on resume)
STAGE1_DATA_KEYS = ("dataset", "data_dir", "num_samples", "crop_hw", "sample_downscale",
                    "train_limit", "eval_limit", "nyu_protocol")


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------

def load_split(dataset: str, split: str, data_dir: Optional[str] = None,
               crop_hw: Tuple[int, int] = (96, 128), sample_downscale: int = 2,
               limit: Optional[int] = None,
               nyu_protocol: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(rgb (N, H, W, 3) uint8, depth (N, H, W) metres, 0 = invalid)`` of 'train' / 'test'
    (the dataset's ``depth_completion_arrays`` reader). ``nyu_protocol``: the labeled NYU
    set's split (``data_pipelines.nyu_splits``; None: 'first1000', what runs recorded before
    the option used); other datasets take none."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    extra = {}
    if dataset == data_registry.NYU_DEPTH_V2:
        extra["protocol"] = nyu_protocol or nyu_splits.DEFAULT_PROTOCOL
    return data_registry.read(dataset, DATA_VIEW, split=split, data_dir=data_dir,
                              crop_hw=tuple(int(v) for v in crop_hw),
                              sample_downscale=int(sample_downscale), limit=limit, **extra)


def train_stream(dataset: str, data_dir: Optional[str], crop_hw, sample_downscale: int,
                 limit: Optional[int], num_samples: int, batch_size: int, seed: int,
                 start_index: int, output_hw,
                 nyu_protocol: Optional[str] = None) -> Tuple[tf.data.Dataset, str]:
    """The augmented training stream and a one-line description of its source.

    A dataset with a ``depth_completion_frames`` reader (``sparse_to_dense_h5``: its 47,584
    training frames do not fit in memory) is read frame by frame inside the pipeline; the
    others are small and held as arrays.
    """
    kw = dict(num_samples=num_samples, batch_size=batch_size, crop_hw=crop_hw, seed=seed,
              training=True, start_index=start_index, output_hw=output_hw)
    if STREAM_VIEW in data_registry.get(dataset).views:
        count, load, frame_hw = data_registry.read(dataset, STREAM_VIEW, split="train",
                                                   data_dir=data_dir, limit=limit)
        return (sparse.rgbd_dataset_from_loader(load, count, frame_hw, **kw),
                f"{count} training frame(s) streamed from {data_dir}/train")
    rgb, depth = load_split(dataset, "train", data_dir, crop_hw, sample_downscale, limit,
                            nyu_protocol)
    return (sparse.rgbd_dataset(rgb, depth, **kw),
            f"{rgb.shape[0]} training image(s) {rgb.shape[1:3]}")


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
    """The collapse guard's probe: ``predict(model, batch)`` on a fixed held-out batch (the
    preview's crops), metric depth over the valid ground-truth pixels."""
    ds = sparse.rgbd_dataset(rgb[:n], depth[:n], num_samples, n, crop_hw,
                             seed=seed + EVAL_SEED_OFFSET, training=False)
    b = next(iter(ds))
    target, mask = b["depth"].numpy(), b["valid"].numpy() > 0

    def probe(model):
        return predict(model, b).numpy(), target, mask
    return probe



def _metrics_lines(rows: Dict[str, dict]) -> List[str]:
    first = next(iter(rows.values()))
    return ([f"Held-out metrics (metres; valid pixels; mean over {first['num_images']} image(s)):"]
            + reporting.metrics_table(rows, METRIC_COLUMNS).splitlines())


def _with_overrides(opts, overrides: Optional[dict]):
    """``opts`` with a ``{config field: value}`` dict appended as ``--config_override``s."""
    if not overrides:
        return opts
    def text(v):
        return ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)

    extra = tuple(f"{k}={text(v)}" for k, v in overrides.items() if v is not None)
    return dataclasses.replace(opts, config_override=tuple(opts.config_override) + extra)


# ----------------------------------------------------------------------------------------
# Stage 1
# ----------------------------------------------------------------------------------------

@registry.experiment(EXPERIMENT_STAGE1)
class Stage1Experiment(Experiment):
    """Sparse-to-dense (Ma & Karaman 2018): ResNet-50 + UpProj on RGB (+ sparse depth), SGD
    with step decay, masked berHu / L1 / L2 (``Stage1Trainer``)."""

    Options = Stage1Options
    tag = "[two_stage]"
    collapse_name = "two-stage stage 1"
    preview_labels = PREVIEW_LABELS
    tiny_changed_field = ("num_samples", 10)
    #: config.json keys that records of older runs lack, with the value those runs used
    legacy_defaults = {"nyu_protocol": None}
    tiny_is_slow = True       # the resume-rule test: ~140 s on 2 shared cores

    def config(self, opts):
        cfg = ts.stage1_config(opts.preset, opts.input_channels, input_hw=opts.crop_hw,
                               base_filters=opts.base_filters)
        return options_lib.apply_overrides(cfg, opts.config_override)

    def preset_config(self, opts):
        return ts.stage1_config(opts.preset, opts.input_channels)

    def record(self, opts, config):
        return {"stage": 1, **super().record(opts, config)}

    def resume_keys(self, opts):
        return ["stage"] + super().resume_keys(opts)

    def build_data(self, run):
        o = run.opts
        rgb, depth = load_split(o.dataset, "test", o.data_dir, o.crop_hw, o.sample_downscale,
                                o.eval_limit, o.nyu_protocol)
        return {"test_rgb": rgb, "test_depth": depth}

    def build_model(self, run, data):
        o, cfg = run.opts, run.config
        net = ts.Stage1Net(cfg)
        training.synchronize_batch_norm(net, run.strategy)
        trainer = ts.Stage1Trainer(net, o.loss, clip_norm=o.clip_norm)
        trainer.compile(optimizer=stage1_optimizer(o))
        run.log(f"stage-1 trainable parameters: {ts.count_trainable(net):,}")
        return trainer

    def checkpoint_objects(self, run, model):
        return {"net": model.net, "optimizer": model.optimizer}

    def on_fresh_start(self, run, model, data):
        prefix = f"{self.tag} "           # the model's messages carry the tag already
        ts.load_backbone_weights(model.net, run.opts.backbone_weights,
                                 lambda m: run.log(m[len(prefix):] if m.startswith(prefix) else m))

    def train_dataset(self, run, data, phase, first_epoch):
        o, cfg = run.opts, run.config
        stream, source = train_stream(o.dataset, o.data_dir, o.crop_hw, o.sample_downscale,
                                      o.train_limit, o.num_samples, run.batch_size, o.seed,
                                      first_epoch * phase.steps_per_epoch * run.batch_size,
                                      cfg.out_hw, o.nyu_protocol)
        run.log(f"stage 1: dataset={o.dataset} preset={cfg.preset} input="
                f"{ {3: 'rgb', 4: 'rgbd', 1: 'd'}[cfg.input_channels] } samples={o.num_samples} "
                f"loss={o.loss} crop={o.crop_hw}; {source}, {data['test_rgb'].shape[0]} "
                "held-out image(s)")
        return network_batches(stream, cfg.input_channels)

    @staticmethod
    def _predict(model):
        return lambda b: ts.predict_depth(model.net, b["rgb"], b["sparse"])

    def preview_rows(self, run, model, data):
        o = run.opts
        return _preview_rows(self._predict(model), data["test_rgb"], data["test_depth"],
                             o.num_samples, o.crop_hw, o.seed)

    def collapse_probe(self, run, data):
        o = run.opts
        return _collapse_probe(lambda model, b: self._predict(model)(b), data["test_rgb"],
                               data["test_depth"], o.num_samples, o.crop_hw, o.seed)

    def plain_copy(self, run, model):
        o = run.opts
        return training.single_device_copy(
            model, lambda: ts.Stage1Trainer(ts.Stage1Net(run.config), o.loss,
                                            clip_norm=o.clip_norm), parts=("net",))

    def save(self, run, model):
        training.save_model_atomic(model.net, run.path("stage1.keras"))

    def evaluate(self, run, model, data):
        o = run.opts
        final = evaluate_arrays(model.net, data["test_rgb"], data["test_depth"], o.num_samples,
                                o.crop_hw, o.seed)
        final.update(dataset=o.dataset, stage=1)
        return final

    def export(self, run, model, export_dir):
        return export_pipeline(run.model_dir, export_dir)

    def summary_lines(self, run, final):
        return _metrics_lines({f"stage 1 ({final['num_samples']} samples)": final})

    def tiny_options(self, model_dir, **changes):
        kw = dict(model_dir=model_dir, preset="demo", num_samples=20, epochs=1,
                  steps_per_epoch=1, batch_size=2, crop_hw=(32, 32), base_filters=4,
                  sample_downscale=4, log_every=1)
        kw.update(changes)
        return Stage1Options(**kw)


def train_stage1(opts: Stage1Options, overrides: Optional[dict] = None,
                 extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
                 verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) stage 1 through the lifecycle; ``overrides`` are model-config
    fields (as ``--config_override``). Returns ``run()``'s dict plus ``net`` (the Stage1Net),
    ``trainer`` and ``chief``."""
    out = run_lib.run(Stage1Experiment(), _with_overrides(opts, overrides), extra_callbacks,
                      verbose)
    return {**out, "net": out["model"].net, "trainer": out["model"], "chief": out["run"].chief}


# ----------------------------------------------------------------------------------------
# Stage 2
# ----------------------------------------------------------------------------------------

def load_stage1(stage1_dir: str) -> Tuple[ts.Stage1Net, dict]:
    path = os.path.join(stage1_dir, "stage1.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; train stage 1 first (--stage=1)")
    record = training.read_json(os.path.join(stage1_dir, "config.json"))
    return keras.saving.load_model(path, compile=False), record


def _stage1_data(stage1_dir: str) -> dict:
    record = training.read_json(os.path.join(stage1_dir, "config.json"))
    return {k: record.get(k) for k in STAGE1_DATA_KEYS}


@registry.experiment(EXPERIMENT_STAGE2)
class Stage2Experiment(Experiment):
    """The pix2pix refiner (U-ResNet G + 70x70 PatchGAN, eq. 2) on the frozen stage 1."""

    Options = Stage2Options
    tag = "[two_stage]"
    collapse_name = "two-stage stage 2 (pix2pix)"
    preview_labels = PREVIEW_LABELS
    tiny_changed_field = ("lambda_l1", 50.0)
    tiny_is_slow = True

    def config(self, opts):
        cfg = ts.stage2_config(opts.stage2_preset, lambda_l1=opts.lambda_l1,
                               max_depth=opts.max_depth, learning_rate=opts.learning_rate)
        return options_lib.apply_overrides(cfg, opts.config_override)

    def preset_config(self, opts):
        return ts.stage2_config(opts.stage2_preset)

    def record(self, opts, config):
        return {"stage": 2, **super().record(opts, config),
                "stage1": _stage1_data(opts.stage1_dir)}

    def resume_keys(self, opts):
        # the preset is part of the model config; runs before issue 17 stored it as "preset"
        return ["stage", "stage1"] + [k for k in super().resume_keys(opts)
                                      if k != "stage2_preset"]

    def build_data(self, run):
        d = _stage1_data(run.opts.stage1_dir)
        s1 = training.read_json(os.path.join(run.opts.stage1_dir, "config.json"))
        crop = tuple(d["crop_hw"])
        rgb, depth = load_split(d["dataset"], "test", d["data_dir"], crop, d["sample_downscale"],
                                d["eval_limit"], d["nyu_protocol"])
        return {"stage1": d, "stage1_seed": int(s1["seed"]), "crop_hw": crop,
                "stage1_config": ts.Stage1Config.from_dict(s1["model"]),
                "test_rgb": rgb, "test_depth": depth}

    def build_model(self, run, data):
        o, cfg = run.opts, run.config
        stage1, _ = load_stage1(o.stage1_dir)      # before G / D: the same initialisation
        gen, disc = ts.build_stage2(cfg)
        for net in (gen, disc):                  # D is conv-BN-LeakyReLU too (text l. 413-415)
            training.synchronize_batch_norm(net, run.strategy)
        refiner = ts.Pix2PixRefiner(gen, disc, stage1, cfg.lambda_l1, cfg.max_depth)
        adam = lambda name: keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1,  # noqa: E731
                                                  beta_2=cfg.beta_2, name=name)
        refiner.compile(g_optimizer=adam("g_adam"), d_optimizer=adam("d_adam"))
        run.log(f"stage 2: pix2pix preset={cfg.preset} G {ts.count_trainable(gen):,} / "
                f"D {ts.count_trainable(disc):,} parameters, lambda_L1={cfg.lambda_l1}, on the "
                f"frozen stage 1 of {o.stage1_dir} ({data['stage1']['num_samples']} samples)")
        return refiner

    def checkpoint_objects(self, run, model):
        return {"generator": model.generator, "discriminator": model.discriminator,
                "g_optimizer": model.g_optimizer, "d_optimizer": model.d_optimizer}

    def train_dataset(self, run, data, phase, first_epoch):
        d, s1cfg = data["stage1"], data["stage1_config"]
        stream, _ = train_stream(d["dataset"], d["data_dir"], data["crop_hw"],
                                 d["sample_downscale"], d["train_limit"], d["num_samples"],
                                 run.batch_size, run.opts.seed,
                                 first_epoch * phase.steps_per_epoch * run.batch_size,
                                 s1cfg.out_hw, d["nyu_protocol"])
        return network_batches(stream, s1cfg.input_channels)

    def _predict(self, run, model):
        max_depth = run.config.max_depth
        return lambda b: ts.predict_depth(model.stage1, b["rgb"], b["sparse"], model.generator,
                                          max_depth)

    def preview_rows(self, run, model, data):
        return _preview_rows(self._predict(run, model), data["test_rgb"], data["test_depth"],
                             data["stage1"]["num_samples"], data["crop_hw"], run.opts.seed)

    def collapse_probe(self, run, data):
        return _collapse_probe(lambda model, b: self._predict(run, model)(b), data["test_rgb"],
                               data["test_depth"], data["stage1"]["num_samples"],
                               data["crop_hw"], run.opts.seed)

    def plain_copy(self, run, model):
        cfg = run.config
        stage1, _ = load_stage1(run.opts.stage1_dir)
        return training.single_device_copy(
            model, lambda: ts.Pix2PixRefiner(*ts.build_stage2(cfg), stage1, cfg.lambda_l1,
                                             cfg.max_depth), parts=("generator",))

    def save(self, run, model):
        training.save_model_atomic(model.generator, run.path("generator.keras"))

    def evaluate(self, run, model, data):
        n, crop, seed = data["stage1"]["num_samples"], data["crop_hw"], data["stage1_seed"]
        rgb, depth = data["test_rgb"], data["test_depth"]
        return {"stage1": evaluate_arrays(model.stage1, rgb, depth, n, crop, seed),
                "two_stage": evaluate_arrays(model.stage1, rgb, depth, n, crop, seed,
                                             model.generator, run.config.max_depth),
                "dataset": data["stage1"]["dataset"], "stage": 2}

    def export(self, run, model, export_dir):
        return export_pipeline(run.model_dir, export_dir)

    def summary_lines(self, run, final):
        n = final["stage1"]["num_samples"]
        return _metrics_lines({f"stage 1 ({n} samples)": final["stage1"],
                               f"two-stage ({n} samples)": final["two_stage"]})

    def tiny_options(self, model_dir, **changes):
        """Stage 2 on a tiny stage 1 trained once beside ``model_dir`` (``tiny_stage1/``)."""
        stage1_dir = os.path.join(os.path.dirname(os.path.abspath(model_dir)), "tiny_stage1")
        if not os.path.exists(os.path.join(stage1_dir, "stage1.keras")):
            run_lib.run(Stage1Experiment(), Stage1Experiment().tiny_options(stage1_dir),
                        verbose=False)
        kw = dict(model_dir=model_dir, stage1_dir=stage1_dir, epochs=1, steps_per_epoch=1,
                  batch_size=1, log_every=1,
                  config_override=("gen_filters=4", "n_res_blocks=1", "disc_filters=4,8",
                                   "disc_strides=2,1"))
        kw.update(changes)
        return Stage2Options(**kw)


def train_stage2(opts: Stage2Options, overrides: Optional[dict] = None,
                 extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
                 verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) the pix2pix refiner on the frozen stage 1 of ``opts.stage1_dir``;
    ``overrides`` are Stage2Config fields (as ``--config_override``). Returns ``run()``'s dict
    plus ``generator``, ``stage1`` and ``chief``."""
    out = run_lib.run(Stage2Experiment(), _with_overrides(opts, overrides), extra_callbacks,
                      verbose)
    model = out["model"]
    return {**out, "generator": model.generator, "stage1": model.stage1,
            "chief": out["run"].chief}


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
    if record.get("stage") == 2 or record.get("trainer") == EXPERIMENT_STAGE2:
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
                            s1["sample_downscale"], limit or s1["eval_limit"],
                            s1.get("nyu_protocol"))
    seed = int(s1["seed"])
    out = {"stage1": evaluate_arrays(stage1, rgb, depth, n, crop, seed)}
    s2 = None
    if gen is not None:
        out["two_stage"] = evaluate_arrays(stage1, rgb, depth, n, crop, seed, gen, max_depth)
        s2 = training.read_json(os.path.join(model_dir, "config.json"))
    out.update(model_dir=model_dir, dataset=s1["dataset"], num_samples=n,
               input_channels=stage1.config.input_channels, settings=run_settings(s1, s2))
    return out


# ----------------------------------------------------------------------------------------
# The text's stated numbers beside a run (experiments/paper_tables/two_stage_claims.json)
# ----------------------------------------------------------------------------------------

#: the text's two RMSE claims need at least this many samples (line 109: "at least 100")
CLAIM_MIN_SAMPLES = 100


def run_settings(s1: dict, s2: Optional[dict] = None) -> Dict[str, float]:
    """The settings the text states (two_stage_claims.json, keyed by its claims) as a run
    used them, read from its config.json records (``s1`` stage 1, ``s2`` stage 2 or None)."""
    out = {"stage1_batch_size": s1["batch_size"], "stage1_epochs": s1["epochs"],
           "stage1_lr": s1["learning_rate"], "stage1_lr_decay_factor": 100.0 * s1["lr_decay"],
           "stage1_lr_decay_every": s1["lr_decay_every"]}
    out_hw = (s1.get("model") or {}).get("output_hw")
    if out_hw and out_hw[0] == out_hw[1]:
        out["stage2_input_size"] = out_hw[0]
    if s1.get("dataset") == "sparse_to_dense_h5" or s1.get("nyu_protocol") == "official_scenes":
        out.update(train_scenes=249, test_scenes=215)         # the official split
    if s2 is not None:
        model = s2.get("model") or {}
        out.update(stage2_batch_size=s2["batch_size"], stage2_epochs=s2["epochs"],
                   stage2_lr=s2["learning_rate"], stage2_beta1=model.get("beta_1"),
                   stage2_beta2=model.get("beta_2"), generator_resblocks=model.get("n_res_blocks"))
        if model.get("dropout") is not None:
            out["dropout_rate"] = 100.0 * model["dropout"]
    return {k: v for k, v in out.items() if v is not None}


def claim_cells(results: List[Dict[str, object]]) -> Dict[str, Dict[str, float]]:
    """``evaluate`` results -> the cells of ``two_stage_claims`` ({claim: {'value': v}}).

    - ``rmse_improvement_results`` (lines 644-648): 100 (RMSE_stage1 - RMSE_two-stage) /
      RMSE_stage1 of the stage-2 run with the most samples (its own frozen stage 1 is "the
      same depth prediction using RGB and sparse depth samples");
    - ``rmse_reduction_intro`` (lines 109-113) and ``min_samples_for_claim``: that run's
      two-stage RMSE against an RGB-only (0-sample) run among ``results``, when the stage-2
      run has at least 100 samples;
    - the settings of that run (or of the first run) by :func:`run_settings`.
    """
    cells: Dict[str, float] = {}
    two = [r for r in results if "two_stage" in r]
    if two:
        best = max(two, key=lambda r: r["num_samples"])
        s1_rmse, two_rmse = best["stage1"]["rmse"], best["two_stage"]["rmse"]
        cells["rmse_improvement_results"] = 100.0 * (s1_rmse - two_rmse) / s1_rmse
        rgb_only = [r for r in results if r["num_samples"] == 0]
        if rgb_only and best["num_samples"] >= CLAIM_MIN_SAMPLES:
            base = rgb_only[0]["stage1"]["rmse"]
            cells["rmse_reduction_intro"] = 100.0 * (base - two_rmse) / base
            cells["min_samples_for_claim"] = best["num_samples"]
        cells.update(best.get("settings") or {})
    elif results:
        cells.update(results[0].get("settings") or {})
    return {k: {"value": float(v)} for k, v in cells.items()}


def export_pipeline(model_dir: str, export_dir: str) -> str:
    """SavedModel of the full pipeline of ``model_dir``, written atomically.

    ``serving_default(rgb: uint8 (N, H, W, 3), sparse_depth: float32 metres (N, H, W, 1),
    0 = no sample)`` -> ``{'depth': float32 metres (N, H, W, 1), 'coarse_depth': the stage-1
    map, same shape}`` (``depth`` = ``coarse_depth`` for a stage-1 run). Any H x W: RGB is
    resized to the network size and each sample moved to its nearest network pixel
    (``two_stage.resample_sparse``); the output is resized back. Mismatched RGB / sparse
    sizes raise ``InvalidArgumentError``. An RGB-only model ignores ``sparse_depth``. An empty
    batch (N = 0 in both inputs) gives empty outputs (``export_lib.on_any_batch``).
    """
    export_lib.check_new_export_dir(export_dir)
    stage1, gen, max_depth, _ = load_pipeline(model_dir)
    archive = keras.export.ExportArchive()
    archive.track(stage1)
    if gen is not None:
        archive.track(gen)

    def pipeline(rgb, sparse_depth):
        depth, coarse = ts.predict_depth(stage1, rgb, sparse_depth, gen, max_depth,
                                         return_coarse=True)
        return {"depth": depth, "coarse_depth": coarse}

    def serve(rgb, sparse_depth):
        return export_lib.on_any_batch(pipeline, rgb, sparse_depth)

    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="rgb"),
        tf.TensorSpec([None, None, None, 1], tf.float32, name="sparse_depth")])
    return export_lib.write_export_archive(archive, export_dir)     # temp dir, then one rename
