r"""Exports a trained run's network as a SavedModel or a LiteRT (TFLite) model.

  python -m experiments.export_savedmodel --model_dir=runs/tsgan_demo \
      --export_dir=runs/tsgan_demo/saved_model
  python -m experiments.export_savedmodel --model_dir=runs/tsgan_demo --format=litert \
      --export_dir=runs/tsgan_demo/litert
  python -m experiments.export_savedmodel --model_dir=runs/delta1 \
      --export_dir=runs/delta1/saved_model [--format=litert]
  python -m experiments.export_savedmodel --model_dir=runs/s2d_n200_refined --export_dir=runs/s2d_export

--model_kind=auto (default) reads <model_dir>/config.json to tell which trainer wrote the run
(depthlab/runners/exporters.py); name the kind to skip that. Kinds and their signatures:
- tsgan (train_tsgan, every --method), savedmodel: uint8 RGB (N, H, W, 3), any N/H/W ->
  {'depth': float32 [0, 1] (N, S, S, 1), 'depth_uint16': uint16 (N, S, S, 1)}, S = the
  generator's resolution; litert: <export_dir>/model.tflite, 'rgb' uint8 (1, S, S, 3) ->
  'depth' float32 [0, 1].
- cyclegan_depth (train_cyclegan_depth, G1): the same signatures as tsgan (gray conversion
  inside for a gray-input run).
- enhancer (train_enhancer), savedmodel: uint16 paper codes (N, 256, 256, 1), 65535 = hole ->
  {'depth': float32 [0, 1], 'depth_uint16': uint16}; litert: 'depth' float32 (1, 256, 256, 1)
  = codes / 65535 -> 'depth' float32 [0, 1].
- two_stage (train_two_stage, stage 1 or 2), savedmodel only: uint8 RGB (N, H, W, 3) and
  float32 sparse depth in metres (N, H, W, 1), 0 = no sample -> {'depth', 'coarse_depth'}.
- dsr (train_dsr_distill, DSRNet), savedmodel only: float32 LR depth in metres -> HR depth
  ('serving_default'), and uint16 millimetres in and out ('serve_uint16').
- recognition (train_recognition), savedmodel only: one signature per fold ('serving_default'
  the first): uint8 RGB (N, S, S, 3) and/or float32 depth [0, 1] (N, S, S, 1), as the run's
  --inputs take -> {'scores', 'logits', 'embedding'} float32 (the final predictor's; score
  fusion has scores only); depthlab/runners/recognition/serving.py.
"""

from absl import app, flags, logging

from depthlab.runners.exporters import FORMATS, KINDS

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "One training run directory (any trainer; see "
                    "--model_kind).")
flags.DEFINE_string("export_dir", None, "Empty or new directory for the exported model.")
flags.DEFINE_enum("model_kind", "auto", ["auto", *KINDS],
                  "auto: read <model_dir>/config.json; " + "; ".join(
                      f"{k}: {what} ({trainer})" for k, (trainer, what, _) in KINDS.items()))
flags.DEFINE_enum("format", "savedmodel", list(FORMATS),
                  "savedmodel (TF serving, any batch) or litert (TFLite flatbuffer, batch 1, "
                  "builtin ops only; tsgan, cyclegan_depth and enhancer).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab.runners import exporters

    try:
        kind = (exporters.detect_kind(FLAGS.model_dir) if FLAGS.model_kind == "auto"
                else FLAGS.model_kind)
        if FLAGS.model_kind == "auto":
            print(f"--model_kind=auto: {FLAGS.model_dir} -> {kind}")
        path = exporters.export_run(FLAGS.model_dir, FLAGS.export_dir, kind, FLAGS.format)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        raise app.UsageError(str(e)) from None
    print(f"exported {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir", "export_dir"])
    app.run(main)
