r"""Trains a face depth enhancer (DL-Alpha/Beta/Gamma/Delta; Schlett, Rathgeb, Busch).

The paper's schedule (section IV-C, l. 970-1006) is the default: DL-Alpha's two
pre-training stages (70,000 plain pairs, 60,000 with the blurred hole background) before the
240,000 pairs with randomised hole values; Beta/Gamma only the 240,000; DL-Delta 60,000
ground truths in three interleaved variants. Each stage runs in chunks (--chunk_size ground
truths, default 30,000 images per chunk) of --epochs_per_chunk epochs, and the model is kept
only when the loss improves (best.weights.h5). --repeat=k trains Delta-k from Delta-(k-1)'s
best weights (--init_from) on the same data (--repeat_data). Smaller runs set the sizes, e.g.
--ground_truths=600 --chunk_size=300 --pretrain_ground_truths=175,150. The flags are made from
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
from depthlab.runners.enhancer_options import EnhancerOptions, repeat_seed

FLAGS = flags.FLAGS
cli.define_trainer_flags(EnhancerOptions)


def main(argv):
    # Delta-k (k = --repeat) trains on Delta-1's data (the paper, l. 1072-1074), or with
    # --repeat_data=fresh with its own seed, recorded as the run's seed
    cli.train_main("enhancer", EnhancerOptions, argv,
                   seed=repeat_seed(FLAGS.seed, FLAGS.repeat, FLAGS.repeat_data))


if __name__ == "__main__":
    app.run(main)
