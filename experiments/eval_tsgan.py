r"""Evaluates trained TS-GAN / baseline generators: the paper's Table 1 depth metrics on a
held-out split.

  python -m experiments.eval_tsgan --model_dir=runs/tsgan_demo --output_json=runs/eval.json
  # our Table 1: one train_tsgan run per --method, printed beside the paper's
  python -m experiments.eval_tsgan --model_dirs=runs/fcn,runs/cgan,runs/cyclegan,runs/tsgan \
      --output_json=runs/table1.json
  # a label=dir entry names that run's row (default: the run's method)
  python -m experiments.eval_tsgan --model_dirs=tsgan_seed1=runs/tsgan_s1,runs/fcn

Depth is compared in [0, 1] (the generator's tanh output mapped by (x+1)/2, first channel).
--protocol=paper (default): Table 1 on the paper's scale, JSON keys named after its rows
(abs_diff, l1_norm, l2_norm, rmse, delta_1.25, delta_1.25^2, delta_1.25^3, fid): every pixel,
per image then averaged, except l2_norm (RMSE pooled over all pixels, in 8-bit grey levels)
and delta in percent over ground truth > 0 (depthlab.metrics.PaperTable1Accumulator;
BUILD_NOTES.md "TS-GAN Table 1 metrics on the paper's scale").
--protocol=valid_pixels: the earlier per-valid-pixel metrics (abs_diff, l1, l2 as sums, rmse,
delta1..3 as fractions) over the ground truth's valid pixels, per image then averaged.
FID needs a local Inception feature-extractor file (--fid_weights); without it FID is skipped.
Each run's method is read from its config.json; a directory that train_tsgan did not write
is refused by name. With --model_dirs the JSON is ``{"rows": {label: {metric: value}}}`` (label:
the entry's label, else the run's method) and our rows are printed beside the paper's Table 1
(--table, default tsgan_table1: experiments/paper_tables/tsgan_table1.json).
"""


import os

from absl import app, flags, logging

from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One train_tsgan run directory.")
cli_flags.define_model_dirs("train_tsgan run directories (one per --method)",
                            " (default: the run's method); rows are printed beside the "
                            "paper's Table 1")
flags.DEFINE_string("table", "tsgan_table1", "Paper table printed beside --model_dirs rows (a "
                    "file in experiments/paper_tables/, or a path to such a JSON file).")
cli_flags.define_deprecated("paper_table", "table")
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
    cli_flags.apply_deprecated("paper_table", "table")
    runs = cli_flags.one_or_several(FLAGS.model_dir, FLAGS.model_dirs)
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.models.tsgan_baselines import PAPER_LABELS
    from depthlab.runners import tsgan as runner

    kwargs = dict(split=FLAGS.split, limit=FLAGS.limit, fid_weights=FLAGS.fid_weights,
                  batch_size=FLAGS.batch_size, protocol=FLAGS.protocol)
    print(f"protocol: {FLAGS.protocol}")
    if FLAGS.model_dir:
        with cli_flags.usage_errors("--model_dir"):
            result = runner.evaluate(FLAGS.model_dir, **kwargs)
        keys = list(runner.PROTOCOL_KEYS[FLAGS.protocol]) + (["fid"] if "fid" in result else [])
        print(reporting.metrics_table({FLAGS.model_dir: result}, keys))
        output = result
    else:
        model_dirs = [d for _, d in runs]
        with cli_flags.usage_errors("--model_dirs"):
            rows = runner.evaluate_runs(model_dirs, labels=[label for label, _ in runs], **kwargs)
        keys = list(runner.PROTOCOL_KEYS[FLAGS.protocol])
        keys += ["fid"] if any("fid" in r for r in rows.values()) else []
        print("Our Table 1 (held-out depth in [0, 1]):")
        print(reporting.metrics_table(rows, keys))
        if FLAGS.protocol == "paper":
            paper = (training.read_json(FLAGS.table) if os.path.isfile(FLAGS.table)
                     else reporting.load_paper_table(FLAGS.table))
            ours = {PAPER_LABELS.get(m, m): r for m, r in rows.items()}
            print("\nThe paper's Table 1 with ours beside it:")
            print(reporting.format_paper_table(paper, ours=ours))
        else:
            print("\n--protocol=valid_pixels is not on the paper's scale: no paper columns")
        output = {"rows": rows, "protocol": FLAGS.protocol,
                  "model_dirs": dict(zip(rows, model_dirs))}
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, output)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
