r"""Rank-1 accuracy of trained recognition runs, in the layout of TS-GAN Tables 2-4.

  python -m experiments.eval_recognition \
      --model_dirs=runs/rec_rgb,runs/rec_rgbd_feature,runs/rec_rgbd_score,runs/rec_rgbdh_feature \
      --output_json=runs/rec_eval.json

Each --model_dirs entry is one train_recognition run (one backbone x input column; a
label=dir entry records its label in the per-run results; --model_dir: one run); runs are
re-evaluated from their checkpoints and arranged as rows = backbones, columns = RGB |
RGB+D feature, score | RGB+D~ feature, score (and D / D~ alone when present), then, as extra
columns, the two-level and depth-guided attention fusions of RGB+D / RGB+D~ runs.

Then ours are printed cell by cell beside the paper's numbers in each paper table's own layout
(experiments/paper_tables/tsgan_table{2,3,4}.json, transcribed from the paper text): with
--table=auto (default) the tables of the runs' protocol: IIIT-D -> Table 2's IIIT-D block
(paper lines 765-772), EURECOM -> Table 2's EURECOM block (774-781) and Table 3's left-pose,
right-pose and occlusion sets (792-817, our test sets of those names), LFW -> Table 4 (848-862).
Naming a table prints it for any protocol (a block from --block, e.g. for synthetic runs).
Below: each fusion column's gain over RGB (mean over backbones) beside the paper's gain
recomputed from its table and the abstract's claim (lines 20-24); and, per run, the exact
McNemar test of the fusion against RGB on the same test images (b = RGB right & fusion wrong,
c = RGB wrong & fusion right, two-sided p = scipy.stats.binomtest(b, b + c, 0.5)).
"""

import os

from absl import app, flags, logging

from depthlab.recognition_tables import PAPER_TABLES
from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One train_recognition run directory.")
cli_flags.define_model_dirs("train_recognition run directories",
                            " (recorded in the per-run results)")
flags.DEFINE_enum("table", "auto", list(PAPER_TABLES),
                  "Paper table printed beside ours: auto (those of the runs' protocol), "
                  "tsgan_table2 (IIIT-D, EURECOM), tsgan_table3 (EURECOM pose / occlusion "
                  "sets), tsgan_table4 (LFW) or none.")
cli_flags.define_deprecated("paper_table", "table")
flags.DEFINE_string("block", None, "Block of a named --table that ours fill when "
                    "the runs' protocol is not the table's (default: its first block).")
cli_flags.define_deprecated("paper_block", "block")
flags.DEFINE_string("test_set", "test", "Test set to tabulate (EURECOM: test, left_pose, "
                    "right_pose, occlusion).")
flags.DEFINE_float("score_weight", None, "Override the runs' score-fusion weight.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_bool("from_results", False, "Read each run's results.json instead of "
                  "re-evaluating its checkpoints.")
flags.DEFINE_string("output_json", None, "Write the table and per-run results here.")
flags.DEFINE_string("tsne_png", None, "Figure 4: write a t-SNE plot of one trained backbone's "
                    "embeddings of gray RGB, D and D~ here (needs scikit-learn).")
flags.DEFINE_string("tsne_run", None, "Run whose backbone embeds for --tsne_png (default: the "
                    "first run evaluated; Figure 4 uses ResNet-50).")
flags.DEFINE_enum("tsne_stream", None, ["rgb", "depth"], "Which of the run's backbones embeds "
                  "(default: depth when the run has one, else rgb).")
flags.DEFINE_integer("tsne_images", 300, "Test images per modality in the t-SNE plot.",
                     lower_bound=2)
flags.DEFINE_float("tsne_perplexity", 30.0, "t-SNE perplexity (capped at (N - 1) / 3).",
                   lower_bound=1.0)
flags.DEFINE_string("generator", None, "TS-GAN generator SavedModel for the t-SNE's D~ "
                    "(default: the --tsne_run's own --generator).")
def _bad_table(value):
    raise app.UsageError(f"--paper_table (deprecated: --table) takes one of {list(PAPER_TABLES)}, "
                         f"got {value!r}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cli_flags.apply_deprecated("paper_table", "table",
                               lambda v: v if v in PAPER_TABLES else _bad_table(v))
    cli_flags.apply_deprecated("paper_block", "block")
    runs = cli_flags.one_or_several(FLAGS.model_dir, FLAGS.model_dirs)
    logging.set_verbosity(logging.WARNING)
    from depthlab import recognition_tables, training
    from depthlab.runners import recognition as runner

    results = []
    for label, d in runs:
        if not os.path.exists(os.path.join(d, "config.json")):
            raise app.UsageError(f"--model_dirs: {d}/config.json does not exist; not a "
                                 "train_recognition run")
        if FLAGS.from_results:
            results.append(training.read_json(os.path.join(d, "results.json")))
        else:
            results.append(runner.evaluate(d, score_weight=FLAGS.score_weight))
        if label is not None:
            results[-1]["label"] = label
    protocols = sorted({r.get("protocol") for r in results})
    if len(protocols) > 1:
        raise app.UsageError(f"--model_dirs mix protocols {protocols}; tabulate one dataset at "
                             "a time")
    try:
        text, record = recognition_tables.report(results, FLAGS.test_set, FLAGS.table, FLAGS.block)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    print(text)
    if FLAGS.tsne_png:
        run = FLAGS.tsne_run or runs[0][1]
        try:
            fig = runner.tsne_figure(run, FLAGS.tsne_png, generator=FLAGS.generator,
                                     stream=FLAGS.tsne_stream, max_images=FLAGS.tsne_images,
                                     perplexity=FLAGS.tsne_perplexity)
        except ModuleNotFoundError as e:
            raise app.UsageError(f"--tsne_png: {e}") from None
        if fig["backbone"] != "resnet50":
            print(f"note: Figure 4 of the paper uses ResNet-50; this plot uses {fig['backbone']}")
        print(f"\nFigure 4: t-SNE of {fig['num_images']} test images x (gray RGB, D, D~), "
              f"{fig['backbone']} {fig['stream']} backbone of {run} -> {FLAGS.tsne_png}")
        print("nearest neighbour's modality (rows: a point's modality), embedding space | t-SNE:")
        for name, row in fig["nearest_embedding"].items():
            print(f"  {name:8s} " + "  ".join(
                f"{k}: {100 * v:5.1f}% | {100 * fig['nearest_tsne'][name][k]:5.1f}%"
                for k, v in row.items()))
        record["tsne"] = {k: fig[k] for k in ("stream", "backbone", "num_images",
                                              "nearest_tsne", "nearest_embedding")}
        record["tsne"].update(png=FLAGS.tsne_png, run=run)
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, record)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
