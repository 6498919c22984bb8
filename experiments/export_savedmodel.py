r"""Exports a trained TS-GAN generator (G_A2B) as a SavedModel.

  python -m experiments.export_savedmodel --model_dir=runs/tsgan_demo \
      --export_dir=runs/tsgan_demo/saved_model

serving_default: uint8 RGB (N, H, W, 3), any N/H/W -> {'depth': float32 [0, 1] (N, S, S, 1),
'depth_uint16': uint16 (N, S, S, 1)}, S = the generator's resolution.
"""

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A train_tsgan --model_dir.")
flags.DEFINE_string("export_dir", None, "Empty or new directory for the SavedModel.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab.export import export_depth_generator
    from depthlab.runners import tsgan as runner

    model, _ = runner.load_trained(FLAGS.model_dir)
    path = export_depth_generator(model.g_a2b, FLAGS.export_dir, model.config.image_size)
    print(f"exported {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir", "export_dir"])
    app.run(main)
