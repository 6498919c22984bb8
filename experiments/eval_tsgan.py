r"""Evaluates trained TS-GAN / baseline generators: the paper's Table 1 depth metrics on a
held-out split.

  python -m experiments.eval_tsgan --model_dir=runs/tsgan_demo --output_json=runs/eval.json
  # our Table 1: one train_tsgan run per --method, printed beside the paper's
  python -m experiments.eval_tsgan --model_dirs=runs/fcn,runs/cgan,runs/cyclegan,runs/tsgan \
      --output_json=runs/table1.json

Depth is compared in [0, 1] (the generator's tanh output mapped by (x+1)/2, first channel)
over the ground truth's valid pixels, per image, then averaged over images. FID needs a
local Inception feature-extractor file (--fid_weights); without it FID is skipped.
Each run's method is read from its config.json; a directory that train_tsgan did not write
is refused by name. With --model_dirs the JSON is ``{"rows": {method: {metric: value}}}``.
"""

import os

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A train_tsgan --model_dir.")
flags.DEFINE_list("model_dirs", None, "Several train_tsgan --model_dirs (one per --method): "
                  "writes rows keyed by method and prints them beside the paper's Table 1.")
flags.DEFINE_string("paper_table", None, "Paper Table 1 JSON (default: "
                    "experiments/paper_tables/tsgan_table1.json).")
flags.DEFINE_string("split", None, "Held-out split (default: the run's eval split).")
flags.DEFINE_integer("limit", None, "Evaluate at most this many images.", lower_bound=1)
flags.DEFINE_string("output_json", None, "Write the metrics here as JSON.")
flags.DEFINE_string("fid_weights", None, "Inception-v3 pool3 feature extractor (.keras or "
                    "SavedModel directory) for FID; FID is skipped without it.")
flags.DEFINE_integer("batch_size", 16, "Evaluation batch size.", lower_bound=1)

PAPER_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_tables",
                           "tsgan_table1.json")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if bool(FLAGS.model_dir) == bool(FLAGS.model_dirs):
        raise app.UsageError("pass exactly one of --model_dir and --model_dirs")
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import tsgan as runner

    kwargs = dict(split=FLAGS.split, limit=FLAGS.limit, fid_weights=FLAGS.fid_weights,
                  batch_size=FLAGS.batch_size)
    if FLAGS.model_dir:
        result = runner.evaluate(FLAGS.model_dir, **kwargs)
        keys = list(runner.EVAL_KEYS) + (["fid"] if "fid" in result else [])
        print(reporting.metrics_table({FLAGS.model_dir: result}, keys))
        output = result
    else:
        rows = runner.evaluate_runs(FLAGS.model_dirs, **kwargs)
        keys = list(runner.EVAL_KEYS) + (["fid"] if any("fid" in r for r in rows.values()) else [])
        print("Our Table 1 (held-out depth in [0, 1]; deltas as fractions):")
        print(reporting.metrics_table(rows, keys))
        paper = training.read_json(FLAGS.paper_table or PAPER_TABLE)
        table, shared = runner.paper_comparison(rows, paper)
        if shared:
            print("\nBeside the paper's Table 1 (the metric keys both hold; the paper's units: "
                  f"{paper.get('units', 'see its JSON')}):")
            print(reporting.metrics_table(table, shared))
        else:
            print(f"\n{FLAGS.paper_table or PAPER_TABLE} shares no metric key with ours")
        output = {"rows": rows, "model_dirs": dict(zip(rows, FLAGS.model_dirs))}
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, output)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
