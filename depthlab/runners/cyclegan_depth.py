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

The run lifecycle (seeds, precision, strategy, the resume rule, config.json, checkpoints,
TensorBoard, sample grids, the collapse guard, fit, chief-only writes) is ``depthlab.core.run``;
this module is CycleGAN depth synthesis' hooks (:class:`CycleGANDepthExperiment`, registered
as 'cyclegan_depth'), its data, metrics, evaluation and export. The datasets are read through
``data_pipelines.registry`` (view 'unpaired_depth', ``data_pipelines/unpaired_depth.py``).

Layout of a ``model_dir``:
  config.json            trainer, model config + run options (checked on resume)
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

from data_pipelines import registry as datasets
from data_pipelines.conventions import rgb_to_gray3, tanh_depth_to_unit
from data_pipelines.unpaired import make_unpaired_dataset, zip_streams
from depthlab import metrics, training
from depthlab.core import options as options_lib
from depthlab.core import registry
from depthlab.core import run as run_lib
from depthlab.core.experiment import Experiment, Phase
from depthlab.models.cyclegan_depth import (PRESETS, CycleGANDepth, CycleGANDepthConfig,
                                            cyclegan_depth_config, deployable_generator)
from depthlab.runners.cyclegan_depth_options import (CONFIG_FLAGS, DATA_VIEW,  # noqa: F401
                                                     INPUT_MODES, CycleGANDepthOptions)
from depthlab.visualize import latest_sample_grid  # noqa: F401  (binaries' import path)

DATA_RANGE = 255.0
EVAL_KEYS = ("psnr", "ssim")
#: the options' former name (tests, notebooks)
RunOptions = CycleGANDepthOptions


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


def load_domains(opts: CycleGANDepthOptions, split: str, image_size: int,
                 limit: Optional[int] = None) -> DomainArrays:
    """The ``split`` of the run's dataset (``data_pipelines.registry``, view 'unpaired_depth')
    as paired (image, 8-bit depth) arrays, the image converted to ``opts.input_mode``."""
    rgb, depth8 = datasets.read(opts.dataset, DATA_VIEW, split=split, image_size=image_size,
                                data_dir=opts.data_dir, limit=limit, seed=opts.seed,
                                synthetic_identities=opts.synthetic_identities,
                                synthetic_images_per_identity=opts.synthetic_images_per_identity)
    image = to_gray3_uint8(rgb) if opts.input_mode == "gray" else rgb
    return DomainArrays(image, depth8)


def near_is_small(dataset: str) -> bool:
    """The 8-bit depth convention of ``dataset`` (its reader's ``near_is_small``: NYU small =
    near; the faces near = bright)."""
    return bool(getattr(datasets.get(dataset).reader(DATA_VIEW), "near_is_small", True))


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
def learning_rate(opts: CycleGANDepthOptions, epochs: int, steps_per_epoch: int):
    """Adam's learning rate: constant ``--learning_rate`` (the paper states no schedule, lines
    74, 97), or with ``--lr_decay_epochs`` N > 0 constant until the last N epochs, then linear
    to 0 at the run's last step (``schedules.LinearDecay``; CycleGAN/CUT's code decays over
    n_epochs_decay, per epoch)."""
    decay = opts.resolved("lr_decay_epochs")
    if decay <= 0:
        return opts.learning_rate
    from depthlab.schedules import LinearDecay

    total = epochs * steps_per_epoch
    return LinearDecay(opts.learning_rate, total, total - decay * steps_per_epoch)


def build_model(cfg: CycleGANDepthConfig, opts: CycleGANDepthOptions, epochs: int = 1,
                steps_per_epoch: int = 1) -> CycleGANDepth:
    """The trainer compiled with Adam(lr, beta_1) for the generator side and for D (paper:
    beta_1 0.5, line 74; lr 2e-4 as CycleGAN/CUT), for a run of ``epochs`` x
    ``steps_per_epoch`` generator steps (the span of HnegSRC's curriculum and of the decay)."""
    model = CycleGANDepth(cfg, seed=opts.seed, total_steps=epochs * steps_per_epoch,
                          steps_per_epoch=steps_per_epoch)

    def adam(name):
        return keras.optimizers.Adam(learning_rate(opts, epochs, steps_per_epoch),
                                     beta_1=opts.beta_1, beta_2=0.999, name=name)

    model.compile(g_optimizer=adam("g_adam"), d_optimizer=adam("d_adam"),
                  jit_compile=opts.jit_compile, run_eagerly=opts.run_eagerly)
    return model


def checkpoint_objects(model: CycleGANDepth) -> Dict[str, object]:
    """The whole training state (``CycleGANDepth.checkpoint_objects``: the names the first four
    variants always wrote, plus DCLGAN/SimDCL's H_Y heads and SimDCL's projectors)."""
    return model.checkpoint_objects()


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


