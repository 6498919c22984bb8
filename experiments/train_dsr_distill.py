r"""Trains cross-task distillation DSR (Sun et al., CVPR 2021): stage 1 (DSRNet and DENet
independently) for --stage1_epochs, then stage 2 (role exchange, SPNet) to --epochs.

Resumes from the newest checkpoint in --model_dir. Writes TensorBoard scalars (losses, the
role each net held at every step), PNG sample grids, roles.csv and metrics_final.json
(held-out RMSE of DSRNet beside bicubic and the stage-1 DSRNet), and with --export_dir a
SavedModel of DSRNet (LR depth in metres -> HR depth in metres).

  python -m experiments.train_dsr_distill --scale=4 --model_dir=runs/dsr_x4 \
      --epochs=20 --stage1_epochs=10 --steps_per_epoch=100 --seed=0
  python -m experiments.train_dsr_distill --dataset=nyu_depth_v2 --data_dir=/data/nyu \
      --preset=paper --scale=8 --model_dir=runs/dsr_nyu_x8 --epochs=200 --stage1_epochs=100
"""

from absl import app, flags, logging

from depthlab import training
from depthlab.models.dsr_distill import PRESETS, TEACHER_MODES

FLAGS = flags.FLAGS
flags.DEFINE_enum("scale", "4", ["4", "8", "16"], "Super-resolution factor.")
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, TensorBoard, samples).")
flags.DEFINE_enum("dataset", "middlebury_sample", ["middlebury_sample", "nyu_depth_v2", "middlebury"],
                  "'middlebury_sample' is embedded (scikit-image's Middlebury 2014 Motorcycle); "
                  "the others read --data_dir.")
flags.DEFINE_string("data_dir", None, "nyu_depth_v2: the labeled .mat (or its folder); "
                    "middlebury: a folder of scenes in the 2005/2006/2014 layouts.")
flags.DEFINE_enum("preset", "demo", list(PRESETS), "'paper' (width 64, N=4) or 'demo' "
                  "(width 32, N=2; for CPUs, not a paper setting).")
flags.DEFINE_integer("epochs", 20, "Total epochs (stage 1 + stage 2).", lower_bound=1)
flags.DEFINE_integer("stage1_epochs", 10, "Epochs of independent pretraining (paper: 100).",
                     lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", 100, "Steps per epoch.", lower_bound=1)
flags.DEFINE_integer("batch_size", 8, "Patches per step.", lower_bound=1)
flags.DEFINE_integer("patch_size", 64, "HR patch size (a multiple of --scale).", lower_bound=16)
flags.DEFINE_enum("teacher_mode", "frozen", list(TEACHER_MODES),
                  "'frozen': the teacher is fixed during a stage-2 step (Algorithm 1); 'task': "
                  "it still trains on its own task loss (never on the distillation loss).")
flags.DEFINE_integer("seed", 0, "Seed of patches, augmentation and init.")
flags.DEFINE_enum("mixed_precision", "float32", list(training.PRECISION_POLICIES),
                  "Keras dtype policy.")
flags.DEFINE_integer("train_limit", None, "Use at most this many training images.", lower_bound=1)
flags.DEFINE_integer("eval_limit", None, "Evaluate at most this many images.", lower_bound=1)
flags.DEFINE_integer("log_every", 10, "Print progress every N steps.", lower_bound=1)
flags.DEFINE_integer("eval_every", 1, "Held-out RMSE every N epochs (0: only at the end).",
                     lower_bound=0)
flags.DEFINE_string("export_dir", None, "If set, export DSRNet as a SavedModel here at the end.")
training.define_collapse_guard_flag()
training.define_strategy_flag("The stage-2 roles are chosen on the global batch's errors.")

flags.register_validator("patch_size", lambda p: p % int(FLAGS.scale) == 0,
                         message="--patch_size must be a multiple of --scale")
flags.register_validator("stage1_epochs", lambda s: s <= FLAGS.epochs,
                         message="--stage1_epochs must be <= --epochs")
flags.register_validator("data_dir", lambda d: d is not None or FLAGS.dataset == "middlebury_sample",
                         message="--data_dir is required unless --dataset=middlebury_sample")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import collapse, reporting
    from depthlab.runners import dsr_distill as runner

    opts = runner.RunOptions(
        model_dir=FLAGS.model_dir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
        scale=int(FLAGS.scale), preset=FLAGS.preset, epochs=FLAGS.epochs,
        stage1_epochs=FLAGS.stage1_epochs, steps_per_epoch=FLAGS.steps_per_epoch,
        batch_size=FLAGS.batch_size, patch_size=FLAGS.patch_size,
        teacher_mode=FLAGS.teacher_mode, seed=FLAGS.seed, mixed_precision=FLAGS.mixed_precision,
        train_limit=FLAGS.train_limit, eval_limit=FLAGS.eval_limit, log_every=FLAGS.log_every,
        eval_every=FLAGS.eval_every, strategy=FLAGS.strategy,
        collapse_guard=FLAGS.collapse_guard)
    summary = runner.train(opts)
    if not summary["chief"]:
        return                              # a non-chief worker: the chief reports and exports
    final = summary["final"]
    rows = {"bicubic": {"rmse": final["rmse_bicubic"]}}
    if "rmse_dsrnet_only" in final:
        rows["DSRNet only (stage 1)"] = {"rmse": final["rmse_dsrnet_only"]}
    rows["DSRNet distilled (stage 2)"] = {"rmse": final["rmse"]}
    print(f"\nHeld-out RMSE ({final['units']}, x{final['scale']}, valid pixels, mean over "
          f"{final['num_images']} image(s)):")
    print(reporting.metrics_table(rows, ("rmse",)))
    print(collapse.status_line(final))
    grid = runner.latest_sample_grid(opts.model_dir)
    if grid:
        print(f"\nRGB / HR / bicubic / DSRNet / DENet grid: {grid}")
    print(f"roles per step: {opts.model_dir}/roles.csv")
    if FLAGS.export_dir:
        path = runner.export_dsrnet(summary["model"].dsrnet, FLAGS.export_dir)
        print(f"SavedModel (serving_default: LR depth metres -> HR depth metres; "
              f"serve_uint16: millimetres): {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
