r"""Trains a face depth enhancer (DL-Alpha/Beta/Gamma/Delta; Schlett, Rathgeb, Busch).

The paper's schedule as flags: chunks of --chunk_size ground truths, --epochs_per_chunk
epochs each, the model kept only when the loss improves (best.weights.h5). DL-Delta trains
on three interleaved degradation variants per ground truth; --repeat=k trains Delta-k from
Delta-(k-1)'s best weights (--init_from). The flags are made from
``depthlab.runners.enhancer_options.EnhancerOptions``; the run lifecycle is ``depthlab.core``.

  python -m experiments.train_enhancer --variant=delta --model_dir=runs/delta1
  python -m experiments.train_enhancer --variant=delta --model_dir=runs/delta2 \
      --repeat=2 --init_from=runs/delta1
  # all local GPUs (the batch is global, split across them)
  python -m experiments.train_enhancer --variant=delta --strategy=mirrored --batch_size=32 \
      --model_dir=runs/delta1
"""

from absl import app, flags

from depthlab.core import cli
from depthlab.runners.enhancer_options import REPEAT_SEED_STRIDE, EnhancerOptions

FLAGS = flags.FLAGS
cli.define_trainer_flags(EnhancerOptions)


def main(argv):
    # Delta-k (k = --repeat) trains with its own seed, recorded as the run's seed
    cli.train_main("enhancer", EnhancerOptions, argv,
                   seed=FLAGS.seed + REPEAT_SEED_STRIDE * (FLAGS.repeat - 1))


if __name__ == "__main__":
    app.run(main)
