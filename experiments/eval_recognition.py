r"""Rank-1 accuracy of trained recognition runs, in the layout of TS-GAN Tables 2-4.

  python -m experiments.eval_recognition \
      --model_dirs=runs/rec_rgb,runs/rec_rgbd_feature,runs/rec_rgbd_score,runs/rec_rgbdh_feature \
      --output_json=runs/rec_eval.json

Each --model_dirs entry is one train_recognition run (one backbone x input column); runs are
re-evaluated from their checkpoints and arranged as rows = backbones, columns = RGB |
RGB+D feature, score | RGB+D~ feature, score (and D / D~ alone when present), then, as extra
columns, the two-level and depth-guided attention fusions of RGB+D / RGB+D~ runs.

Then ours are printed cell by cell beside the paper's numbers in each paper table's own layout
(experiments/paper_tables/tsgan_table{2,3,4}.json, transcribed from the paper text): with
--paper_table=auto (default) the tables of the runs' protocol: IIIT-D -> Table 2's IIIT-D block
(paper lines 765-772), EURECOM -> Table 2's EURECOM block (774-781) and Table 3's left-pose,
right-pose and occlusion sets (792-817, our test sets of those names), LFW -> Table 4 (848-862).
Naming a table prints it for any protocol (a block from --paper_block, e.g. for synthetic runs).
Below: each fusion column's gain over RGB (mean over backbones) beside the paper's gain
recomputed from its table and the abstract's claim (lines 20-24); and, per run, the exact
McNemar test of the fusion against RGB on the same test images (b = RGB right & fusion wrong,
c = RGB wrong & fusion right, two-sided p = scipy.stats.binomtest(b, b + c, 0.5)).
"""

import json
import os

from absl import app, flags, logging

PAPER_TABLES = ("auto", "tsgan_table2", "tsgan_table3", "tsgan_table4", "none")
# protocol -> [(paper table, its blocks our runs fill)]; None = an unblocked table
PROTOCOL_TABLES = {"iiitd_rgbd": [("tsgan_table2", ["iiitd"])],
                   "eurecom_kinectfacedb": [("tsgan_table2", ["eurecom"]),
                                            ("tsgan_table3", ["left_pose", "right_pose",
                                                              "occlusion"])],
                   "lfw_faces": [("tsgan_table4", [None])]}
# Table 3's blocks are test sets of their own (our EURECOM split's test sets of those names)
BLOCK_TEST_SETS = {"left_pose": "left_pose", "right_pose": "right_pose",
                   "occlusion": "occlusion"}
# the dataset of the abstract's average gain (lines 20-24) each block reports
ABSTRACT_DATASET = {("tsgan_table2", "iiitd"): "iiitd", ("tsgan_table2", "eurecom"): "eurecom",
                    ("tsgan_table4", None): "lfw"}

FLAGS = flags.FLAGS
flags.DEFINE_list("model_dirs", [], "train_recognition --model_dir(s) to evaluate.")
flags.DEFINE_enum("paper_table", "auto", list(PAPER_TABLES),
                  "Paper table printed beside ours: auto (those of the runs' protocol), "
                  "tsgan_table2 (IIIT-D, EURECOM), tsgan_table3 (EURECOM pose / occlusion "
                  "sets), tsgan_table4 (LFW) or none.")
flags.DEFINE_string("paper_block", None, "Block of a named --paper_table that ours fill when "
                    "the runs' protocol is not the table's (default: its first block).")
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


def paper_targets(protocol: str, paper_table: str, paper_block=None):
    """[(table name, table, [blocks ours fill])] to print for runs of ``protocol``."""
    from depthlab import reporting

    if paper_table == "none":
        return []
    own = dict(PROTOCOL_TABLES.get(protocol, []))
    names = list(own) if paper_table == "auto" else [paper_table]
    out = []
    for name in names:
        table = reporting.load_paper_table(name)
        blocks = table.get("blocks")
        if paper_block is not None:
            if paper_block not in (blocks or []):
                raise ValueError(f"--paper_block={paper_block}: {name} has blocks "
                                 f"{blocks or 'none'}")
            chosen = [paper_block]
        elif name in own:
            chosen = own[name]
        else:
            chosen = [blocks[0]] if blocks else [None]
        out.append((name, table, chosen))
    return out


def paper_cells(table_name: str, table: dict, blocks, results, test_set: str):
    """Our cells in the table's shape for ``blocks`` ({block: cells} or cells) and the
    backbone each attention row came from."""
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    cells, sources = {}, {}
    for block in blocks:
        our_set = BLOCK_TEST_SETS.get(block, test_set) if table_name == "tsgan_table3" \
            else test_set
        rows = {r["backbone"]: r for r in runner.paper_layout_rows(results, our_set)}
        got, src = reporting.to_paper_cells(table, rows)
        sources.update({f"{block}/{k}" if block else k: v for k, v in src.items()})
        if block is None:
            return got, sources
        cells[block] = got
    return cells, sources


