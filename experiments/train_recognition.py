r"""Trains a TS-GAN face-recognition model (paper section 4.2): one backbone, one input column.

Resumes automatically from the newest checkpoint in --model_dir; writes TensorBoard scalars,
samples/inputs.png (RGB | D | D~) and results.json (rank-1 accuracy per fold and test set).
The flags are made from ``depthlab.runners.recognition_options.RecognitionOptions``; the run
lifecycle is ``depthlab.core`` (experiment 'recognition').

  # embedded synthetic identities; D~ from a TS-GAN SavedModel (experiments.export_savedmodel)
  python -m experiments.train_recognition --backbone=resnet50 --inputs=rgbd_hallucinated \
      --fusion=score --generator=runs/tsgan_demo/saved_model --model_dir=runs/rec_rgbdh_score
  # IIIT-D, its 5 predefined folds (mean reported), ImageNet weights from a local file
  python -m experiments.train_recognition --protocol=iiitd_rgbd --data_dir=~/tfds \
      --backbone=vgg16 --backbone_weights=vgg16_notop.h5 --inputs=rgbd --model_dir=runs/iiitd
  # all local GPUs; --batch_size is global, BatchNorm statistics over the global batch
  python -m experiments.train_recognition --strategy=mirrored --batch_size=64 --inputs=rgbd \
      --fusion=score --model_dir=runs/rec_rgbd_score
"""

from absl import app, flags

from depthlab.core import cli
from depthlab.runners.recognition_options import COLUMN_LABELS, RecognitionOptions

FLAGS = flags.FLAGS
cli.define_trainer_flags(RecognitionOptions)


def _print_results(result: dict) -> None:
    """The rank-1 table per fold (and their mean), the validated score weights, results.json."""
    from depthlab import reporting

    opts, final = result["run"].opts, result["final"]
    rows = [dict({"fold": fold}, **{t: 100.0 * v["rank1"] for t, v in r.items()})
            for fold, r in final["folds"].items()]
    if len(rows) > 1:
        rows.append(dict({"fold": "mean"}, **{t: 100.0 * v for t, v in final["mean"].items()}))
    print(f"\nRank-1 accuracy (%), {COLUMN_LABELS[opts.column]}, {opts.backbone}"
          f"{' (from scratch)' if final['from_scratch'] else ''}:")
    print(reporting.markdown_table(rows, digits=2))
    for fold, selection in final.get("score_validation", {}).items():
        print(f"{fold}: score weight {selection['weight']:.2f} on RGB, chosen on "
              f"{selection['num_images']} held-out training images ({opts.score_rule} rule)")
    print(f"results: {opts.model_dir}/results.json")


def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    cli.train_main("recognition", RecognitionOptions, argv, after=_print_results)


if __name__ == "__main__":
    app.run(main)
