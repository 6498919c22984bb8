r"""Trains the unpaired image -> depth CycleGAN of Suarez, Carpio and Sappa (or a baseline row).

``--variant`` picks the paper's comparison rows from one code path: ``cyclegan`` (LSGAN +
cycle + identity), ``cut`` (PatchNCE, no cycle), ``fastcut`` (lambda_NCE 10, no identity
NCE) and ``suarez`` (eq. 6). Each lambda of eq. 6 is a flag; unset, it takes the variant's
default (BUILD_NOTES.md, "CycleGAN depth synthesis"). Resumes automatically from the newest
checkpoint in --model_dir; writes TensorBoard scalars and image grids, PNG grids under
samples/, and metrics JSON files.

  python -m experiments.train_cyclegan_depth --variant=suarez --preset=demo \
      --model_dir=runs/cgd_demo --epochs=10 --steps_per_epoch=200 --seed=0
  python -m experiments.train_cyclegan_depth --variant=suarez --dataset=nyu_depth_v2 \
      --data_dir=~/data/nyu --model_dir=runs/cgd_nyu --epochs=200
"""

import os

from absl import app, flags, logging

from depthlab import training
from depthlab.models.cyclegan_depth import LAMBDA_NAMES, PRESETS, VARIANTS

FLAGS = flags.FLAGS
flags.DEFINE_enum("variant", "suarez", list(VARIANTS),
                  "Which row: 'cyclegan', 'cut', 'fastcut' or 'suarez' (the paper's eq. 6).")
flags.DEFINE_enum("preset", "paper", sorted(PRESETS),
                  "Network size: 'paper' (256x256, ResNet-9 G, 70x70 PatchGAN, 256 patches) or "
                  "'demo' (64x64, small networks, for CPUs; not a paper setting).")
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, TensorBoard, samples).")
flags.DEFINE_integer("epochs", 200, "Epochs.", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the "
                     "training images).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of data order, flips, patch locations, pools and init.")
flags.DEFINE_enum("dataset", "synthetic_faces", ["synthetic_faces", "nyu_depth_v2"],
                  "'synthetic_faces' (embedded, generated on the fly) or 'nyu_depth_v2' (the "
                  "labeled .mat, first 1000 frames train, last 449 test).")
flags.DEFINE_string("data_dir", None, "nyu_depth_v2: nyu_depth_v2_labeled.mat or its folder.")
flags.DEFINE_enum("input_mode", "gray", ["gray", "rgb"],
                  "Domain X: the gray image (BT.601 luma, 3 channels) or the RGB image.")
flags.DEFINE_integer("image_size", None, "Square training size (default: the preset's).",
                     lower_bound=4)
flags.DEFINE_integer("batch_size", 1, "Batch size (paper: 1).", lower_bound=1)
flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate, G and D (paper: 2e-4).",
                   lower_bound=0.0)
flags.DEFINE_float("beta_1", 0.5, "Adam beta_1 (paper: 0.5).", lower_bound=0.0, upper_bound=0.999)
_LAMBDA_HELP = {
    "lambda_gan": "lambda1 of eq. 6: LSGAN terms (eqs. 4, 5).",
    "lambda_nce_x": "lambda2 of eq. 6: PatchNCE(G1, H, X) between x and G1(x).",
    "lambda_nce_y": "lambda3 of eq. 6: PatchNCE(G1, H, Y) between y and G1(y) (identity NCE).",
    "lambda_identity": "lambda4 of eq. 6: L1 identity (eq. 2), both generators.",
    "lambda_cycle": "lambda5 of eq. 6: L1 cycle consistency (eq. 1), both directions.",
}
for _name in LAMBDA_NAMES:
    flags.DEFINE_float(_name, None, _LAMBDA_HELP[_name] + " Default: the variant's.",
                       lower_bound=0.0)
flags.DEFINE_integer("num_patches", None, "PatchNCE patches per layer (CUT: 256; 0 = all).",
                     lower_bound=0)
