r"""Evaluates a trained TS-GAN generator: the paper's Table 1 depth metrics on a held-out split.

  python -m experiments.eval_tsgan --model_dir=runs/tsgan_demo --output_json=runs/eval.json

Depth is compared in [0, 1] (the generator's tanh output mapped by (x+1)/2, first channel).
--protocol=paper (default): Table 1 on the paper's scale, JSON keys named after its rows
(abs_diff, l1_norm, l2_norm, rmse, delta_1.25, delta_1.25^2, delta_1.25^3, fid): every pixel,
per image then averaged, except l2_norm (RMSE pooled over all pixels, in 8-bit grey levels)
and delta in percent over ground truth > 0 (depthlab.metrics.PaperTable1Accumulator;
BUILD_NOTES.md "TS-GAN Table 1 metrics on the paper's scale").
--protocol=valid_pixels: the earlier per-valid-pixel metrics (abs_diff, l1, l2 as sums, rmse,
delta1..3 as fractions) over the ground truth's valid pixels, per image then averaged.
FID needs a local Inception feature-extractor file (--fid_weights); without it FID is skipped.
"""

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A train_tsgan --model_dir.")
flags.DEFINE_string("split", None, "Held-out split (default: the run's eval split).")
flags.DEFINE_integer("limit", None, "Evaluate at most this many images.", lower_bound=1)
flags.DEFINE_string("output_json", None, "Write the metrics here as JSON.")
flags.DEFINE_string("fid_weights", None, "Inception-v3 pool3 feature extractor (.keras or "
                    "SavedModel directory) for FID; FID is skipped without it.")
flags.DEFINE_integer("batch_size", 16, "Evaluation batch size.", lower_bound=1)
flags.DEFINE_enum("protocol", "paper", ["paper", "valid_pixels"],
                  "paper: TS-GAN Table 1 on the paper's scale (keys abs_diff, l1_norm, l2_norm, "
                  "rmse, delta_1.25*, in %); valid_pixels: the per-valid-pixel metrics (abs_diff, "
                  "l1, l2, rmse, delta1..3).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import tsgan as runner

    result = runner.evaluate(FLAGS.model_dir, split=FLAGS.split, limit=FLAGS.limit,
                             fid_weights=FLAGS.fid_weights, batch_size=FLAGS.batch_size,
                             protocol=FLAGS.protocol)
    keys = list(runner.PROTOCOL_KEYS[FLAGS.protocol]) + (["fid"] if "fid" in result else [])
    print(f"protocol: {FLAGS.protocol}")
    print(reporting.metrics_table({FLAGS.model_dir: result}, keys))
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, result)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
