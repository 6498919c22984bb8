"""depthlab: TF2 / Keras 3 reimplementations of depth synthesis and enhancement papers.

Import-light on purpose: submodules are imported where they are used, and ``import depthlab``
imports neither keras nor TensorFlow (a binary's ``--help`` stays well under 2 s).

Custom Keras objects are still registered without an explicit import: ``keras.models
.load_model`` on a ``.keras`` file depthlab saved works after ``import depthlab`` alone. The
modules in ``SERIALIZABLE_MODULES`` (every module with a ``register_keras_serializable``
decorator; tests/test_packaging.py fails when one is missing) are imported

* now, when keras is already imported;
* otherwise right after keras finishes importing, by a one-shot ``sys.meta_path`` finder that
  wraps the loader of the top-level ``keras`` module. While a depthlab / data_pipelines /
  experiments / benchmarks module, TensorFlow or keras is still executing (keras is usually
  imported from inside one of them, or from inside TensorFlow), the registration waits until
  the outermost of those finishes, so no registering module meets a half-initialised import.
  The finder removes itself once the registration ran.
"""
import importlib as _importlib
import os as _os
import sys as _sys

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Every module that defines a ``@keras.saving.register_keras_serializable`` object. When a
# class moves, move its module here (a listed module that no longer exists is skipped, but the
# packaging test fails until the list matches ``grep -rl register_keras_serializable``).
SERIALIZABLE_MODULES = (
    "depthlab.layers",
    "depthlab.nets.resnet_gan",
    "depthlab.nets.resnet_encoder",
    "depthlab.nets.recognition_backbones",
    "depthlab.nets.contrastive",
    "depthlab.losses",
    "depthlab.schedules",
    "depthlab.models.tsgan",
    "depthlab.models.tsgan_baselines",
    "depthlab.models.cyclegan_depth",
    "depthlab.models.dsr_distill",
    "depthlab.models.two_stage",
    "depthlab.models.enhancers",
    "depthlab.recognition.attention",
    "depthlab.recognition.models",
)

_registered = False


def register_keras_objects():
    """Imports ``SERIALIZABLE_MODULES`` (idempotent). A failure warns instead of raising."""
    global _registered
    if _registered:
        return
    _registered = True
    for name in SERIALIZABLE_MODULES:
        try:
            _importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a listed module that moved away is skipped; others warn
                _warn(name, err)
        except Exception as err:  # noqa: BLE001 - never break ``import keras`` for the user
            _warn(name, err)


def _warn(name, err):
    import warnings

    warnings.warn(f"depthlab could not register the Keras objects of {name}: "
                  f"{type(err).__name__}: {err}", RuntimeWarning, stacklevel=3)


# Top-level packages whose import, while under way, postpones the registration.
_WATCHED = ("keras", "tensorflow", "depthlab", "data_pipelines", "experiments", "benchmarks")


class _LoaderProxy:
    """Delegates to a module's own loader; runs ``finder._exited`` after ``exec_module``."""

    def __init__(self, loader, finder):
        self._loader = loader
        self._finder = finder

    def __getattr__(self, attr):
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # The module's spec / __loader__ point back at the real loader from here on.
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._finder._depth += 1
        ok = False
        try:
            self._loader.exec_module(module)
            ok = True
        finally:
            self._finder._depth -= 1
            self._finder._exited(module.__name__, ok)


class _RegisterAfterKeras:
    """One-shot ``sys.meta_path`` finder: registers depthlab's Keras objects once keras loaded."""

    def __init__(self):
        self._depth = 0  # watched modules executing right now
        self._keras_loaded = False
        self._finding = False  # recursion guard while asking the other finders

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if self._finding or top not in _WATCHED:
            return None
        if top in ("keras", "tensorflow") and top != fullname:
            return None  # of keras and TensorFlow only the top-level modules are watched
        self._finding = True
        try:
            spec = None
            for finder in _sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _LoaderProxy(spec.loader, self)
        return spec

    def _exited(self, name, ok):
        if name == "keras":
            if not ok:  # keras failed to import: nothing to register, stop watching
                self._remove()
                return
            self._keras_loaded = True
        if self._keras_loaded and self._depth == 0:
            self._remove()
            register_keras_objects()

    def _remove(self):
        try:
            _sys.meta_path.remove(self)
        except ValueError:
            pass


def _install():
    if "keras" in _sys.modules:
        register_keras_objects()
    elif not any(type(f).__name__ == "_RegisterAfterKeras" for f in _sys.meta_path):  # reload-safe
        _sys.meta_path.insert(0, _RegisterAfterKeras())


_install()
