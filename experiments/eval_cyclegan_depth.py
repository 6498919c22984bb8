r"""Evaluates a trained CycleGAN-depth G1: PSNR and SSIM on the test split (paper Table 1).

  python -m experiments.eval_cyclegan_depth --model_dir=runs/cgd_demo --output_json=runs/cgd.json

Metrics (``depthlab.metrics.psnr/ssim``): G1's output mapped to [0, 1] by (o + 1) / 2 and
quantised to the 8-bit depth image round(255 u), against the paired 8-bit ground truth, over
all pixels, **data range 255** (SSIM: 11x11 Gaussian window, sigma 1.5), per image, then
averaged over the test images. The JSON holds ``psnr``, ``ssim``, ``num_images``,
``data_range`` and the run's baselines; the printed table puts the paper's Table 1 row(s) for
the evaluated variant (experiments/paper_tables/cyclegan_depth_table1.json) beside ours.
"""

from absl import app, flags, logging

from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One train_cyclegan_depth run directory.")
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
    cli_flags.one_or_several(FLAGS.model_dir, None)
    names = cli_flags.paper_table_names(FLAGS.table)
    if len(names) != 1:
        raise app.UsageError(f"--table takes one paper table here, got {FLAGS.table!r}")
    table_name = names[0]
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import cyclegan_depth as runner

    with cli_flags.usage_errors("--model_dir"):
        result = runner.evaluate(FLAGS.model_dir, limit=FLAGS.limit, batch_size=FLAGS.batch_size)
    table = reporting.load_paper_table(table_name)
    variant = result["variant"]
    rows = [dict(source="paper", method=name, **{k: v.get(k) for k in runner.EVAL_KEYS})
            for name, v in paper_rows_for_variant(table, variant).items()]
    if not rows:
        rows.append(dict(source="paper", method=f"{variant}: not transcribed (see the table's "
                                                 "notes)"))
    rows.append(dict(source="ours", method=f"{variant} ({FLAGS.model_dir})",
                     **{k: result[k] for k in runner.EVAL_KEYS}))
    for name, values in result.get("baselines", {}).items():
        rows.append(dict(source="ours", method=f"baseline: {name}", **values))
    print(f"{table.get('table', table_name)}\n{table['citation']}")
    print(f"Ours: {result['metric_note']}; {result['num_images']} images of "
          f"{result['dataset']}/{result['split']}.")
    print(reporting.markdown_table(rows, ["source", "method"] + list(runner.EVAL_KEYS)))
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, result)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
