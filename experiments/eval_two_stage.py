r"""Evaluates trained two-stage runs and prints them beside sparse-to-dense's published table.

One --model_dirs entry per run (stage-1 or stage-2 dirs, e.g. one per sample count; or one run
with --model_dir; a label=dir entry names its rows "[label]" instead of "[dir name]"); each is
evaluated with its own number of samples on its held-out split (sparse masks seeded per image,
so a rerun gives the same numbers). A stage-2 dir gives two rows: its frozen stage 1 and the
two-stage pipeline. Metrics are per image over valid pixels, then averaged over images.

  python -m experiments.eval_two_stage \
      --model_dirs=runs/s2d_0,runs/s2d_20,runs/s2d_50,runs/s2d_200 --output_json=runs/table.json
"""

import os

from absl import app, flags, logging

from data_pipelines import registry
from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One train_two_stage run directory.")
cli_flags.define_model_dirs("train_two_stage run directories",
                            " (its rows end in [label] instead of [dir name])")
flags.DEFINE_string("data_dir", None, "Override the runs' --data_dir (same dataset): a "
                    "directory in the dataset's own layout (sparse_to_dense_h5: the folder "
                    "holding train/ and val/; NYU: the folder holding nyu_depth_v2_labeled.mat).")
flags.DEFINE_integer("limit", None, "Evaluate at most this many images.", lower_bound=1)
flags.DEFINE_string("table", "sparse_to_dense_nyu",
                    "A file in experiments/paper_tables/ (without .json) printed beside ours.")
cli_flags.define_deprecated("paper_table", "table")
flags.DEFINE_string("output_json", None, "Write the results here as JSON.")

COLUMNS = ("num_samples", "rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")
TABLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_tables")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cli_flags.apply_deprecated("paper_table", "table")
    runs = cli_flags.one_or_several(FLAGS.model_dir, FLAGS.model_dirs)
    names = cli_flags.paper_table_names(FLAGS.table)
    if len(names) != 1:
        raise app.UsageError(f"--table takes one paper table here, got {FLAGS.table!r}")
    data_dir = cli_flags.check_data_dir(FLAGS.data_dir)
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import two_stage as runner

    results = []
    for label, d in runs:
        with cli_flags.usage_errors("--model_dir" if FLAGS.model_dir else "--model_dirs"):
            results.append(runner.evaluate(d, data_dir=data_dir, limit=FLAGS.limit))
        if label is not None:
            results[-1]["label"] = label
    results.sort(key=lambda r: r["num_samples"])
    table = training.read_json(os.path.join(TABLE_DIR, f"{names[0]}.json"))
    rows = {}
    for r in results:
        kind = {3: "RGB", 4: "RGBd", 1: "d"}[r["input_channels"]]
        name = r.get("label") or os.path.basename(os.path.normpath(r["model_dir"]))
        rows[f"ours stage 1, {kind} ({r['num_samples']} samples) [{name}]"] = r["stage1"]
        if "two_stage" in r:
            rows[f"ours two-stage, {kind} ({r['num_samples']} samples) [{name}]"] = r["two_stage"]
    ours_n = {r["num_samples"] for r in results}
    published = {k: v for k, v in table["rows"].items() if v.get("num_samples") in ours_n} \
        or table["rows"]
    print(f"Held-out metrics on {results[0]['dataset']} (metres; per image over valid pixels, "
          f"mean over {next(iter(rows.values()))['num_images']} image(s)):")
    print(reporting.metrics_table(rows, COLUMNS))
    print(f"\nPublished ({table['citation']}):\n{table['table']}")
    print(reporting.metrics_table(published, [c for c in COLUMNS if c != "log10"]))
    if results[0]["dataset"] != registry.SPARSE_TO_DENSE_H5:
        print("\nNote: our rows are not on the paper's data (NYU Depth v2 val, 654 frames); "
              "compare the trend over samples, not the values.")
    claims = runner.claim_cells(results)
    if claims:
        print("\nThe two-stage text's stated numbers, ours from these runs (compare_paper "
              "--table=two_stage_claims --run_json=<--output_json> prints them side by side):")
        print("  " + ", ".join(f"{k} {v['value']:.4g}" for k, v in claims.items()))
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, {"rows": rows, "published": published,
                                                "runs": results, "citation": table["citation"],
                                                "paper_cells": {"two_stage_claims": claims}})
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
