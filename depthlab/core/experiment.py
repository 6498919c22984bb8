"""The hooks a paper implements to plug into the one run lifecycle (``depthlab.core.run``).

A paper's experiment is a subclass of :class:`Experiment` registered by name
(``@registry.experiment("tsgan")``). The lifecycle calls, in order::

    config(opts)                         effective model config (preset + overrides) or None
    build_data(run)                      -> data (anything the other hooks understand)
    build_model(run, data)               -> compiled keras.Model, inside strategy.scope()
    checkpoint_objects(run, model)       -> {name: trackable} of the whole training state
    on_fresh_start(run, model, data)     first run only (e.g. a head bias, step-0 metrics)
    phases(run, data)                    -> [Phase]: epoch ranges with their own data/lr
    train_dataset(run, data, phase, first_epoch)   -> tf.data.Dataset for fit, starting
                                         where an uninterrupted run is at ``first_epoch``
                                         (so that a resumed run equals an uninterrupted one)
    on_phase_begin(run, model, phase)    e.g. the chunk's learning rate
    callbacks(run, model, data)          paper-specific callbacks (the lifecycle adds
                                         checkpoints, TensorBoard, progress, sample grids and
                                         the collapse guard)
    preview_rows(run, model, data)       rows of images for the sample grid (or None)
    collapse_probe(run, data)            the collapse guard's probe (or None)
    plain_copy(run, model)               a one-device copy after a distributed run
    save(run, model)                     chief-only final artefacts (weights, .keras files)
    evaluate(run, model, data)           -> dict of final metrics (metrics_final.json)
    summary_lines(run, final)            the final table printed at the end

Only ``build_data``, ``build_model`` and ``train_dataset`` are required. See CONTRIBUTING.md
for a template, and ``tests/test_core_run.py`` for a toy experiment through these hooks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional, Sequence


@dataclasses.dataclass
class Phase:
    """A range of epochs ``[first_epoch, last_epoch)`` trained by one ``fit`` call
    (enhancer chunks, stage schedules). ``steps_per_epoch`` steps of the phase's dataset per
    epoch; ``info`` is free for the experiment (a chunk index, a learning rate)."""

    first_epoch: int
    last_epoch: int
    steps_per_epoch: int
    name: str = ""
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)


class Experiment:
    """Base class: override the hooks the paper needs (module docstring)."""

    #: registry name (set by ``@registry.experiment``)
    name: str = ""
    #: options dataclass (a ``depthlab.core.options.CommonOptions`` subclass)
    Options: type = None
    #: label of progress lines, e.g. "[tsgan]"
    tag: str = ""
    #: name of the model in collapse-guard messages
    collapse_name: str = "model"
    #: column labels of the sample grid
    preview_labels: Optional[Sequence[str]] = None
    #: depth colour convention of the sample grid (True: near = small values)
    preview_near_is_small: bool = True
    #: sample grids per run (every epochs // preview_count epochs)
    preview_count: int = 5
    #: sample grid every N epochs (None: ``preview_count`` grids per run)
    preview_every: Optional[int] = None
    #: config.json keys of older runs' records with the value those runs used
    legacy_defaults: Dict[str, Any] = {}
    #: names older runs recorded as their ``trainer`` (they resume as this experiment)
    legacy_trainers: Sequence[str] = ()

    # -- configuration ------------------------------------------------------------------------
    def config(self, opts) -> Any:
        """The effective model config (a dataclass with ``to_dict``), or None."""
        return None

    def epochs(self, opts, config) -> int:
        """Total epochs of the run (default ``opts.epochs``)."""
        return int(opts.epochs)

    def batch_size(self, opts, config) -> int:
        return int(opts.batch_size)

    def record(self, opts, config) -> Dict[str, Any]:
        """config.json's content: ``{"trainer": name, "model": config, **options}``."""
        out = {"trainer": self.name, **dataclasses.asdict(opts)}
        if config is not None:
            out["model"] = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
        return out

    def resume_keys(self, opts) -> List[str]:
        """config.json keys that must match to resume (default: every option declared with
        ``resume=True`` and the whole model config)."""
        from depthlab.core import options as options_lib

        return ["trainer", "model"] + options_lib.resume_fields(opts)

    # -- required -----------------------------------------------------------------------------
    def build_data(self, run) -> Any:
        raise NotImplementedError

    def build_model(self, run, data):
        raise NotImplementedError

    def train_dataset(self, run, data, phase: Phase, first_epoch: int):
        raise NotImplementedError

    # -- optional -----------------------------------------------------------------------------
    def steps_per_epoch(self, run, data) -> int:
        return int(run.opts.steps_per_epoch)

    def phases(self, run, data) -> List[Phase]:
        return [Phase(0, run.epochs, self.steps_per_epoch(run, data))]

    def checkpoint_objects(self, run, model) -> Dict[str, Any]:
        out = {"model": model}
        if getattr(model, "optimizer", None) is not None:
            out["optimizer"] = model.optimizer
        return out

    def on_fresh_start(self, run, model, data) -> None:
        pass

    def on_phase_begin(self, run, model, phase: Phase) -> None:
        pass

    def callbacks(self, run, model, data) -> List[Any]:
        return []

    def preview_rows(self, run, model, data):
        return None

    def collapse_probe(self, run, data) -> Optional[Callable]:
        return None

    def collapse_kwargs(self, run) -> Dict[str, Any]:
        """Arguments of the guard (``collapse.CollapseGuard``) that replace the lifecycle's
        (``every=opts.log_every``, ``name=collapse_name``, ...)."""
        return {}

    def plain_copy(self, run, model):
        raise NotImplementedError(f"{self.name}: no one-device copy for evaluation after a "
                                  "distributed run (override Experiment.plain_copy)")

    def save(self, run, model) -> None:
        pass

    def evaluate(self, run, model, data) -> Dict[str, Any]:
        return {}

    def export(self, run, model, export_dir: str) -> str:
        raise NotImplementedError(f"{self.name}: --export_dir is not supported")

    def summary_lines(self, run, final: Dict[str, Any]) -> List[str]:
        return [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                for k, v in sorted(final.items()) if isinstance(v, (int, float, str))]

    # -- tests --------------------------------------------------------------------------------
    def tiny_options(self, model_dir: str, **changes):
        """The smallest config that trains in a few seconds (the parametrised lifecycle tests
        train it). ``changes`` overrides fields."""
        raise NotImplementedError

    #: a field of the options whose change the resume rule must refuse (tests)
    tiny_changed_field: Optional[tuple] = None
