"""TS-GAN face-recognition experiments (paper section 4.2, Tables 2-5) as library calls.

One run = one (backbone, inputs, fusion, protocol). Layout of a ``model_dir``::

  config.json                 run options (checked on resume: depthlab.core.run)
  samples/inputs.png          RGB | ground-truth D | hallucinated D~ of a few test images
  checkpoints/                every role's model + optimizer + finished epochs, per epoch
                              (runs before depthlab.core: <fold>/<role>/checkpoints/)
  tensorboard/                loss / accuracy scalars (all roles, one after another)
  <fold>/<role>/model.keras   the trained classifier
  results.json                rank-1 accuracy per fold and test set, and the fold mean
  metrics_final.json          the same (the lifecycle's final record)

Score-level fusion trains the RGB and the depth classifiers separately (roles 'rgb' and
'depth') and averages their softmax scores with ``score_weight`` on RGB (or pools them with
``score_rule='product'``). With ``score_validation_per_identity`` V > 0 the weight is chosen
on held-out images (stacking): after 'rgb' and 'depth' have trained on all training images
(the same members as a plain score run), roles 'rgb_val' and 'depth_val' train on the training
images minus the last V of each identity, and the grid weight with the best rank-1 of their
fusion on those V images (``<fold>/score_weight.json``) fuses 'rgb' and 'depth'.
Feature-level and the two attention fusions ('two_level_attention', 'depth_guided_attention')
are one model, role 'fused', trained end to end.

``strategy`` ('default', 'mirrored', 'multi_worker'): every role's model and optimizer are
built inside ``strategy.scope()`` and trained by ``training.fit`` (global batch; Keras scales
the compiled cross-entropy by 1 / ``num_replicas_in_sync``). With ``sync_batchnorm`` (default)
every BatchNormalization layer uses the global batch's statistics (``synchronized``), so a
distributed step is the one-device step on the same global batch; evaluation and saving then
use default-strategy copies. Only the chief writes.

Hallucinated depth D~ comes from a generator SavedModel (``experiments/export_savedmodel`` /
``depthlab.export.export_depth_generator``): serving_default(rgb: uint8 (N, H, W, 3)) ->
{'depth': float32 [0, 1] (N, S, S, 1)}, near = bright, the same convention as the ground truth
here (``data_pipelines.paired.tsgan_depth_to_unit``).

Modules (this package re-exports their public names): ``options`` (RecognitionOptions, declared TF-free in
``depthlab.runners.recognition_options``; table columns),
``savedmodel_inputs`` (the generator SavedModel), ``data`` (faces, splits, tf.data),
``roles`` (the roles' models), ``scores`` (score fusion and its validated weight),
``runner`` (``RecognitionExperiment``: the hooks of ``depthlab.core.run``; ``train``), ``evaluation`` (``evaluate``, tables, McNemar),
``figures`` (t-SNE Figure 4, input samples), ``serving`` (the run's SavedModel:
``--export_dir`` and ``experiments.export_savedmodel``).
"""

# the private helpers that tests and notes name as depthlab.runners.recognition.<helper>
from .data import _faces_and_split, _load_fold  # noqa: F401
from .data import depth_streams, make_dataset
from .evaluation import (evaluate, evaluate_split, mcnemar_against_rgb, paper_layout_rows,
                         per_image_correct, summarize)
from .figures import TSNE_MODALITIES, tsne_figure
from .options import COLUMN_LABELS, COLUMNS, RecognitionOptions, RunOptions, load_options
from .roles import collapse_records
from .runner import RecognitionExperiment, RoleModels, train
from .savedmodel_inputs import GENERATOR_SIGNATURE, load_depth_generator
from .scores import SCORE_WEIGHT_FILE

__all__ = ["COLUMNS", "COLUMN_LABELS", "GENERATOR_SIGNATURE", "SCORE_WEIGHT_FILE",
           "TSNE_MODALITIES", "RecognitionExperiment", "RecognitionOptions", "RoleModels",
           "RunOptions", "collapse_records", "depth_streams", "evaluate",
           "evaluate_split", "load_depth_generator", "load_options", "make_dataset",
           "mcnemar_against_rgb", "paper_layout_rows", "per_image_correct", "summarize",
           "train", "tsne_figure"]
