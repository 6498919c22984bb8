r"""Trains the two-stage RGB + sparse depth model: --stage=1 (sparse-to-dense ResNet-50 +
UpProj) or --stage=2 (pix2pix U-ResNet refiner on a trained, frozen stage 1).

Resumes from the newest checkpoint in --model_dir. Writes TensorBoard scalars, PNG sample
grids (RGB | ground truth | sparse input | prediction), the network (.keras) and
metrics_final.json (held-out RMSE, REL, log10, delta_1..3 per image, averaged), and with
--export_dir a SavedModel of the whole pipeline (RGB uint8 + sparse depth metres -> depth
metres).

  python -m experiments.train_two_stage --stage=1 --num_samples=200 \
      --model_dir=runs/s2d_200 --epochs=10 --steps_per_epoch=15 --batch_size=8
  python -m experiments.train_two_stage --stage=2 --stage1_dir=runs/s2d_200 \
      --model_dir=runs/s2d_200_refined --epochs=5 --steps_per_epoch=50
  python -m experiments.train_two_stage --stage=1 --dataset=sparse_to_dense_h5 \
      --data_dir=/data/nyudepthv2 --preset=sparse_to_dense --num_samples=200 \
      --backbone_weights=/weights/resnet50_encoder.weights.h5 --model_dir=runs/nyu_200
"""

from absl import app, flags, logging

from depthlab import training
from depthlab.models import two_stage as ts

FLAGS = flags.FLAGS
flags.DEFINE_enum("stage", None, ["1", "2"], "1: train stage 1; 2: train the pix2pix refiner "
                  "on the stage 1 in --stage1_dir.")
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, TensorBoard, samples).")
# Stage 1.
flags.DEFINE_enum("dataset", "middlebury_sample",
                  ["middlebury_sample", "sparse_to_dense_h5", "nyu_depth_v2"],
                  "'middlebury_sample' is embedded (scikit-image's Middlebury 2014 Motorcycle, "
                  "metric depth); the others read --data_dir.")
flags.DEFINE_string("data_dir", None, "sparse_to_dense_h5: the folder holding train/ and val/; "
                    "nyu_depth_v2: the labeled .mat (or its folder).")
flags.DEFINE_enum("preset", "demo", list(ts.STAGE1_PRESETS),
                  "'sparse_to_dense' (the Torch original, 63.6M parameters), 'paper' (+2 convs, "
                  "output 256x256) or 'demo' (1/8 width, 1 block per stage; for CPUs).")
flags.DEFINE_integer("num_samples", 200, "Sparse depth samples per image (0: RGB only).",
                     lower_bound=0)
flags.DEFINE_enum("input_type", "auto", ["auto", "rgb", "rgbd", "d"],
                  "Network input; 'auto': rgb for --num_samples=0, else rgbd.")
flags.DEFINE_enum("loss", "berhu", list(ts.STAGE1_LOSSES), "Stage-1 loss, masked to valid pixels.")
flags.DEFINE_float("learning_rate", None, "Initial LR (stage 1 SGD default 0.01; stage 2 Adam "
                   "default 2e-4).")
flags.DEFINE_integer("lr_decay_every", 5, "Stage 1: multiply the LR by --lr_decay every N epochs.",
                     lower_bound=1)
flags.DEFINE_float("lr_decay", 0.2, "Stage 1 LR factor.")
flags.DEFINE_float("weight_decay", 1e-4, "Stage 1 SGD weight decay.", lower_bound=0.0)
flags.DEFINE_float("clip_norm", 10.0, "Stage 1: clip the global gradient norm to this before "
                   "SGD (our choice, not in sparse-to-dense; BUILD_NOTES.md, issue 21). 0: off.",
                   lower_bound=0.0)
flags.DEFINE_list("crop_hw", None, "Network input size H,W (default 96,128 for the sample, "
                  "228,304 otherwise).")
flags.DEFINE_integer("base_filters", None, "Override the encoder width (ResNet-50: 64).",
                     lower_bound=1)
flags.DEFINE_string("backbone_weights", None, "A .weights.h5 of a 3-channel depthlab "
                    "ResNetEncoder (e.g. converted ImageNet weights). None: train from scratch.")
flags.DEFINE_integer("sample_downscale", 2, "middlebury_sample: down-sampling of the image.",
                     lower_bound=1)
flags.DEFINE_integer("train_limit", None, "Use at most this many training frames.", lower_bound=1)
flags.DEFINE_integer("eval_limit", None, "Evaluate at most this many frames.", lower_bound=1)
# Stage 2.
flags.DEFINE_string("stage1_dir", None, "--stage=2: the --model_dir of a finished stage-1 run.")
flags.DEFINE_enum("stage2_preset", "demo", list(ts.STAGE2_PRESETS),
                  "'paper' (pix2pix widths) or 'demo' (1/4 width).")