def _gain_lines(gains, targets, protocol):
    """Our gains over RGB beside the paper's (from its table) and the abstract's claim."""
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    lines = []
    paper = []
    for name, table, blocks in targets:
        for block in blocks:
            dataset = ABSTRACT_DATASET.get((name, block))
            if dataset is None:
                continue
            rows = table["rows"][block] if block else table["rows"]
            claim = (table.get("abstract_claim") or {}).get(dataset)
            paper.append((dataset, rows, claim, name))
    for column, (gain, n) in gains.items():
        line = (f"{runner.COLUMN_LABELS[column]} - RGB, mean over {n} backbone(s): "
                f"{gain:+.2f} points")
        for dataset, rows, claim, name in paper:
            try:
                theirs = reporting.average_gain(rows, column)
            except ValueError:
                continue
            line += f"; paper {name} {dataset}: {theirs:+.3f}"
            if claim is not None and column == "rgbd_hallucinated_feature":
                line += f" (abstract, lines 20-24, states {claim:+.1f})"
        lines.append(line)
    return lines


def report(results, test_set: str = "test", paper_table: str = "auto", paper_block=None):
    """(printed text, output record) of evaluated runs: our table, each paper table's layout
    with ours beside it, gains over RGB and the McNemar tests. Pure: no models are loaded."""
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    out = []
    rows = runner.paper_layout_rows(results, test_set)
    columns = [c for c in runner.COLUMNS if any(c in r for r in rows)]
    protocol = results[0].get("protocol") if results else None
    scratch = any(r.get("from_scratch") for r in results)
    note = (" (from scratch: no ImageNet weights)" if scratch else "")
    out.append(f"Rank-1 accuracy (%), protocol {protocol}, test set '{test_set}'{note}. "
               "'inception' = BN-Inception built here (Inception-v2 of the paper).")
    labels = [runner.COLUMN_LABELS[c] for c in columns]
    printable = [dict({"backbone": r["backbone"]},
                      **{runner.COLUMN_LABELS[c]: r.get(c) for c in columns}) for r in rows]
    out.append(reporting.markdown_table(printable, ["backbone"] + labels, digits=2))
    for r in rows:
        if r.get("from_members"):
            out.append(f"{r['backbone']}: " + ", ".join(runner.COLUMN_LABELS[c] for c in
                                                        r["from_members"]) +
                       " = the single-stream members of the score-fusion run(s)")
    targets = paper_targets(protocol, paper_table, paper_block)
    record_cells = {}
    for name, table, blocks in targets:
        cells, sources = paper_cells(name, table, blocks, results, test_set)
        record_cells[name] = cells
        where = ", ".join(table.get("block_labels", {}).get(b, b) for b in blocks if b)
        out.append(f"\n{table['table']}{' [' + where + ']' if where else ''} "
                   f"(paper lines {table['paper_lines']['table'][0]}-"
                   f"{table['paper_lines']['table'][1]}); paper | ours, cell by cell:")
        if name not in dict(PROTOCOL_TABLES.get(protocol, [])):
            out.append(f"note: our runs use protocol {protocol}, not this table's dataset")
        out.append(reporting.format_paper_table(table, {"ours": cells}, blocks=blocks))
        for row, backbone in sources.items():
            out.append(f"ours {row} = our {backbone} run with that fusion")
    gains = gains_over_rgb(rows, runner.COLUMNS)
    out.append("")
    out += _gain_lines(gains, targets, protocol)
    tests = runner.mcnemar_against_rgb(results, test_set)
    if tests:
        out.append(f"\nExact McNemar test against RGB (test set '{test_set}'; b = RGB right & "
                   "fusion wrong, c = RGB wrong & fusion right, two-sided p = "
                   "binomtest(b, b + c, 0.5)):")
    for t in tests:
        head = f"  {t['backbone']} {runner.COLUMN_LABELS.get(t['column'], t['column'])}: "
        if "skipped" in t:
            out.append(head + "not tested: " + t["skipped"])
        else:
            out.append(head + f"b = {t['b']}, c = {t['c']}, n = {t['n']}, p = {t['p']:.4g} "
                       f"(RGB: {t['rgb_source']})")
    if targets:
        out.append(f"\nPaper: {targets[0][1]['citation']}")
    record = {"rows": {r["backbone"]: {c: r.get(c) for c in columns} for r in rows},
              "protocol": protocol, "test_set": test_set, "paper_cells": record_cells,
              "gain_over_rgb": {c: g for c, (g, _) in gains.items()}, "mcnemar": tests,
              "runs": results}
    return "\n".join(out), record


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
    protocols = sorted({r.get("protocol") for r in results})
    if len(protocols) > 1:
        raise app.UsageError(f"--model_dirs mix protocols {protocols}; tabulate one dataset at "
                             "a time")
    try:
        text, record = report(results, FLAGS.test_set, FLAGS.paper_table, FLAGS.paper_block)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    print(text)
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
