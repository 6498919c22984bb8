r"""Trains a face depth enhancer (DL-Alpha/Beta/Gamma/Delta; Schlett, Rathgeb, Busch).

The paper's schedule as flags: chunks of --chunk_size ground truths, --epochs_per_chunk
epochs each, the model kept only when the loss improves (best.weights.h5). DL-Delta trains
on three interleaved degradation variants per ground truth; --repeat=k trains Delta-k from
Delta-(k-1)'s best weights (--init_from).

  python -m experiments.train_enhancer --variant=delta --model_dir=runs/delta1
  python -m experiments.train_enhancer --variant=delta --model_dir=runs/delta2 \
      --repeat=2 --init_from=runs/delta1
  # all local GPUs (the batch is global, split across them)
  python -m experiments.train_enhancer --variant=delta --strategy=mirrored --batch_size=32 \
      --model_dir=runs/delta1
"""

from absl import app, flags

from depthlab import training

FLAGS = flags.FLAGS
flags.DEFINE_enum("variant", "delta", ["alpha", "beta", "gamma", "delta"], "Enhancer (Table III).")
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, best weights, TensorBoard).")
flags.DEFINE_integer("ground_truths", 600, "Synthetic ground-truth faces (paper: 240,000; "
                     "Delta: 60,000).", lower_bound=1)
flags.DEFINE_integer("chunk_size", 200, "Ground truths per chunk (paper: 30,000 pairs; Delta "
                     "10,000 ground truths x 3 variants).", lower_bound=1)
flags.DEFINE_integer("epochs_per_chunk", 10, "Epochs per chunk (paper: 10).", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).", lower_bound=1)
flags.DEFINE_integer("batch_size", 8, "Batch size (the paper does not say).", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the first chunk.", lower_bound=0)
flags.DEFINE_float("lr_decay_per_chunk", 0.5, "LR factor per chunk.", lower_bound=0)
flags.DEFINE_enum("loss", "face_mse", ["face_mse", "face_l1", "mse", "l1"], "Training loss "
                  "(the paper does not say): face_* average over the ground truth's non-hole "
                  "pixels (Table IV's pixel set), mse/l1 over all pixels.")
flags.DEFINE_enum("helper", None, ["none", "random", "blurred"], "DL helper degradation for "
                  "alpha/beta/gamma (default 'random', the paper's 240,000 pairs); delta mixes all.")
flags.DEFINE_integer("repeat", 1, "Delta-k retraining index (k > 1 needs --init_from).",
                     lower_bound=1, upper_bound=4)
flags.DEFINE_string("init_from", None, "model_dir of the previous model to start from.")
flags.DEFINE_enum("mixed_precision", "float32", list(training.PRECISION_POLICIES), "Dtype policy.")
flags.DEFINE_enum("output_bias_init", "face_mean", ["face_mean", "zeros"], "Start of the sigmoid "
                  "head's bias: logit of the mean face target (default; issue 21: with 'zeros', "
                  "Keras' default, some seeds collapse to a saturated constant output).")
flags.DEFINE_integer("seed", 0, "Seed of faces, degradations and data order.")
training.define_strategy_flag()
training.define_collapse_guard_flag()
flags.register_validator("init_from", lambda v: v is None or FLAGS.repeat > 1,
                         message="--init_from needs --repeat > 1")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.repeat > 1 and not FLAGS.init_from:
        raise app.UsageError("--repeat > 1 needs --init_from=<model_dir of the previous model>")
    from depthlab.runners import enhancer

    opts = enhancer.EnhancerRunOptions(
        model_dir=FLAGS.model_dir, variant=FLAGS.variant, ground_truths=FLAGS.ground_truths,
        chunk_size=FLAGS.chunk_size, epochs_per_chunk=FLAGS.epochs_per_chunk,
        batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
        lr_decay_per_chunk=FLAGS.lr_decay_per_chunk, loss=FLAGS.loss, helper=FLAGS.helper,
        init_from=FLAGS.init_from, seed=FLAGS.seed + 7919 * (FLAGS.repeat - 1),
        mixed_precision=FLAGS.mixed_precision, steps_per_epoch=FLAGS.steps_per_epoch,
        strategy=FLAGS.strategy, collapse_guard=FLAGS.collapse_guard,
        output_bias_init=FLAGS.output_bias_init)
    summary = enhancer.train(opts)
    print(f"best training loss {summary['best_loss']:.6f}; weights: "
          f"{FLAGS.model_dir}/best.weights.h5")
    from depthlab import collapse

    print(collapse.status_line(summary))


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
