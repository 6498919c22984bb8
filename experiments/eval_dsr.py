r"""Evaluates trained DSRNets: held-out RMSE beside bicubic and the DSRNet-only ablation.

  python -m experiments.eval_dsr --model_dir=runs/dsr_x4 --output_json=runs/dsr_x4/eval.json
  python -m experiments.eval_dsr --model_dirs=runs/nyu_x4,runs/nyu_x8,runs/nyu_x16 \
      --dataset=nyu_depth_v2 --data_dir=/data/nyu --output_json=runs/nyu.json
  python -m experiments.compare_paper --table=dsr_nyu_table --run_json=runs/nyu.json

RMSE over the valid HR pixels of each held-out image, averaged over images, in centimetres
(NYU as in DKN/FDSR; Middlebury depth is converted to metres by its calibration). With one
--model_dir the JSON holds ``rmse``, ``rmse_bicubic``, ``rmse_dsrnet_only`` (when the run
reached stage 2), ``rmse_x<scale>``, ``units``; with --model_dirs (one run per scale), it also
holds ``rows`` (method -> rmse_x4/x8/x16) for compare_paper. A ``label=dir`` entry of
--model_dirs puts that run's rows under "<method> [label]". --data_dir is a directory (NYU: the
folder holding nyu_depth_v2_labeled.mat; Middlebury: the folder of scene folders).
"""

import sys

from absl import app, flags, logging

from data_pipelines import registry
from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One train_dsr_distill run directory.")
cli_flags.define_model_dirs("train_dsr_distill run directories (e.g. one per scale)",
                            " (its rows become '<method> [label]')")
flags.DEFINE_enum("dataset", None, registry.names(view="rgbd_records"),
                  "Held-out data (default: each run's training dataset).")
flags.DEFINE_string("data_dir", None, "Directory of --dataset in its own layout (NYU: the "
                    "folder holding nyu_depth_v2_labeled.mat; Middlebury: the folder of scene "
                    "folders). Default: the run's.")
flags.DEFINE_integer("limit", None, "Evaluate at most this many images.", lower_bound=1)
flags.DEFINE_string("output_json", None, "Write the results here as JSON.")
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.model_dir and "," in FLAGS.model_dir and not FLAGS.model_dirs:
        print("warning: several runs in --model_dir are deprecated; use --model_dirs",
              file=sys.stderr)
        FLAGS.model_dirs, FLAGS.model_dir = FLAGS.model_dir.split(","), None
    runs = cli_flags.one_or_several(FLAGS.model_dir, FLAGS.model_dirs)
    data_dir = cli_flags.check_data_dir(FLAGS.data_dir)
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import dsr_distill as runner

    results = []
    for label, d in runs:
        with cli_flags.usage_errors("--model_dir" if FLAGS.model_dir else "--model_dirs"):
            results.append(runner.evaluate(d, FLAGS.dataset, data_dir, FLAGS.limit))
        if label is not None:
            results[-1]["label"] = label
    names = {"rmse_bicubic": "bicubic", "rmse_dsrnet_only": "DSRNet only (stage 1)",
             "rmse": "DSRNet distilled (ours)"}
    rows = {}
    for r in results:
        for key, method in names.items():
            if key in r:
                row = f"{method} [{r['label']}]" if "label" in r else method
                rows.setdefault(row, {})[f"rmse_x{r['scale']}"] = r[key]
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
    app.run(main)
