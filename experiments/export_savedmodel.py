r"""Exports a trained depth network as a SavedModel or a LiteRT (TFLite) model.

  python -m experiments.export_savedmodel --model_dir=runs/tsgan_demo \
      --export_dir=runs/tsgan_demo/saved_model
  python -m experiments.export_savedmodel --model_dir=runs/tsgan_demo --format=litert \
      --export_dir=runs/tsgan_demo/litert
  python -m experiments.export_savedmodel --model_kind=enhancer --model_dir=runs/delta1 \
      --export_dir=runs/delta1/saved_model [--format=litert]

Signatures (depthlab/export.py):
- tsgan, savedmodel: uint8 RGB (N, H, W, 3), any N/H/W -> {'depth': float32 [0, 1]
  (N, S, S, 1), 'depth_uint16': uint16 (N, S, S, 1)}, S = the generator's resolution.
- tsgan, litert: <export_dir>/model.tflite, 'rgb' uint8 (1, S, S, 3) -> 'depth' float32 [0, 1].
- enhancer, savedmodel: uint16 paper codes (N, 256, 256, 1), 65535 = hole ->
  {'depth': float32 [0, 1], 'depth_uint16': uint16}.
- enhancer, litert: 'depth' float32 (1, 256, 256, 1) = codes / 65535 -> 'depth' float32 [0, 1].
"""

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A train_tsgan or train_enhancer --model_dir.")
flags.DEFINE_string("export_dir", None, "Empty or new directory for the exported model.")
flags.DEFINE_enum("model_kind", "tsgan", ["tsgan", "enhancer"],
                  "tsgan: TS-GAN's G_A2B (RGB -> depth); enhancer: a DL-Alpha..Delta face-depth "
                  "enhancer (train_enhancer run).")
flags.DEFINE_enum("format", "savedmodel", ["savedmodel", "litert"],
                  "savedmodel (TF serving, any batch) or litert (TFLite flatbuffer, batch 1, "
                  "builtin ops only).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import export

    if FLAGS.model_kind == "tsgan":
        from depthlab.runners import tsgan as runner

        model, _ = runner.load_trained(FLAGS.model_dir)
        size = model.config.image_size
        if FLAGS.format == "litert":
            path = export.export_depth_generator_litert(model.g_a2b, FLAGS.export_dir, size)
        else:
            path = export.export_depth_generator(model.g_a2b, FLAGS.export_dir, size)
    else:
        from depthlab.runners.enhancer import load_enhancer

        model = load_enhancer(FLAGS.model_dir)
        if FLAGS.format == "litert":
            path = export.export_enhancer_litert(model, FLAGS.export_dir)
        else:
            path = export.export_enhancer(model, FLAGS.export_dir)
    print(f"exported {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir", "export_dir"])
    app.run(main)
