r"""Trains TS-GAN (Uppal et al., ICCV 2021) or one of its Table 1 baselines (--method=fcn|cgan|
cyclegan: FCN [4], cGAN [33], CycleGAN [24]) and, with --export_dir, exports the generator.

Runs through the one run lifecycle (depthlab/core/run.py; flags from
depthlab/runners/tsgan_options.py): resumes automatically from the newest checkpoint in
--model_dir when the run's options are the same (a changed field is refused by name; --epochs
may grow to train a finished run further). Writes TensorBoard scalars and sample grids, PNG
grids under samples/, and metrics JSON files. Model-config fields without a flag (learning
rates, lambdas, mask_pixel_loss, reproduce_flip_bug, ...) are set with the repeatable
--config_override=key=value.

  python -m experiments.train_tsgan --preset=demo --model_dir=runs/tsgan_demo \
      --export_dir=runs/tsgan_demo/saved_model
  python -m experiments.train_tsgan --preset=code --dataset=curtinfaces \
      --data_dir=~/tfds --target_dataset=lfw_faces --model_dir=runs/tsgan_curtin
  # paper Table 1 protocol (47 CurtinFaces subjects train, 5 test), one run per method:
  python -m experiments.train_tsgan --method=cgan --dataset=curtinfaces \
      --curtin_protocol=paper_47_5 --data_dir=~/tfds --model_dir=runs/t1_cgan
  # the student sees only IIIT-D fold 3's recognition training images (paper l. 595-599):
  python -m experiments.train_tsgan --dataset=curtinfaces --curtin_protocol=paper_47_5 \
      --target_dataset=iiitd_rgbd --target_fold=3 --data_dir=~/tfds --model_dir=runs/tsgan_f3
"""

from absl import app, logging

from depthlab.core import cli
from depthlab.runners.tsgan_options import TSGANOptions

cli.define_trainer_flags(TSGANOptions)


def _after(summary):
    """What the binary prints after the lifecycle's final table: the sample grid and the
    exported SavedModel's signature."""
    from depthlab.runners import tsgan as runner

    opts = summary["run"].opts
    grid = runner.latest_sample_grid(opts.model_dir)
    if grid:
        print(f"\nRGB / ground truth / predicted grid: {grid}")
    if opts.export_dir:
        print(f"SavedModel (serving_default: uint8 RGB -> depth [0,1] and uint16): "
              f"{opts.export_dir}")


def main(argv):
    logging.set_verbosity(logging.WARNING)
    cli.train_main("tsgan", TSGANOptions, argv, after=_after)


if __name__ == "__main__":
    app.run(main)
