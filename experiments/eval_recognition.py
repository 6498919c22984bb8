r"""Rank-1 accuracy of trained recognition runs, in the layout of TS-GAN Tables 2-4.

  python -m experiments.eval_recognition \
      --model_dirs=runs/rec_rgb,runs/rec_rgbd_feature,runs/rec_rgbd_score,runs/rec_rgbdh_feature \
      --paper_table=tsgan_table2 --output_json=runs/rec_eval.json

Each --model_dirs entry is one train_recognition run (one backbone x input column); runs are
re-evaluated from their checkpoints and arranged as rows = backbones, columns = RGB |
RGB+D feature, score | RGB+D~ feature, score (and D / D~ alone when present), then, as extra
columns, the two-level and depth-guided attention fusions of RGB+D / RGB+D~ runs. The paper's
published numbers are printed beside ours from experiments/paper_tables/<table>.json; where
that file has no rows (not transcribed), only ours are printed and the file's status is shown.
Below the table: each fusion column's gain over RGB (mean over backbones), the RGB+D~ ones beside
the average gain the paper's abstract publishes for the table's dataset (+1.2 IIIT-D, +2.6
EURECOM, +2.6 LFW).
"""

import json
import os

from absl import app, flags, logging

TABLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_tables")
PAPER_TABLES = ("tsgan_table2", "tsgan_table3", "tsgan_table4", "none")

FLAGS = flags.FLAGS
flags.DEFINE_list("model_dirs", [], "train_recognition --model_dir(s) to evaluate.")
flags.DEFINE_enum("paper_table", "none", list(PAPER_TABLES),
                  "Paper table to print beside ours: tsgan_table2 (IIIT-D), tsgan_table3 "
                  "(EURECOM), tsgan_table4 (LFW).")
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
                    "first --model_dirs entry; Figure 4 uses ResNet-50).")
flags.DEFINE_enum("tsne_stream", None, ["rgb", "depth"], "Which of the run's backbones embeds "
                  "(default: depth when the run has one, else rgb).")
flags.DEFINE_integer("tsne_images", 300, "Test images per modality in the t-SNE plot.",
                     lower_bound=2)
flags.DEFINE_float("tsne_perplexity", 30.0, "t-SNE perplexity (capped at (N - 1) / 3).",
                   lower_bound=1.0)
flags.DEFINE_string("generator", None, "TS-GAN generator SavedModel for the t-SNE's D~ "
                    "(default: the --tsne_run's own --generator).")


def gains_over_rgb(rows, columns):
    """{two-stream column: (mean over backbones of column - RGB, number of backbones)} over
    the rows that have both (points)."""
    out = {}
    for column in columns:
        diffs = [r[column] - r["rgb"] for r in rows if column in r and "rgb" in r]
        if column.startswith("rgbd") and diffs:
            out[column] = (sum(diffs) / len(diffs), len(diffs))
    return out


def _load_paper(name):
    path = os.path.join(TABLE_DIR, f"{name}.json")
    with open(path) as f:
        return json.load(f)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dirs:
        raise app.UsageError("--model_dirs is required (one or more train_recognition runs)")
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting, training
    from depthlab.runners import recognition as runner

    results = []
    for d in FLAGS.model_dirs:
        if not os.path.exists(os.path.join(d, "config.json")):
            raise app.UsageError(f"--model_dirs: {d}/config.json does not exist; not a "
                                 "train_recognition run")
        if FLAGS.from_results:
            results.append(training.read_json(os.path.join(d, "results.json")))
        else:
            results.append(runner.evaluate(d, score_weight=FLAGS.score_weight))
    rows = runner.paper_layout_rows(results, FLAGS.test_set)
    columns = [c for c in runner.COLUMNS if any(c in r for r in rows)]
    scratch = any(r.get("from_scratch") for r in results)
    note = (" (from scratch: no ImageNet weights)" if scratch else "")
    print(f"Rank-1 accuracy (%), test set '{FLAGS.test_set}'{note}. 'inception' = BN-Inception "
          "built here (Inception-v2 of the paper).")
    table_rows = [dict({"source": "ours"}, **r) for r in rows]
    paper = None
    if FLAGS.paper_table != "none":
        paper = _load_paper(FLAGS.paper_table)
        for backbone, values in paper.get("rows", {}).items():
            table_rows.append(dict({"source": "paper", "backbone": backbone}, **values))
    labels = [runner.COLUMN_LABELS[c] for c in columns]
    printable = [dict({"source": r["source"], "backbone": r["backbone"]},
                      **{runner.COLUMN_LABELS[c]: r.get(c) for c in columns}) for r in table_rows]
    print(reporting.markdown_table(printable, ["source", "backbone"] + labels, digits=2))
    for r in rows:
        if r.get("from_members"):
            print(f"{r['backbone']}: " + ", ".join(runner.COLUMN_LABELS[c] for c in
                                                   r["from_members"]) +
                  " = the single-stream members of the score-fusion run(s)")
    gains = gains_over_rgb(rows, runner.COLUMNS)
    published = (paper or {}).get("abstract_average_gain")
    for column, (gain, n) in gains.items():
        line = (f"{runner.COLUMN_LABELS[column]} - RGB, mean over {n} backbone(s): "
                f"{gain:+.2f} points")
        if published and column.startswith("rgbd_hallucinated"):
            line += f"; paper (abstract, RGB+D~ - RGB, mean over architectures): " \
                    f"{published['value']:+.1f}"
        print(line)
    if paper is not None:
        print(f"\nPaper: {paper['citation']}")
        if not paper.get("rows"):
            print(f"Paper rows: none. {paper.get('transcription_status', '')}")
    record = {"rows": {r["backbone"]: {c: r.get(c) for c in columns} for r in rows},
              "test_set": FLAGS.test_set, "runs": results,
              "gain_over_rgb": {c: g for c, (g, _) in gains.items()}}
    if FLAGS.tsne_png:
        run = FLAGS.tsne_run or FLAGS.model_dirs[0]
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
