r"""Evaluates the face depth enhancers: one table per paper table (IV-VII), JSON and a figure.

  python -m experiments.eval_enhancers --models=DL-Delta-1=runs/delta1 \
      --output_json=runs/enh_eval.json --figure=runs/enh_eval.png
  python -m experiments.compare_paper --table=face_enhancement_table4 --run_json=runs/enh_eval.json

Always includes "None" and the seven RealSense SDK baselines (Table II); add DL enhancers
with --models=name=model_dir,... (trained by experiments.train_enhancer).
"""

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("models", [], "DL enhancers as name=model_dir pairs.")
flags.DEFINE_integer("test_faces", 100, "Synthetic test faces (unseen identities; paper: 10,000 "
                     "and 100,000 give the same ranking).", lower_bound=1)
flags.DEFINE_integer("seed", 12345, "Seed of the test faces and degradations.")
flags.DEFINE_list("tables", ["IV", "V", "VI", "VII"], "Tables to print.")
flags.DEFINE_string("output_json", None, "Write all figures here as JSON.")
flags.DEFINE_string("figure", None, "Write a PNG like the paper's Figs. 13-14 here.")
flags.register_validator("tables", lambda v: set(v) <= {"IV", "V", "VI", "VII"},
                         message="--tables takes IV, V, VI, VII")
flags.register_validator("models", lambda v: all(s.count("=") == 1 for s in v),
                         message="--models takes name=model_dir pairs")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from depthlab import reporting
    from depthlab.runners import enhancer, enhancer_eval as ev

    enhancers = ev.handcrafted_enhancers()
    for spec in FLAGS.models:
        name, path = spec.split("=")
        enhancers[name] = ev.dl_enhancer(enhancer.load_enhancer(path))
    gt, degraded, near = ev.make_test_set(FLAGS.test_faces, FLAGS.seed)
    result = ev.evaluate(enhancers, gt, degraded, near, seed=FLAGS.seed)
    for table in FLAGS.tables:
        title, _ = ev.TABLES[table]
        print(f"\n{title}  (n = {FLAGS.test_faces} synthetic test faces)")
        print(reporting.markdown_table(ev.table_rows(result["results"], table)))
    if FLAGS.output_json:
        ev.write_json(FLAGS.output_json, result, test_faces=FLAGS.test_faces, seed=FLAGS.seed,
                      models=FLAGS.models)
        print(f"\nwrote {FLAGS.output_json}")
    if FLAGS.figure:
        print(f"wrote {ev.save_figure(FLAGS.figure, result)}")


if __name__ == "__main__":
    app.run(main)
