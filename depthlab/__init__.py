"""depthlab: TF2 / Keras 3 reimplementations of depth synthesis and enhancement papers.

Import-light on purpose: submodules are imported where they are used.
"""
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
