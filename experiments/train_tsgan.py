r"""Trains TS-GAN (Uppal et al., ICCV 2021) or one of its Table 1 baselines (--method=fcn|cgan|
cyclegan: FCN [4], cGAN [33], CycleGAN [24]) and, with --export_dir, exports the generator.

Resumes automatically from the newest checkpoint in --model_dir. Writes TensorBoard
scalars and sample grids, PNG grids under samples/, and metrics JSON files.

  python -m experiments.train_tsgan --preset=demo --model_dir=runs/tsgan_demo \
      --export_dir=runs/tsgan_demo/saved_model
  python -m experiments.train_tsgan --preset=code --dataset=curtinfaces \
      --data_dir=~/tfds --target_dataset=lfw_faces --model_dir=runs/tsgan_curtin
  # paper Table 1 protocol (47 CurtinFaces subjects train, 5 test), one run per method:
  python -m experiments.train_tsgan --method=cgan --dataset=curtinfaces \
      --curtin_protocol=paper_47_5 --data_dir=~/tfds --model_dir=runs/t1_cgan
  # the student sees only IIIT-D fold 3's recognition training images (paper l. 595-599):
  python -m experiments.train_tsgan --dataset=curtinfaces --curtin_protocol=paper_47_5 \
      --target_dataset=iiitd_rgbd --target_fold=3 --data_dir=~/tfds --model_dir=runs/tsgan_f3
"""

from absl import app, flags, logging

from data_pipelines import sources
from data_pipelines.datasets.curtinfaces import PROTOCOLS as CURTIN_PROTOCOLS
from depthlab import training
from depthlab.models.tsgan import ABLATIONS, PRESETS
from depthlab.models.tsgan_baselines import METHODS, PAPER_LABELS

FLAGS = flags.FLAGS
flags.DEFINE_enum("method", "tsgan", list(METHODS),
                  "What to train: 'tsgan' (Algorithm 1) or a paper Table 1 baseline: 'fcn' "
                  "(encoder-decoder, absolute-error loss only [4]), 'cgan' (pix2pix-style "
                  "conditional GAN + L1 [33]), 'cyclegan' (unpaired RGB <-> depth with cycle "
                  "losses [24]). Same networks, data, budget flags and export.")
flags.DEFINE_enum("curtin_protocol", None, sorted(CURTIN_PROTOCOLS),
                  "--dataset=curtinfaces subject split: 'paper_47_5' = paper sec. 5.1, 47 "
                  "subjects train / the last 5 (48-52) test; splits 'train' and 'test'.")
flags.DEFINE_enum("preset", "code", list(PRESETS),
                  "Hyper-parameter preset: 'code' (the authors' repository), 'paper' (the "
                  "paper's text) or 'demo' (small, for CPUs; not a paper setting).")
flags.DEFINE_enum("dataset", sources.SYNTHETIC, list(sources.PAIRED_SOURCES),
                  "Paired RGB-D source (teacher). 'synthetic_faces' is generated on the fly.")
flags.DEFINE_enum("target_dataset", sources.SYNTHETIC_TARGET, list(sources.RGB_SOURCES),
                  "Unpaired RGB target domain (student).")
flags.DEFINE_enum("target_protocol", None, ["paper", "all"],
                  "Which target images the student trains on. 'paper' (default for iiitd_rgbd, "
                  "eurecom_kinectfacedb, lfw_faces; paper lines 595-607, 617-619): only the "
                  "recognition protocol's training images, never a recognition test image "
                  "(IIIT-D: fold --target_fold's training set; EURECOM: the 468 of the 50/50 "
                  "split; LFW: all but the 62 x 20 test images). 'all' (default otherwise): the "
                  "whole target split.")
flags.DEFINE_integer("target_fold", None, "--target_dataset=iiitd_rgbd with "
                     "--target_protocol=paper: the recognition fold (1-5) whose training images "
                     "the student sees (one generator per fold).")
flags.DEFINE_integer("target_split_seed", 0, "--target_protocol=paper: the seed of the "
                     "EURECOM 50/50 and LFW draws; use train_recognition's --seed.")
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
        method=FLAGS.method, curtin_protocol=FLAGS.curtin_protocol,
        target_protocol=FLAGS.target_protocol, target_fold=FLAGS.target_fold,
        target_split_seed=FLAGS.target_split_seed,
        collapse_guard=FLAGS.collapse_guard)
    summary = runner.train(opts, preset=FLAGS.preset)
    rows = runner.summary_rows(opts.model_dir, summary["final"], PAPER_LABELS[FLAGS.method])
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
