"""Everything that makes tensors from files or from nothing (tf.data, synthesis, TFDS builders)."""
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
