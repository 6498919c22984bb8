r"""Evaluates trained CycleGAN-depth G1s: PSNR and SSIM on the test split (paper Table 1).

  python -m experiments.eval_cyclegan_depth --model_dir=runs/cgd_demo --output_json=runs/cgd.json
  python -m experiments.eval_cyclegan_depth --model_dirs=runs/cyclegan,runs/cut,...,runs/suarez \
      --output_json=runs/table1.json

Metrics (``depthlab.metrics.psnr/ssim``): G1's output mapped to [0, 1] by (o + 1) / 2 and
quantised to the 8-bit depth image round(255 u), against the paired 8-bit ground truth, over
all pixels, **data range 255** (SSIM: 11x11 Gaussian window, sigma 1.5), per image, then
averaged over the test images. The JSON holds ``psnr``, ``ssim``, ``num_images``,
``data_range`` and the run's baselines; with ``--model_dirs`` it is ``{"rows": {label:
that}}`` (label: the entry's ``label=`` or the run's variant), which ``compare_paper
--table=cyclegan_depth_table1 --run_json=...`` prints beside the paper's seven rows. The printed
table puts the paper's Table 1 row for each evaluated variant
(experiments/paper_tables/cyclegan_depth_table1.json) beside ours.
"""

from absl import app, flags, logging

from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One train_cyclegan_depth run directory.")
cli_flags.define_model_dirs("train_cyclegan_depth run directories (e.g. one per --variant)",
                            " (default: the run's variant)")
flags.DEFINE_string("output_json", None, "Write the metrics here as JSON.")
flags.DEFINE_integer("limit", None, "Evaluate at most this many test images.", lower_bound=1)
flags.DEFINE_integer("batch_size", 8, "Evaluation batch size.", lower_bound=1)
flags.DEFINE_string("table", "cyclegan_depth_table1",
                    "Paper table printed beside ours (a file in experiments/paper_tables/).")
cli_flags.define_deprecated("paper_table", "table")
def paper_rows_for_variant(table: dict, variant: str) -> dict:
    """The table's rows that correspond to ``variant`` (its ``variant_rows`` map)."""
    names = table.get("variant_rows", {}).get(variant, [])
    return {name: table["rows"][name] for name in names if name in table["rows"]}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cli_flags.apply_deprecated("paper_table", "table")
    runs = cli_flags.one_or_several(FLAGS.model_dir, FLAGS.model_dirs)
    names = cli_flags.paper_table_names(FLAGS.table)
    if len(names) != 1:
        raise app.UsageError(f"--table takes one paper table here, got {FLAGS.table!r}")
    table_name = names[0]
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import cyclegan_depth as runner

    flag = "--model_dir" if FLAGS.model_dir else "--model_dirs"
    results = {}
    for label, model_dir in runs:
        with cli_flags.usage_errors(flag):
            result = runner.evaluate(model_dir, limit=FLAGS.limit, batch_size=FLAGS.batch_size)
        label = label or result["variant"]
        if label in results:
            raise app.UsageError(f"{flag}: two runs are labelled {label!r}; name them with "
                                 "label=dir")
        results[label] = dict(result, model_dir=model_dir)
    table = reporting.load_paper_table(table_name)
    rows = []
    for label, result in results.items():
        variant = result["variant"]
        paper = [dict(source="paper", method=name, **{k: v.get(k) for k in runner.EVAL_KEYS})
                 for name, v in paper_rows_for_variant(table, variant).items()]
        rows += paper or [dict(source="paper", method=f"{variant}: not transcribed (see the "
                                                      "table's notes)")]
        rows.append(dict(source="ours", method=f"{label} ({result['model_dir']})",
                         **{k: result[k] for k in runner.EVAL_KEYS}))
    first = next(iter(results.values()))
    for name, values in first.get("baselines", {}).items():     # the first run's step 0
        rows.append(dict(source="ours", method=f"baseline: {name}", **values))
    print(f"{table.get('table', table_name)}\n{table['citation']}")
    print(f"Ours: {first['metric_note']}; {first['num_images']} images of "
          f"{first['dataset']}/{first['split']}.")
    print(reporting.markdown_table(rows, ["source", "method"] + list(runner.EVAL_KEYS)))
    if FLAGS.output_json:
        out = first if FLAGS.model_dir else {"rows": results}
        training.write_json(FLAGS.output_json, out)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