flags.DEFINE_float("lambda_l1", 100.0, "Stage 2: weight of the L1 term (eq. 2).", lower_bound=0.0)
flags.DEFINE_float("max_depth", 10.0, "Stage 2: depth (m) mapped to +1.", lower_bound=1e-3)
# Both.
flags.DEFINE_integer("epochs", 20, "Epochs (sparse-to-dense 20; pix2pix 200).", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", 100, "Steps per epoch.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size (default 10 for stage 1, 1 for stage 2).",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of crops, augmentation, sparse masks and init.")
flags.DEFINE_enum("mixed_precision", "float32", list(training.PRECISION_POLICIES),
                  "Keras dtype policy.")
flags.DEFINE_integer("log_every", 10, "Print progress every N steps.", lower_bound=1)
flags.DEFINE_string("export_dir", None, "If set, export the pipeline as a SavedModel here.")
training.define_collapse_guard_flag()
training.define_strategy_flag(
    "Applies to both stages; batch norm then uses global-batch statistics.")

flags.register_validator("stage1_dir", lambda d: d is not None or FLAGS.stage != "2",
                         message="--stage=2 needs --stage1_dir")
flags.register_validator("data_dir", lambda d: d is not None or FLAGS.dataset == "middlebury_sample",
                         message="--data_dir is required unless --dataset=middlebury_sample")
flags.register_validator("crop_hw", lambda c: c is None or (len(c) == 2 and all(
    v.isdigit() and int(v) >= 32 for v in c)), message="--crop_hw must be H,W with H, W >= 32")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import collapse, reporting
    from depthlab.runners import two_stage as runner

    if FLAGS.stage == "1":
        opts = runner.Stage1Options(
            model_dir=FLAGS.model_dir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
            preset=FLAGS.preset, num_samples=FLAGS.num_samples, input_type=FLAGS.input_type,
            loss=FLAGS.loss, epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch,
            batch_size=FLAGS.batch_size or 10, learning_rate=FLAGS.learning_rate or 0.01,
            lr_decay_every=FLAGS.lr_decay_every, lr_decay=FLAGS.lr_decay,
            weight_decay=FLAGS.weight_decay, clip_norm=FLAGS.clip_norm or None,
            crop_hw=None if FLAGS.crop_hw is None else tuple(int(v) for v in FLAGS.crop_hw),
            base_filters=FLAGS.base_filters, backbone_weights=FLAGS.backbone_weights,
            sample_downscale=FLAGS.sample_downscale, seed=FLAGS.seed,
            mixed_precision=FLAGS.mixed_precision, train_limit=FLAGS.train_limit,
            eval_limit=FLAGS.eval_limit, log_every=FLAGS.log_every, strategy=FLAGS.strategy,
            collapse_guard=FLAGS.collapse_guard)
        summary = runner.train_stage1(opts)
        final = summary["final"]
        rows = {f"stage 1 ({final['num_samples']} samples)": final}
    else:
        opts = runner.Stage2Options(
            model_dir=FLAGS.model_dir, stage1_dir=FLAGS.stage1_dir, preset=FLAGS.stage2_preset,
            epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch,
            batch_size=FLAGS.batch_size or 1, learning_rate=FLAGS.learning_rate or 2e-4,
            lambda_l1=FLAGS.lambda_l1, max_depth=FLAGS.max_depth, seed=FLAGS.seed,
            mixed_precision=FLAGS.mixed_precision, log_every=FLAGS.log_every,
            strategy=FLAGS.strategy, collapse_guard=FLAGS.collapse_guard)
        summary = runner.train_stage2(opts)
        final = summary["final"]
        n = final["stage1"]["num_samples"]
        rows = {f"stage 1 ({n} samples)": final["stage1"],
                f"two-stage ({n} samples)": final["two_stage"]}
    if not summary["chief"]:
        return                              # a non-chief worker: the chief reports and exports
    first = next(iter(rows.values()))
    print(f"\nHeld-out metrics (metres; valid pixels; mean over {first['num_images']} image(s)):")
    print(reporting.metrics_table(rows, ("rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")))
    print(collapse.status_line(final))
    grid = runner.latest_sample_grid(FLAGS.model_dir)
    if grid:
        print(f"\nRGB / ground truth / sparse / prediction grid: {grid}")
    if FLAGS.export_dir:
        path = runner.export_pipeline(FLAGS.model_dir, FLAGS.export_dir)
        print(f"SavedModel (serving_default: rgb uint8 + sparse_depth metres -> depth metres): {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["stage", "model_dir"])
    app.run(main)
