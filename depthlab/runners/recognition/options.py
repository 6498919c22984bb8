"""Run options of one TS-GAN recognition experiment: declared once, TensorFlow-free, in
``depthlab.runners.recognition_options`` (outside this package, whose ``__init__`` imports
TensorFlow); re-exported here."""

from depthlab.runners.recognition_options import (  # noqa: F401
    BACKBONES, COLUMN_LABELS, COLUMNS, FUSIONS, INPUTS, SCORE_RULES, RecognitionOptions,
    RunOptions, fold_name, folds, load_options, model_roles, role_names)
