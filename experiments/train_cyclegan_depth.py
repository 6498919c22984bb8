r"""Trains the unpaired image -> depth CycleGAN of Suarez, Carpio and Sappa (or a baseline row).

``--variant`` picks one of the seven rows of the paper's Table 1 from one code path:
``cyclegan`` (LSGAN + cycle + identity), ``cut`` (PatchNCE, no cycle), ``fastcut``
(lambda_NCE 10, no identity NCE), ``dclgan`` and ``simdcl`` (dual PatchNCE, + similarity
loss), ``hnegsrc`` (hDCE with the gamma curriculum over the run + SRC) and ``suarez`` (eq. 6).
``--preset=paper`` (the default) is the text's setting: 256x256 networks, 400 epochs of batch
1 (line 97) at a constant learning rate (no schedule is stated; ``--lr_decay_epochs`` adds
CycleGAN/CUT's linear decay); ``--preset=demo`` is a CPU size and length. Each lambda of eq. 6
is a flag; unset, it takes the variant's default (BUILD_NOTES.md, "CycleGAN depth
synthesis"); ``--identity_pairing`` picks eq. 2's pairs; the model config's other fields are
``--config_override key=value``. Resumes automatically from the newest checkpoint in
--model_dir; writes TensorBoard scalars and image grids, PNG grids under samples/, and metrics
JSON files. The flags are made from
``depthlab.runners.cyclegan_depth_options.CycleGANDepthOptions``; the run lifecycle is
``depthlab.core``.

  python -m experiments.train_cyclegan_depth --variant=suarez --preset=demo \
      --model_dir=runs/cgd_demo --epochs=10 --steps_per_epoch=200 --seed=0
  python -m experiments.train_cyclegan_depth --variant=hnegsrc --dataset=nyu_depth_v2 \
      --data_dir=~/data/nyu --model_dir=runs/hnegsrc_nyu        # the paper's 400 epochs
"""

import os

from absl import app

from depthlab.core import cli
from depthlab.runners.cyclegan_depth_options import CycleGANDepthOptions

cli.define_trainer_flags(CycleGANDepthOptions)


def report(result):
    """The held-out table (step 0, the mean baselines, trained), the grid, the SavedModel."""
    run = result["run"]
    if not run.chief:
        return                              # a non-chief worker: the chief reports
    from depthlab import reporting, training
    from depthlab.runners import cyclegan_depth as runner

    step0 = training.read_json(os.path.join(run.model_dir, "metrics_step0.json"))
    variant = result["config"].variant
    rows = {"predict constant mean": {"psnr": step0["psnr_constant_mean"],
                                      "ssim": step0["ssim_constant_mean"]},
            "predict mean image": {"psnr": step0["psnr_mean_image"],
                                   "ssim": step0["ssim_mean_image"]},
            f"{variant}, untrained": step0,
            f"{variant}, trained": result["final"]}
    print("\nHeld-out depth (8-bit images, data range 255, mean over images):")
    print(reporting.metrics_table(rows, runner.EVAL_KEYS))
    cli.print_artefacts(run, "image / ground truth / G1",
                        "serving_default: uint8 RGB -> depth [0,1] and uint16")


def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    cli.train_main("cyclegan_depth", CycleGANDepthOptions, argv, after=report)


if __name__ == "__main__":
    app.run(main)