# -- the experiment (hooks of depthlab.core.run) ------------------------------------------------
@dataclasses.dataclass
class CycleGANDepthData:
    """The run's data: unpaired training domains, paired held-out set, steps per epoch."""

    train: DomainArrays
    test: DomainArrays
    steps: int


def _override_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def options_for_config(opts: CycleGANDepthOptions,
                       cfg: CycleGANDepthConfig) -> CycleGANDepthOptions:
    """``opts`` whose effective model config is ``cfg`` (``train(opts, cfg)``): the variant,
    the nearest preset and ``--config_override`` for every other field that differs."""
    def diffs(preset):
        base = PRESETS[preset]
        return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                if f.name != "variant" and getattr(cfg, f.name) != getattr(base, f.name)}
    preset = min(sorted(PRESETS), key=lambda name: (len(diffs(name)), name != opts.preset))
    out = dataclasses.replace(
        opts, variant=cfg.variant, preset=preset, **{k: None for k in CONFIG_FLAGS},
        **{k: opts.resolved(k) for k in ("epochs", "batch_size", "lr_decay_epochs")},
        config_override=tuple(f"{k}={_override_text(v)}" for k, v in diffs(preset).items()))
    if CycleGANDepthExperiment().config(out) != cfg:        # pragma: no cover - a bug here
        raise ValueError(f"options_for_config: {out.config_override} does not give {cfg}")
    return out


