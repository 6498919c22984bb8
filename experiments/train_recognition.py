r"""Trains a TS-GAN face-recognition model (paper section 4.2): one backbone, one input column.

Resumes automatically from the newest checkpoints in --model_dir; writes TensorBoard scalars,
samples/inputs.png (RGB | D | D~) and results.json (rank-1 accuracy per fold and test set).

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

from absl import app, flags, logging

from data_pipelines.recognition_protocols import PROTOCOLS
from depthlab import training
from depthlab.nets.recognition_backbones import BACKBONES
from depthlab.recognition.models import FUSIONS, INPUTS

FLAGS = flags.FLAGS
flags.DEFINE_enum("backbone", "resnet50", list(BACKBONES),
                  "vgg16 / resnet50 (keras.applications), se_resnet50, inception (BN-Inception).")
flags.DEFINE_enum("inputs", "rgb", list(INPUTS),
                  "rgb | depth | depth_hallucinated (one stream) or rgbd | rgbd_hallucinated "
                  "(RGB + ground-truth D, or RGB + D~ from --generator).")
flags.DEFINE_enum("fusion", "feature", list(FUSIONS),
                  "Two-stream fusion: 'feature' (concatenated embeddings -> classifier), "
                  "'score' (weighted average of two separately trained classifiers' softmax), "
                  "'feature_frozen' (train the RGB and the depth classifier separately, then a "
                  "classifier on their concatenated, L2-normalised, frozen embeddings), "
                  "'two_level_attention' (LSTM feature-map + spatial attention over the "
                  "concatenated feature maps, Uppal et al. 2021a) or 'depth_guided_attention' "
                  "(a depth-derived attention map weights the RGB feature maps, Uppal et al. "
                  "2021b).")
flags.DEFINE_enum("protocol", "synthetic_faces", list(PROTOCOLS),
                  "Dataset protocol: synthetic_faces (embedded), iiitd_rgbd (5 folds), "
                  "eurecom_kinectfacedb (50/50 + pose/occlusion), lfw_faces (62 subjects).")
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, TensorBoard, results).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir of the real datasets (manual downloads in "
                    "<data_dir>/manual/<dataset>/).")
flags.DEFINE_string("manual_dir", None, "Manual-download folder (default: <data_dir>/manual/...).")
flags.DEFINE_integer("fold", None, "IIIT-D: train one fold (1-5) only; default all five.",
                     lower_bound=1, upper_bound=5)
flags.DEFINE_string("protocol_file", None, "CSV 'relpath,set' (set: train, test or a test-set "
                    "name) overriding the protocol's split.")
flags.DEFINE_string("generator", None, "TS-GAN generator SavedModel (for *_hallucinated).")
flags.DEFINE_string("backbone_weights", None, "Local weights file for the backbone trunk "
                    "(e.g. Keras' ImageNet *_notop.h5); default: train from scratch.")
flags.DEFINE_integer("image_size", 128, "Input side in pixels (>= 32).", lower_bound=32)
flags.DEFINE_float("width", 1.0, "Channel multiplier of se_resnet50 / inception (1 = paper).",
                   lower_bound=0.01)
flags.DEFINE_integer("embedding_dim", 512, "Embedding size per stream.", lower_bound=1)
flags.DEFINE_float("dropout", 0.0, "Dropout before the classifier.", lower_bound=0.0,
                   upper_bound=0.95)
flags.DEFINE_integer("epochs", 30, "Epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0)
flags.DEFINE_float("fusion_learning_rate", 1e-2, "--fusion=feature_frozen: Adam learning rate of "
                   "the classifier trained on the frozen streams' embeddings (a linear layer on "
                   "fixed features; 10x --learning_rate by default).", lower_bound=0.0)
flags.DEFINE_float("score_weight", 0.5, "Score fusion: weight of the RGB classifier's softmax "
                   "(depth gets 1 - w); replaced by the validated weight when "
                   "--score_validation_per_identity > 0.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_enum("score_rule", "mean", ["mean", "product"], "Score fusion rule: 'mean' = "
                  "w * p_rgb + (1 - w) * p_depth (the paper's average at w = 0.5); 'product' = "
                  "the normalised weighted geometric mean p_rgb**w * p_depth**(1 - w).")
flags.DEFINE_integer("score_validation_per_identity", 0, "Score fusion: > 0 chooses "
                     "--score_weight on held-out images (stacking): the two members are trained "
                     "again without the last N training images of each identity, and the grid "
                     "weight (0, 0.05, ..., 1) with the best rank-1 on those images is used. "
                     "0 = use --score_weight.", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of data order, augmentation, splits and init.")
flags.DEFINE_enum("mixed_precision", "float32", list(training.PRECISION_POLICIES),
                  "Keras dtype policy.")
flags.DEFINE_integer("synthetic_identities", 50, "synthetic_faces: identities.", lower_bound=2)
flags.DEFINE_integer("synthetic_images_per_identity", 40, "synthetic_faces: images per identity.",
                     lower_bound=2)
flags.DEFINE_enum("synthetic_domain", "target", ["source", "target"],
                  "synthetic_faces domain: 'target' (wide pose, varied light) or 'source'.")
flags.DEFINE_integer("train_per_identity", None, "synthetic_faces: training images per "
                     "identity (default half); the rest test.", lower_bound=1)
flags.DEFINE_integer("log_every", 20, "Print progress every N steps.", lower_bound=1)
flags.DEFINE_bool("run_eagerly", False, "Run the train step eagerly (debugging; tiny models).")
training.define_strategy_flag()
training.define_collapse_guard_flag()
flags.DEFINE_bool("sync_batchnorm", True, "With --strategy=mirrored/multi_worker: BatchNorm "
                  "uses the statistics of the whole global batch (all-reduced, the same step as "
                  "one device); false: each replica's own share (less communication).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from depthlab import reporting
    from depthlab.runners import recognition as runner

    names = ("backbone", "inputs", "fusion", "protocol", "model_dir", "data_dir", "manual_dir",
             "fold", "protocol_file", "generator", "backbone_weights", "image_size", "width",
             "embedding_dim", "dropout", "epochs", "batch_size", "learning_rate",
             "fusion_learning_rate", "score_weight", "score_rule",
             "score_validation_per_identity", "seed", "mixed_precision",
             "synthetic_identities", "synthetic_images_per_identity", "synthetic_domain",
             "train_per_identity", "log_every", "run_eagerly", "strategy", "sync_batchnorm",
             "collapse_guard")
    try:
        opts = runner.RunOptions(**{n: getattr(FLAGS, n) for n in names})
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    result = runner.train(opts)
    rows = [dict({"fold": fold}, **{t: 100.0 * v["rank1"] for t, v in r.items()})
            for fold, r in result["folds"].items()]
    if len(rows) > 1:
        rows.append(dict({"fold": "mean"}, **{t: 100.0 * v for t, v in result["mean"].items()}))
    print(f"\nRank-1 accuracy (%), {runner.COLUMN_LABELS[opts.column]}, {opts.backbone}"
          f"{' (from scratch)' if result['from_scratch'] else ''}:")
    print(reporting.markdown_table(rows, digits=2))
    for fold, selection in result.get("score_validation", {}).items():
        print(f"{fold}: score weight {selection['weight']:.2f} on RGB, chosen on "
              f"{selection['num_images']} held-out training images ({opts.score_rule} rule)")
    from depthlab import collapse

    print(collapse.status_line(result))
    print(f"results: {opts.model_dir}/results.json")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
