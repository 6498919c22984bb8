r"""Trains cross-task distillation DSR (Sun et al., CVPR 2021): stage 1 (DSRNet and DENet
independently) for --stage1_epochs, then stage 2 (role exchange, SPNet) to --epochs. In
stage 2 the teacher of each epoch is the net with the lower mean error over the previous epoch
(Algorithm 1; --role_granularity=batch chooses on every batch instead).

Resumes from the newest checkpoint in --model_dir. Writes TensorBoard scalars (losses, the
role each net held at every step), PNG sample grids, roles.csv and metrics_final.json
(held-out RMSE of DSRNet beside bicubic and the stage-1 DSRNet), and with --export_dir a
SavedModel of DSRNet (LR depth in metres -> HR depth in metres).

  python -m experiments.train_dsr_distill --scale=4 --model_dir=runs/dsr_x4 \
      --epochs=20 --stage1_epochs=10 --steps_per_epoch=100 --seed=0
  python -m experiments.train_dsr_distill --dataset=nyu_depth_v2 --data_dir=/data/nyu \
      --preset=paper --scale=8 --model_dir=runs/dsr_nyu_x8 --epochs=200 --stage1_epochs=100

Options: depthlab/runners/dsr_options.py (one declaration per flag); the run lifecycle:
depthlab/core/run.py with the hooks of depthlab.runners.dsr_distill.DSRExperiment.
"""


from absl import app

from depthlab.core import cli
from depthlab.runners.dsr_options import DSROptions

cli.define_trainer_flags(DSROptions)


def _after(result):
    """What the binary prints after the lifecycle's final table: where the grids, the roles
    and the SavedModel are."""
    run = result["run"]
    if not run.chief:
        return                              # a non-chief worker: the chief reports
    print(f"roles per step: {run.path('roles.csv')}")
    cli.print_artefacts(run, "RGB / HR / bicubic / DSRNet / DENet",
                        "serving_default: LR depth metres -> HR depth metres; "
                        "serve_uint16: millimetres")


def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    cli.train_main("dsr_distill", DSROptions, argv, after=_after)


if __name__ == "__main__":
    app.run(main)