@registry.experiment("cyclegan_depth")
class CycleGANDepthExperiment(Experiment):
    """One variant of ``CycleGANDepth`` (one of the seven rows of the paper's Table 1) on the
    unpaired domains of the run's dataset; held-out PSNR/SSIM at step 0 (metrics_step0.json,
    with the mean baselines) and after training (metrics_final.json)."""

    Options = CycleGANDepthOptions
    tag = "[cyclegan_depth]"
    collapse_name = "CycleGAN-depth G1"
    preview_labels = ("image", "GT depth", "G1(image)")
    tiny_changed_field = ("learning_rate", 1e-3)

    def __init__(self):
        self.steps: Optional[int] = None       # steps per epoch, once the data is read

    # -- configuration -----------------------------------------------------------------------
    def config(self, opts: CycleGANDepthOptions) -> CycleGANDepthConfig:
        """The preset, the variant and the flag-backed fields, then ``--config_override``."""
        cfg = cyclegan_depth_config(opts.preset, variant=opts.variant, **opts.config_flags())
        return options_lib.apply_overrides(cfg, opts.config_override)

    def preset_config(self, opts: CycleGANDepthOptions) -> CycleGANDepthConfig:
        return PRESETS[opts.preset]

    def epochs(self, opts: CycleGANDepthOptions, config) -> int:
        """``--epochs``, else the preset's (paper: 400, line 97)."""
        return opts.resolved("epochs")

    def batch_size(self, opts: CycleGANDepthOptions, config) -> int:
        """``--batch_size``, else the preset's (paper: 1, line 97)."""
        return opts.resolved("batch_size")

    def record(self, opts: CycleGANDepthOptions, config) -> Dict[str, object]:
        """config.json with the preset-resolved epochs, batch size and decay (so that the
        resume rule compares values, not whether a flag was given)."""
        out = super().record(opts, config)
        out.update({k: opts.resolved(k) for k in ("epochs", "batch_size", "lr_decay_epochs")})
        return out

    # -- hooks ---------------------------------------------------------------------------------
    def build_data(self, run) -> CycleGANDepthData:
        opts, cfg = run.opts, run.config
        run.log(f"variant={cfg.variant} lambdas={cfg.lambdas} image={cfg.image_size} "
                f"batch={run.batch_size} epochs={run.epochs} data={opts.dataset}/"
                f"{opts.input_mode}")
        train = load_domains(opts, "train", cfg.image_size)
        test = load_domains(opts, "test", cfg.image_size, limit=opts.eval_limit)
        steps = opts.steps_per_epoch or max(1, len(train) // run.batch_size)
        run.log(f"{len(train)} training images (unpaired), {len(test)} held-out pairs; "
                f"{steps} steps/epoch")
        decay = opts.resolved("lr_decay_epochs")
        run.log(f"learning rate {opts.learning_rate:g} "
                + (f"constant, then linear to 0 over the last {decay} epochs" if decay
                   else "constant"))
        if cfg.variant == "hnegsrc":
            span = (cfg.hdce_curriculum_steps if cfg.hdce_curriculum_steps != -1
                    else run.epochs * steps)
            run.log(f"hDCE gamma {cfg.hdce_gamma:g} -> {cfg.hdce_gamma_min:g} over {span} "
                    f"steps (one value per epoch of {steps})" if span else
                    f"hDCE gamma constant {cfg.hdce_gamma:g}")
        self.steps = steps
        return CycleGANDepthData(train, test, steps)

    def steps_per_epoch(self, run, data: CycleGANDepthData) -> int:
        return data.steps

    def build_model(self, run, data) -> CycleGANDepth:
        return build_model(run.config, run.opts, run.epochs, data.steps)

    def checkpoint_objects(self, run, model) -> Dict[str, object]:
        return checkpoint_objects(model)

    def on_fresh_start(self, run, model, data: CycleGANDepthData) -> None:
        if not run.chief:
            return
        plain = self.plain_copy(run, model) if run.distributed else model
        step0 = evaluate_generator(plain.g1, data.test)
        step0.update(mean_baselines(data.train, data.test))
        training.write_json(run.path("metrics_step0.json"), step0)

    def train_dataset(self, run, data: CycleGANDepthData, phase: Phase, first_epoch: int):
        opts = run.opts
        return make_train_dataset(data.train, run.batch_size, opts.seed,
                                  start_index=first_epoch * phase.steps_per_epoch * run.batch_size)

    def preview_rows(self, run, model, data: CycleGANDepthData):
        return _preview_rows(model.g1, data.test, near_is_small(run.opts.dataset))

    def collapse_probe(self, run, data: CycleGANDepthData):
        return collapse_probe(data.test)

    def plain_copy(self, run, model) -> CycleGANDepth:
        return training.single_device_copy(
            model, lambda: CycleGANDepth(run.config, seed=run.opts.seed), ("g1",))

    def save(self, run, model) -> None:
        model.g1.save(run.path("g1.keras"))

    def evaluate(self, run, model, data: CycleGANDepthData) -> Dict[str, object]:
        return evaluate_generator(model.g1, data.test)

    def summary_lines(self, run, final) -> List[str]:
        return [f"held-out {final['num_images']} images: PSNR {final['psnr']:.4f} dB, "
                f"SSIM {final['ssim']:.4f} (8-bit depth, data range 255); G1: "
                f"{run.path('g1.keras')}"]

    def export(self, run, model, export_dir: str) -> str:
        return export(model, export_dir, run.opts.input_mode)

    # -- tests ---------------------------------------------------------------------------------
    def tiny_options(self, model_dir: str, **changes) -> CycleGANDepthOptions:
        kwargs = dict(model_dir=model_dir, variant="fastcut", preset="demo", image_size=16,
                      num_patches=8, config_override=(
                          "gen_filters=4", "gen_downsamplings=1", "gen_blocks=1",
                          "disc_filters=4,8", "disc_strides=2,1", "nce_units=8"),
                      epochs=1, steps_per_epoch=1, batch_size=1, synthetic_identities=2,
                      synthetic_images_per_identity=2, eval_limit=2, log_every=1000,
                      run_eagerly=True)
        kwargs.update(changes)
        return CycleGANDepthOptions(**kwargs)


def train(opts: CycleGANDepthOptions, cfg: Optional[CycleGANDepthConfig] = None,
          extra_callbacks: Optional[List[keras.callbacks.Callback]] = None,
          verbose: bool = True) -> Dict[str, object]:
    """Trains (or resumes) ``opts.model_dir`` (``depthlab.core.run``). ``cfg``, if given,
    replaces the options' model config (``options_for_config``). Returns ``{"final", "model",
    "config", "steps_per_epoch", "chief", "history", "batch_history", "run"}``."""
    if cfg is not None:
        opts = options_for_config(opts, cfg)
    experiment = CycleGANDepthExperiment()
    out = run_lib.run(experiment, opts, extra_callbacks, verbose)
    out.update(steps_per_epoch=experiment.steps, chief=out["run"].chief)
    return out


def load_trained(model_dir: str) -> Tuple[CycleGANDepth, CycleGANDepthOptions]:
    """(model, run options) with G1 restored from ``model_dir``'s latest checkpoint. Reads the
    records of older runs too (no 'trainer' key, no model-config flags: their defaults)."""
    record = training.read_json(os.path.join(model_dir, "config.json"))
    trainer = record.get("trainer", CycleGANDepthExperiment.name)
    if trainer != CycleGANDepthExperiment.name or "model" not in record:
        raise ValueError(f"{model_dir}: config.json was written by trainer {trainer!r}, not "
                         f"{CycleGANDepthExperiment.name!r} (experiments.train_cyclegan_depth)")
    cfg = CycleGANDepthConfig.from_dict(record["model"])
    names = {f.name for f in dataclasses.fields(CycleGANDepthOptions)}
    kwargs = {k: v for k, v in record.items() if k in names}
    kwargs["config_override"] = tuple(kwargs.get("config_override") or ())
    opts = CycleGANDepthOptions(**kwargs)
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
