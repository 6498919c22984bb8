r"""TS-GAN Table 5: recognition with D~ from the teacher-only, A2B-only and full generators.

Trains (or resumes) one train_recognition run per generator SavedModel, with the same
backbone, fusion and protocol, in <runs_dir>/<generator name> (each one --model_dir of
eval_recognition), and prints rank-1 accuracy per generator.

  python -m experiments.ablation_table --runs_dir=runs/ablation \
      --generators=teacher_only=runs/tsgan_teacher/saved_model,a2b_only=runs/tsgan_a2b/saved_model,full=runs/tsgan/saved_model \
      --backbone=resnet50 --inputs=rgbd_hallucinated --fusion=feature

Generators come from experiments.train_tsgan --ablation=teacher_only|a2b_only|none
--export_dir=... (or experiments.export_savedmodel).
"""

import os

from absl import app, flags, logging

from data_pipelines.recognition_protocol_names import PROTOCOLS
from depthlab.runners.recognition_options import BACKBONES, FUSIONS
from experiments import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_dir", None, "Parent directory of the runs: one train_recognition run "
                    "directory <runs_dir>/<name> per generator.")
cli_flags.define_deprecated("model_dir", "runs_dir")
flags.DEFINE_list("generators", [], "name=SavedModel dir pairs (names: teacher_only, a2b_only, "
                  "full, or any).")
flags.DEFINE_enum("backbone", "resnet50", list(BACKBONES), "Backbone.")
flags.DEFINE_enum("inputs", "rgbd_hallucinated", ["rgbd_hallucinated", "depth_hallucinated"],
                  "RGB + D~ (fused) or D~ alone.")
flags.DEFINE_enum("fusion", "feature", list(FUSIONS), "Fusion of RGB and D~.")
flags.DEFINE_enum("protocol", "synthetic_faces", list(PROTOCOLS), "Dataset protocol.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (a directory) of real datasets.")
flags.DEFINE_integer("image_size", 128, "Input side.", lower_bound=32)
flags.DEFINE_float("width", 1.0, "Channel multiplier (se_resnet50, inception).", lower_bound=0.01)
flags.DEFINE_integer("embedding_dim", 512, "Embedding size.", lower_bound=1)
flags.DEFINE_integer("epochs", 30, "Epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (> 0).")
cli_flags.require_above("learning_rate", 0.0)
flags.DEFINE_integer("seed", 0, "Seed.", lower_bound=0)
flags.DEFINE_integer("synthetic_identities", 50, "synthetic_faces identities.", lower_bound=2)
flags.DEFINE_integer("synthetic_images_per_identity", 40, "synthetic_faces images per identity.",
                     lower_bound=2)
flags.DEFINE_enum("synthetic_domain", "target", ["source", "target"],
                  "synthetic_faces domain: 'target' (wide pose, varied light) or 'source'.")
flags.DEFINE_float("dropout", 0.0, "Dropout before the classifier.", lower_bound=0.0,
                   upper_bound=0.95)
flags.DEFINE_integer("log_every", 20, "Print progress every N steps.", lower_bound=1)
flags.DEFINE_bool("run_eagerly", False, "Run the train step eagerly (debugging; tiny models).")
flags.DEFINE_string("output_json", None, "Write the table here.")
def _parse(pairs):
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise app.UsageError(f"--generators: expected name=path, got {pair!r}")
        if name in out:
            raise app.UsageError(f"--generators: {name!r} given twice")
        out[name] = path
    if not out:
        raise app.UsageError("--generators is required (name=SavedModel dir, ...)")
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cli_flags.apply_deprecated("model_dir", "runs_dir")
    if not FLAGS.runs_dir:
        raise app.UsageError("--runs_dir is required (one run directory per generator is made "
                             "under it)")
    cli_flags.check_data_dir(FLAGS.data_dir)
    logging.set_verbosity(logging.WARNING)
    from depthlab import recognition_tables, reporting, training
    from depthlab.runners import recognition as runner

    generators = _parse(FLAGS.generators)
    for name, path in generators.items():      # every SavedModel checked before any training
        try:
            runner.load_depth_generator(path)
        except (ValueError, FileNotFoundError) as e:
            raise app.UsageError(f"--generators {name}: {e}") from None
    row = {"backbone": FLAGS.backbone}
    for name, path in generators.items():
        opts = runner.RunOptions(
            model_dir=os.path.join(FLAGS.runs_dir, name), backbone=FLAGS.backbone,
            inputs=FLAGS.inputs, fusion=FLAGS.fusion, protocol=FLAGS.protocol,
            data_dir=FLAGS.data_dir, generator=path, image_size=FLAGS.image_size,
            width=FLAGS.width, embedding_dim=FLAGS.embedding_dim, epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
            synthetic_identities=FLAGS.synthetic_identities,
            synthetic_images_per_identity=FLAGS.synthetic_images_per_identity,
            synthetic_domain=FLAGS.synthetic_domain, dropout=FLAGS.dropout,
            log_every=FLAGS.log_every, run_eagerly=FLAGS.run_eagerly)
        row[name] = 100.0 * runner.train(opts)["mean"]["test"]
    print(f"\nrank-1 (%), {FLAGS.inputs}"
          f"{' ' + FLAGS.fusion if FLAGS.inputs.startswith('rgbd') else ''}, {FLAGS.protocol}")
    print(reporting.markdown_table([row], ["backbone", *generators], digits=2))
    text, cells = recognition_tables.table5_layout(row, FLAGS.protocol)
    print(text)
    if FLAGS.output_json:
        training.write_json(FLAGS.output_json, {"rows": {FLAGS.backbone: row},
                                                "protocol": FLAGS.protocol,
                                                "paper_cells": {"tsgan_table5": cells}})


if __name__ == "__main__":
    app.run(main)