flags.DEFINE_float("nce_temperature", None, "PatchNCE temperature (CUT: 0.07).", lower_bound=1e-6)
flags.DEFINE_integer("pool_size", None, "Fake-image pool (-1: 50 for cycle variants, 0 for "
                     "CUT/FastCUT).", lower_bound=-1)
flags.DEFINE_enum("mixed_precision", "float32", list(training.PRECISION_POLICIES),
                  "Keras dtype policy: bfloat16 on CPU, float16 or bfloat16 on GPU.")
flags.DEFINE_integer("synthetic_identities", 20, "synthetic_faces: training identities.",
                     lower_bound=1)
flags.DEFINE_integer("synthetic_images_per_identity", 10,
                     "synthetic_faces: images per identity.", lower_bound=1)
flags.DEFINE_integer("eval_limit", None, "Evaluate on at most this many test images.",
                     lower_bound=1)
flags.DEFINE_string("export_dir", None, "If set, export G1 as a SavedModel here at the end.")
flags.DEFINE_integer("log_every", 50, "Print progress every N steps.", lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_bool("run_eagerly", False, "Run the train step eagerly (debugging; one device).")
training.define_collapse_guard_flag()
training.define_strategy_flag()


@flags.multi_flags_validator(["dataset", "data_dir"],
                             message="--dataset=nyu_depth_v2 needs --data_dir")
def _check_data_dir(values):
    return values["dataset"] != "nyu_depth_v2" or bool(values["data_dir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import collapse, reporting
    from depthlab.models.cyclegan_depth import cyclegan_depth_config
    from depthlab.runners import cyclegan_depth as runner

    overrides = {name: getattr(FLAGS, name) for name in LAMBDA_NAMES}
    overrides.update(image_size=FLAGS.image_size, num_patches=FLAGS.num_patches,
                     nce_temperature=FLAGS.nce_temperature, pool_size=FLAGS.pool_size)
    cfg = cyclegan_depth_config(FLAGS.preset, variant=FLAGS.variant, **overrides)
    opts = runner.RunOptions(
        model_dir=FLAGS.model_dir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
        input_mode=FLAGS.input_mode, epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch,
        batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate, beta_1=FLAGS.beta_1,
        mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed,
        synthetic_identities=FLAGS.synthetic_identities,
        synthetic_images_per_identity=FLAGS.synthetic_images_per_identity,
        eval_limit=FLAGS.eval_limit, log_every=FLAGS.log_every, jit_compile=FLAGS.jit_compile,
        run_eagerly=FLAGS.run_eagerly, strategy=FLAGS.strategy,
        collapse_guard=FLAGS.collapse_guard)
    summary = runner.train(opts, cfg)
    if not summary["chief"]:
        return                              # a non-chief worker: the chief reports and exports
    rows = {}
    step0 = training.read_json(os.path.join(opts.model_dir, "metrics_step0.json"))
    rows["predict constant mean"] = {"psnr": step0["psnr_constant_mean"],
                                     "ssim": step0["ssim_constant_mean"]}
    rows["predict mean image"] = {"psnr": step0["psnr_mean_image"],
                                  "ssim": step0["ssim_mean_image"]}
    rows[f"{cfg.variant}, untrained"] = step0
    rows[f"{cfg.variant}, trained"] = summary["final"]
    print("\nHeld-out depth (8-bit images, data range 255, mean over images):")
    print(reporting.metrics_table(rows, runner.EVAL_KEYS))
    print(collapse.status_line(summary["final"]))
    grid = runner.latest_sample_grid(opts.model_dir)
    if grid:
        print(f"\nimage / ground truth / G1 grid: {grid}")
    if FLAGS.export_dir:
        path = runner.export(summary["model"], FLAGS.export_dir, opts.input_mode)
        print(f"SavedModel (serving_default: uint8 RGB -> depth [0,1] and uint16): {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
