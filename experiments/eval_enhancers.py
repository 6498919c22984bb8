r"""Evaluates the face depth enhancers: one table per paper table (IV-VII), JSON and a figure.

  python -m experiments.eval_enhancers --model_dirs=DL-Delta-1=runs/delta1 \
      --output_json=runs/enh_eval.json --figure=runs/enh_eval.png
  python -m experiments.compare_paper --table=face_enhancement_table4 --run_json=runs/enh_eval.json

Always includes "None" and the seven RealSense SDK baselines (Table II); add DL enhancers
(trained by experiments.train_enhancer) with --model_dir=dir or --model_dirs=label=dir,...
(an entry without a label is named DL-<Variant> from its config.json).

The SDK baselines are fed as the paper fed them (--filter_input=paper_codes, the default: the
face-window 16-bit codes with 65535 = hole, so the spatial filter's delta 20 is 20 codes); pass
--filter_input=millimetres for uint16 millimetres with 0 = hole (delta 20 = 20 mm).
"""

import os

from absl import app, flags

from experiments import cli_flags
from depthlab.runners.enhancer_options import HOLE_SHAPES

FLAGS = flags.FLAGS
#: --table values: the paper's numerals, or the paper-table files of experiments/paper_tables/
TABLE_NAMES = {"face_enhancement_table4": "IV", "face_enhancement_table5": "V",
               "face_enhancement_table6": "VI", "face_enhancement_table7": "VII"}
NUMERALS = ("IV", "V", "VI", "VII")

flags.DEFINE_string("model_dir", None, "One DL enhancer (a train_enhancer run directory).")
cli_flags.define_model_dirs("DL enhancers (train_enhancer run directories)",
                            " (default: DL-<Variant> from its config.json)")
cli_flags.define_deprecated("models", "model_dirs", kind="list")
flags.DEFINE_integer("test_faces", 100, "Synthetic test faces (unseen identities; paper: 10,000 "
                     "and 100,000 give the same ranking).", lower_bound=1)
flags.DEFINE_integer("seed", 12345, "Seed of the test faces and degradations.",
                     lower_bound=0)
flags.DEFINE_list("table", list(NUMERALS), "Paper tables to print (comma list): IV, V, VI, VII "
                  "or their files face_enhancement_table4..7.")
cli_flags.define_deprecated("tables", "table", kind="list")
flags.DEFINE_enum("filter_input", "paper_codes", ["paper_codes", "millimetres"],
                  "What the RealSense SDK baselines (Table II) are fed: paper_codes = the paper's "
                  "face-range-normalised 16-bit codes with 65535 = hole (lines 771-775, 801-805, "
                  "1465-1474; SDK delta 20 = 20 codes); millimetres = uint16 mm with 0 = hole "
                  "(delta 20 = 20 mm). DL rows do not depend on it.")
flags.DEFINE_enum("hole_shape", "polygon", list(HOLE_SHAPES),
                  "Hole shape of the test faces' degradation: 'polygon' (Fig. 5's random hole "
                  "vertices, the default since issue 18) or 'ellipse' (the earlier shape; the "
                  "documented runs before issue 18 used it). train_enhancer has the same flag.")
flags.DEFINE_enum("pad_subset", "dlib_holes", ["dlib_holes", "all"],
                  "Images of Table VII's PAD error: dlib_holes = those whose input has a hole at "
                  "one of the 68 landmarks (the Dlib landmark-hole subset; the text names no set "
                  "for the PAD error, lines 1282-1292), all = every test face.")
flags.DEFINE_string("output_json", None, "Write all figures here as JSON.")
flags.DEFINE_string("figure", None, "Write a PNG like the paper's Figs. 13-14 here.")
flags.register_validator("table", lambda v: all(t in NUMERALS or t in TABLE_NAMES for t in v),
                         message="--table takes IV, V, VI, VII (or face_enhancement_table4..7)")
def default_label(model_dir: str) -> str:
    """DL-<Variant> from ``model_dir``'s config.json (a usage error when there is none)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise app.UsageError(f"--model_dirs: {model_dir} is not a train_enhancer run (no "
                             "config.json); pass a directory or label=dir")
    from depthlab import training

    return f"DL-{str(training.read_json(path).get('variant', 'enhancer')).capitalize()}"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cli_flags.apply_deprecated("models", "model_dirs")
    cli_flags.apply_deprecated("tables", "table")
    if FLAGS.model_dir and FLAGS.model_dirs:
        raise app.UsageError("pass exactly one of --model_dir (one run) and --model_dirs")
    entries = [FLAGS.model_dir] if FLAGS.model_dir else FLAGS.model_dirs
    runs = cli_flags.parse_model_dirs(entries, default_label=default_label)
    for label, path in runs:
        if not os.path.exists(os.path.join(path, "config.json")):
            raise app.UsageError(f"--model_dirs: {label}={path} is not a train_enhancer run "
                                 "(no config.json)")
    tables = [TABLE_NAMES.get(t, t) for t in FLAGS.table]
    from depthlab import reporting
    from depthlab.runners import enhancer, enhancer_eval as ev

    enhancers = ev.handcrafted_enhancers(FLAGS.filter_input)
    for name, path in runs:
        if name in enhancers:
            raise app.UsageError(f"--model_dirs: label {name!r} is a baseline's name")
        enhancers[name] = ev.dl_enhancer(enhancer.load_enhancer(path))
    from data_pipelines import degradation as deg
    gt, degraded, near = ev.make_test_set(
        FLAGS.test_faces, FLAGS.seed,
        config=deg.DegradationConfig(helper="none", hole_shape=FLAGS.hole_shape))
    result = ev.evaluate(enhancers, gt, degraded, near, seed=FLAGS.seed,
                         pad_subset=FLAGS.pad_subset)
    print(f"SDK baselines fed: --filter_input={FLAGS.filter_input}; test holes: "
          f"--hole_shape={FLAGS.hole_shape}")
    for table in tables:
        title, _ = ev.TABLES[table]
        size = f"n = {FLAGS.test_faces} synthetic test faces"
        if table == "VII":
            size += "; selected: " + ", ".join(f"{k} {len(v)}"
                                               for k, v in result["subsets"].items())
        print(f"\n{title}  ({size})")
        print(reporting.markdown_table(ev.table_rows(result["results"], table)))
        beside = ev.beside_paper(table, ev.run_json(
            result, dataset=f"synthetic test faces (n = {FLAGS.test_faces})"))
        if beside:
            print(f"\nTable {table} in the paper's layout, ours beside:\n{beside}")
    if FLAGS.output_json:
        ev.write_json(FLAGS.output_json, result, test_faces=FLAGS.test_faces, seed=FLAGS.seed,
                      model_dirs=dict(runs), filter_input=FLAGS.filter_input,
                      hole_shape=FLAGS.hole_shape, pad_subset=FLAGS.pad_subset,
                      dataset=f"synthetic test faces (n = {FLAGS.test_faces})")
        print(f"\nwrote {FLAGS.output_json}")
    if FLAGS.figure:
        print(f"wrote {ev.save_figure(FLAGS.figure, result)}")


if __name__ == "__main__":
    app.run(main)
