r"""Evaluates a trained TS-GAN generator: the paper's Table 1 depth metrics on a held-out split.

  python -m experiments.eval_tsgan --model_dir=runs/tsgan_demo --output_json=runs/eval.json

Depth is compared in [0, 1] (the generator's tanh output mapped by (x+1)/2, first channel)
over the ground truth's valid pixels, per image, then averaged over images. FID needs a
local Inception feature-extractor file (--fid_weights); without it FID is skipped.
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import tsgan as runner

    result = runner.evaluate(FLAGS.model_dir, split=FLAGS.split, limit=FLAGS.limit,
                             fid_weights=FLAGS.fid_weights, batch_size=FLAGS.batch_size)
    keys = list(runner.EVAL_KEYS) + (["fid"] if "fid" in result else [])
    print(reporting.metrics_table({FLAGS.model_dir: result}, keys))
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, result)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
