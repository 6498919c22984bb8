r"""Trains the two-stage RGB + sparse depth model: --stage=1 (sparse-to-dense ResNet-50 +
UpProj) or --stage=2 (pix2pix U-ResNet refiner on a trained, frozen stage 1).

Resumes from the newest checkpoint in --model_dir. Writes TensorBoard scalars, PNG sample
grids (RGB | ground truth | sparse input | prediction), the network (.keras) and
metrics_final.json (held-out RMSE, REL, log10, delta_1..3 per image, averaged), and with
--export_dir a SavedModel of the whole pipeline (RGB uint8 + sparse depth metres -> depth
metres).

  python -m experiments.train_two_stage --stage=1 --num_samples=200 \
      --model_dir=runs/s2d_200 --epochs=10 --steps_per_epoch=15 --batch_size=8
  python -m experiments.train_two_stage --stage=2 --stage1_dir=runs/s2d_200 \
      --model_dir=runs/s2d_200_refined --epochs=5 --steps_per_epoch=50
  python -m experiments.train_two_stage --stage=1 --dataset=sparse_to_dense_h5 \
      --data_dir=/data/nyudepthv2 --preset=sparse_to_dense --num_samples=200 \
      --backbone_weights=/weights/resnet50_encoder.weights.h5 --model_dir=runs/nyu_200

The flags are the union of the two stages' options (depthlab/runners/two_stage_options.py);
a flag of the other stage set explicitly is an error. --epochs (20 / 200), --batch_size
(10 / 1) and --learning_rate (0.01 / 2e-4) default per stage.
"""

import dataclasses

from absl import app, flags, logging

from depthlab.core import cli
from depthlab.core import options as options_lib
from depthlab.runners.two_stage_options import STAGES, Stage1Options, Stage2Options

FLAGS = flags.FLAGS
#: fields both stages declare with different defaults: the flag's default is None (the
#: stage's own default applies)
PER_STAGE_DEFAULTS = ("epochs", "batch_size", "learning_rate")

flags.DEFINE_enum("stage", None, sorted(STAGES), "1: train stage 1; 2: train the pix2pix "
                  "refiner on the stage 1 in --stage1_dir.")
cli.define_trainer_flags(Stage1Options, defaults={k: None for k in PER_STAGE_DEFAULTS})
_STAGE1_FIELDS = {f.name for f in dataclasses.fields(Stage1Options)}
_STAGE2_FIELDS = {f.name for f in dataclasses.fields(Stage2Options)}
options_lib.define_flags(Stage2Options, skip=_STAGE1_FIELDS)     # the union: stage 2's own


def _print_grid(result):
    if not result["run"].chief:
        return                              # a non-chief worker: the chief reports
    from depthlab.runners import two_stage as runner

    grid = runner.latest_sample_grid(result["run"].model_dir)
    if grid:
        print(f"\nRGB / ground truth / sparse / prediction grid: {grid}")


def main(argv):
    logging.set_verbosity(logging.WARNING)
    name, options_cls = STAGES[FLAGS.stage]
    own = {f.name for f in dataclasses.fields(options_cls)}
    other = sorted(n for n in (_STAGE1_FIELDS | _STAGE2_FIELDS) - own if FLAGS[n].present)
    if other:
        raise app.UsageError(f"--stage={FLAGS.stage} does not take "
                             + ", ".join(f"--{n}" for n in other))
    fixed = {n: options_cls.__dataclass_fields__[n].default for n in PER_STAGE_DEFAULTS
             if FLAGS[n].value is None}
    cli.train_main(name, options_cls, argv, after=_print_grid, **fixed)


if __name__ == "__main__":
    flags.mark_flags_as_required(["stage", "model_dir"])
    app.run(main)
