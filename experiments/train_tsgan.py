r"""Trains TS-GAN (Uppal et al., ICCV 2021) and, with --export_dir, exports the generator.

Resumes automatically from the newest checkpoint in --model_dir. Writes TensorBoard
scalars and sample grids, PNG grids under samples/, and metrics JSON files.

  python -m experiments.train_tsgan --preset=demo --model_dir=runs/tsgan_demo \
      --export_dir=runs/tsgan_demo/saved_model
  python -m experiments.train_tsgan --preset=code --dataset=curtinfaces \
      --data_dir=~/tfds --target_dataset=lfw_faces --model_dir=runs/tsgan_curtin
"""

from absl import app, flags, logging

from data_pipelines import sources
from depthlab import training
from depthlab.models.tsgan import ABLATIONS, PRESETS

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "code", list(PRESETS),
                  "Hyper-parameter preset: 'code' (the authors' repository), 'paper' (the "
                  "paper's text) or 'demo' (small, for CPUs; not a paper setting).")
flags.DEFINE_enum("dataset", sources.SYNTHETIC, list(sources.PAIRED_SOURCES),
                  "Paired RGB-D source (teacher). 'synthetic_faces' is generated on the fly.")
flags.DEFINE_enum("target_dataset", sources.SYNTHETIC_TARGET, list(sources.RGB_SOURCES),
                  "Unpaired RGB target domain (student).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir for real datasets; manual downloads are "
                    "read from <data_dir>/manual/<dataset>/.")
flags.DEFINE_string("target_data_dir", None, "TFDS data_dir of the target dataset "
                    "(default: --data_dir).")
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, TensorBoard, samples).")
flags.DEFINE_integer("epochs", None, "Epochs (default: the preset's).", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the "
                     "paired data).", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size (default: the preset's).", lower_bound=1)
flags.DEFINE_enum("ablation", "none", list(ABLATIONS),
                  "Paper Table 5: 'teacher_only' (no student) or 'a2b_only' (G_A2B with the "
                  "pixel loss, no discriminator).")
flags.DEFINE_enum("mixed_precision", "float32", list(training.PRECISION_POLICIES),
                  "Keras dtype policy: bfloat16 on CPU, float16 or bfloat16 on GPU.")
flags.DEFINE_integer("seed", 0, "Seed of data order, augmentation, pools and init.")
flags.DEFINE_integer("synthetic_identities", 20, "synthetic_faces: training identities.",
                     lower_bound=1)
flags.DEFINE_integer("synthetic_images_per_identity", 10,
                     "synthetic_faces: images per identity.", lower_bound=1)
flags.DEFINE_string("export_dir", None, "If set, export G_A2B as a SavedModel here at the end.")
flags.DEFINE_integer("log_every", 10, "Print progress every N steps.", lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
training.define_strategy_flag()
training.define_collapse_guard_flag()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import collapse, reporting
    from depthlab.runners import tsgan as runner

    opts = runner.RunOptions(
        model_dir=FLAGS.model_dir, dataset=FLAGS.dataset, target_dataset=FLAGS.target_dataset,
        data_dir=FLAGS.data_dir, target_data_dir=FLAGS.target_data_dir, epochs=FLAGS.epochs,
        steps_per_epoch=FLAGS.steps_per_epoch, batch_size=FLAGS.batch_size,
        ablation=FLAGS.ablation, mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed,
        synthetic_identities=FLAGS.synthetic_identities,
        synthetic_images_per_identity=FLAGS.synthetic_images_per_identity,
        log_every=FLAGS.log_every, jit_compile=FLAGS.jit_compile, strategy=FLAGS.strategy,
        collapse_guard=FLAGS.collapse_guard)
    summary = runner.train(opts, preset=FLAGS.preset)
    rows = runner.summary_rows(opts.model_dir, summary["final"])
    print("\nHeld-out depth metrics ([0,1] depth, valid pixels, mean over images):")
    print(reporting.metrics_table(rows, ("rmse", "abs_diff", "l1", "l2", "delta1", "delta2",
                                         "delta3")))
    print(collapse.status_line(summary["final"]))
    grid = runner.latest_sample_grid(opts.model_dir)
    if grid:
        print(f"\nRGB / ground truth / predicted grid: {grid}")
    if FLAGS.export_dir:
        from depthlab.export import export_depth_generator

        path = export_depth_generator(summary["model"].g_a2b, FLAGS.export_dir,
                                      summary["config"].image_size)
        print(f"SavedModel (serving_default: uint8 RGB -> depth [0,1] and uint16): {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
