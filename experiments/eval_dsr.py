r"""Evaluates trained DSRNets: held-out RMSE beside bicubic and the DSRNet-only ablation.

  python -m experiments.eval_dsr --model_dir=runs/dsr_x4 --output_json=runs/dsr_x4/eval.json
  python -m experiments.eval_dsr --model_dir=runs/nyu_x4,runs/nyu_x8,runs/nyu_x16 \
      --dataset=nyu_depth_v2 --data_dir=/data/nyu --output_json=runs/nyu.json
  python -m experiments.compare_paper --table=dsr_nyu_table --run_json=runs/nyu.json

RMSE over the valid HR pixels of each held-out image, averaged over images, in centimetres
(NYU as in DKN/FDSR; Middlebury depth is converted to metres by its calibration). With one
--model_dir the JSON holds ``rmse``, ``rmse_bicubic``, ``rmse_dsrnet_only`` (when the run
reached stage 2), ``rmse_x<scale>``, ``units``; with several (one per scale), it also holds
``rows`` (method -> rmse_x4/x8/x16) for compare_paper.
"""

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_list("model_dir", None, "One or more train_dsr_distill --model_dir (comma-separated).")
flags.DEFINE_enum("dataset", None, ["middlebury_sample", "nyu_depth_v2", "middlebury"],
                  "Held-out data (default: each run's training dataset).")
flags.DEFINE_string("data_dir", None, "Data for --dataset (default: the run's).")
flags.DEFINE_integer("limit", None, "Evaluate at most this many images.", lower_bound=1)
flags.DEFINE_string("output_json", None, "Write the results here as JSON.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import dsr_distill as runner

    results = [runner.evaluate(d, FLAGS.dataset, FLAGS.data_dir, FLAGS.limit)
               for d in FLAGS.model_dir]
    names = {"rmse_bicubic": "bicubic", "rmse_dsrnet_only": "DSRNet only (stage 1)",
             "rmse": "DSRNet distilled (ours)"}
    rows = {}
    for r in results:
        for key, method in names.items():
            if key in r:
                rows.setdefault(method, {})[f"rmse_x{r['scale']}"] = r[key]
    columns = sorted({c for v in rows.values() for c in v}, key=lambda c: int(c.split("x")[1]))
    units = results[0]["units"]
    print(f"Held-out RMSE ({units}) on {results[0]['dataset']}:")
    print(reporting.metrics_table(rows, columns))
    out = dict(results[0]) if len(results) == 1 else {"units": units,
                                                      "dataset": results[0]["dataset"]}
    out["rows"] = rows
    out["runs"] = results
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, out)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
