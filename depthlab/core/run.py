"""THE run lifecycle every trainer plugs into (hooks: ``depthlab.core.experiment``).

``run(experiment, opts)`` does, once for all papers:

1. precision, seeds, strategy, the global-batch check;
2. the resume rule (:func:`check_resume`), before anything is written: a ``model_dir`` whose
   config.json was written with the same effective config resumes; a changed field is refused
   by name; ``--epochs`` may grow to train a finished run further; a config.json without any
   checkpoint (a run that failed before its first epoch) is replaced by the corrected rerun;
   an ``--export_dir`` that already exists is refused before training, not after;
3. a lock on ``model_dir`` (two trainers never write into one run; a lock left by a killed
   process is taken over) and the removal of what a killed run left half-written; the same
   command again on a finished, exported run reports its results and changes nothing;
4. data, model (inside ``strategy.scope()``), the resumable checkpoint, restore;
5. config.json (chief only), then the callbacks: checkpoints every epoch, TensorBoard,
   progress lines, sample grids, the collapse guard, the paper's own callbacks;
6. ``fit`` per phase, stopped with an error at the first non-finite loss (``training.fit``: Keras' fit on one device, a ``strategy.run`` loop under
   Mirrored / MultiWorkerMirrored);
7. a one-device copy after a distributed run, the chief's final artefacts, the final
   evaluation (``metrics_final.json`` with the collapse verdict), the final table, the export.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from typing import Any, Callable, Dict, List, Optional

from depthlab.core import options as options_lib
from depthlab.core.experiment import Experiment

CONFIG_FILE = "config.json"
LOCK_FILE = ".run.lock"


class ResumeError(ValueError):
    """``model_dir`` holds a run that differs from the requested one; names the fields."""


def _normalise(value):
    return json.loads(json.dumps(value, default=list))   # tuples -> lists, as stored


def has_checkpoint(model_dir: str) -> bool:
    """True when ``model_dir`` holds at least one finished epoch's checkpoint."""
    return os.path.exists(os.path.join(model_dir, "checkpoints", "checkpoint"))


def check_resume(model_dir: str, record: Dict[str, Any], keys: List[str],
                 legacy_defaults: Optional[Dict[str, Any]] = None,
                 trainer_aliases: tuple = ()) -> str:
    """The one resume rule. Returns 'new' (no config.json), 'restart' (config.json but no
    checkpoint: a failed start, replaced) or 'resume'; raises :class:`ResumeError` naming every
    differing field (``--flag: stored -> requested``; model-config fields as
    ``--config_override`` keys)."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return "new"
    if not has_checkpoint(model_dir):
        return "restart"
    with open(path) as f:
        old = json.load(f)
    if not isinstance(old, dict):
        raise ResumeError(f"{path} is not a run record (found {type(old).__name__})")
    for key, value in (legacy_defaults or {}).items():
        old.setdefault(key, value)
    new = _normalise(record)
    if old.get("trainer") in trainer_aliases:       # a run recorded under an older name
        old["trainer"] = new.get("trainer")
    if "trainer" in keys and old.get("trainer", new.get("trainer")) != new.get("trainer"):
        raise ResumeError(f"{path} was written by trainer {old.get('trainer')!r}, not "
                          f"{new.get('trainer')!r}; use a new --model_dir")
    problems = []
    for key in keys:
        if key == "trainer" or old.get(key) == new.get(key):
            continue
        if key == "model" and isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            o, n = old["model"], new["model"]
            # fields added to or removed from a config since the run was recorded are not
            # compared (a new field defaults to the behaviour older runs had)
            problems += [f"model config {k}: {o[k]!r} -> {n[k]!r}"
                         for k in sorted(set(o) & set(n)) if o[k] != n[k]]
        else:
            problems.append(f"--{key}: {old.get(key)!r} -> {new.get(key)!r}")
    if problems:
        raise ResumeError(f"{model_dir} holds a run with a different config ("
                          + "; ".join(problems) + "). Resume with the same values, or use a "
                          "new --model_dir (only --epochs may grow, to train a finished run "
                          "further).")
    return "resume"


class RunLock:
    """``<model_dir>/.run.lock`` holding ``pid@host`` of the owner, created exclusively. A lock
    of this host whose process no longer runs is taken over with a message (a killed run); a
    lock of another host is refused (its process cannot be checked from here). Chief only."""

    def __init__(self, model_dir: str, log: Callable[[str], None] = print):
        self.path = os.path.join(model_dir, LOCK_FILE)
        self.held = False
        self.log = log

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        me = f"{os.getpid()}@{socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                pid, _, host = owner.partition("@")
                host = host or socket.gethostname()
                alive = (host != socket.gethostname()
                         or (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))))
                if alive:
                    raise RuntimeError(f"{os.path.dirname(self.path)} is in use by another "
                                       f"trainer (pid {pid} on {host}, {self.path}); wait for "
                                       "it, or use another --model_dir (remove the lock file "
                                       "only if that process is gone)") from None
                self.log(f"taking over the lock of a stopped run (pid {pid} on {host})")
                os.remove(self.path)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self.held = True
            return
        raise RuntimeError(f"could not lock {self.path}")

    def _owner(self) -> str:
        try:
            with open(self.path) as f:
                return f.read().strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self.held and os.path.exists(self.path):
            os.remove(self.path)
        self.held = False


def remove_orphans(model_dir: str, export_dir: Optional[str] = None) -> List[str]:
    """Removes what a killed run leaves half-written: ``.tmp_*`` files (atomic JSON, PNG and
    weight writes) in ``model_dir`` and its sub-folders, TF's ``*_temp*`` checkpoint folders
    in ``checkpoints/``, and ``.export_tmp_*`` folders beside ``export_dir``. Returns them."""
    import glob
    import shutil

    found = glob.glob(os.path.join(model_dir, "**", ".tmp_*"), recursive=True)
    found += glob.glob(os.path.join(model_dir, "checkpoints", "*_temp*"))
    if export_dir:
        found += glob.glob(os.path.join(os.path.dirname(os.path.abspath(export_dir)),
                                        ".export_tmp_*"))
    for path in found:
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
    return found


def finished_epochs(model_dir: str) -> int:
    """Epochs of the newest checkpoint, read from ``checkpoints/checkpoint`` (the lifecycle
    numbers checkpoints by epoch) without importing TensorFlow; 0 without one."""
    import re

    path = os.path.join(model_dir, "checkpoints", "checkpoint")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        match = re.search(r'^model_checkpoint_path:\s*"[^"]*?(\d+)"', f.read(), re.M)
    return int(match.group(1)) if match else 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclasses.dataclass
class Run:
    """What the hooks see: the options, effective config, strategy and where to write."""

    experiment: Experiment
    opts: Any
    config: Any
    strategy: Any
    chief: bool
    distributed: bool
    epochs: int
    batch_size: int
    log: Callable[..., None]
    initial_epoch: int = 0
    state: Any = None
    status: str = "new"

    @property
    def model_dir(self) -> str:
        return self.opts.model_dir

    def path(self, *parts: str) -> str:
        return os.path.join(self.opts.model_dir, *parts)


def _overridden(hook_owner, name: str) -> bool:
    return getattr(type(hook_owner), name) is not getattr(Experiment, name)


def run(experiment: Experiment, opts, extra_callbacks: Optional[List[Any]] = None,
        verbose: bool = True) -> Dict[str, Any]:
    """Trains (or resumes) ``opts.model_dir``; returns ``{"final", "model", "history",
    "config", "run"}`` (``final`` is what metrics_final.json holds)."""
    import keras

    from depthlab import collapse, training
    from depthlab.export import check_new_export_dir

    if not opts.model_dir:
        raise options_lib.OptionsError("--model_dir is required")
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy = training.get_strategy(opts.strategy)
    chief, distributed = training.is_chief(strategy), training.is_distributed(strategy)
    config = experiment.config(opts)
    epochs, batch_size = experiment.epochs(opts, config), experiment.batch_size(opts, config)
    training.check_global_batch(batch_size, strategy)
    tag = experiment.tag or f"[{experiment.name}]"
    printer = print if verbose and chief else (lambda *a, **k: None)

    def log(message: str) -> None:
        printer(f"{tag} {message}", flush=True)

    record = experiment.record(opts, config)
    status = check_resume(opts.model_dir, record, experiment.resume_keys(opts),
                          experiment.legacy_defaults, tuple(experiment.legacy_trainers))
    if opts.export_dir and os.path.exists(opts.export_dir):
        done = finished_epochs(opts.model_dir) if status == "resume" else 0
        final_path = os.path.join(opts.model_dir, "metrics_final.json")
        if done >= epochs and os.path.exists(final_path):
            # the same command again on a finished, exported run: report, change nothing
            with open(final_path) as f:
                final = json.load(f)
            log(f"{opts.model_dir} is already trained ({done} epochs) and exported to "
                f"{opts.export_dir}; nothing to do (results: {final_path})")
            run_ = Run(experiment, opts, config, strategy, chief, distributed, epochs,
                       batch_size, log, initial_epoch=done, status="finished")
            for line in experiment.summary_lines(run_, final):
                log(line)
            return {"final": final, "model": None, "history": [], "config": config,
                    "run": run_, "batch_history": []}
        check_new_export_dir(opts.export_dir)
    _log_differences(experiment, opts, config, log)
    run_ = Run(experiment, opts, config, strategy, chief, distributed, epochs, batch_size, log,
               status=status)
    lock = RunLock(opts.model_dir, log)
    if chief:
        lock.acquire()
        orphans = remove_orphans(opts.model_dir, opts.export_dir)
        if orphans:
            log(f"removed {len(orphans)} half-written file(s) of a stopped run: "
                + ", ".join(os.path.relpath(p, opts.model_dir) for p in orphans[:5]))
    try:
        return _run_locked(run_, record, extra_callbacks, verbose, keras, collapse, training)
    finally:
        lock.release()


def _log_differences(experiment: Experiment, opts, config, log) -> None:
    """Startup lines: the options that differ from their declared defaults, and the model
    config fields that differ from the preset (``experiment.preset_config``)."""
    diffs = []
    for f in dataclasses.fields(opts):
        if f.name == "model_dir":
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            continue
        if getattr(opts, f.name) != default:
            diffs.append((f.name, default, getattr(opts, f.name)))
    if diffs:
        log("options that differ from the defaults: "
            + ", ".join(f"{k}={b!r} (default {a!r})" for k, a, b in diffs))
    preset = getattr(experiment, "preset_config", None)
    base = preset(opts) if preset is not None else None
    if base is not None and config is not None and dataclasses.is_dataclass(config):
        diffs = options_lib.differences(config, base)
        if diffs:
            log("config fields that differ from the preset: "
                + ", ".join(f"{k}={b!r} ({a!r})" for k, a, b in diffs))


def _run_locked(run_: Run, record, extra_callbacks, verbose, keras, collapse, training):
    experiment, opts, strategy = run_.experiment, run_.opts, run_.strategy
    chief, log = run_.chief, run_.log
    data = experiment.build_data(run_)
    with strategy.scope():
        model = experiment.build_model(run_, data)
        objects = {k: v for k, v in experiment.checkpoint_objects(run_, model).items()
                   if v is not None}
        state = training.ResumableCheckpoint(run_.path("checkpoints"), **objects)
    run_.state = state
    done = state.restore_latest()
    run_.initial_epoch = done
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(run_.path(CONFIG_FILE), record)
    phases = experiment.phases(run_, data)
    total_steps = sum((p.last_epoch - p.first_epoch) * p.steps_per_epoch for p in phases)
    done_steps = sum(max(0, min(done, p.last_epoch) - p.first_epoch) * p.steps_per_epoch
                     for p in phases)
    if done >= run_.epochs:
        log(f"{opts.model_dir} already holds {done} epochs; nothing to train "
            "(a larger --epochs trains it further)")
    elif done:
        log(f"resuming after epoch {done}/{run_.epochs} ({state.manager.latest_checkpoint})")
    else:
        experiment.on_fresh_start(run_, model, data)
    log(f"strategy={opts.strategy} ({strategy.num_replicas_in_sync} replica(s) in sync), "
        f"global batch {run_.batch_size}, {run_.epochs} epochs, {total_steps} steps")

    tb = run_.path("tensorboard")
    callbacks: List[Any] = [training.StopOnNonFiniteLoss(), training.CheckpointCallback(state)]
    recorder = training.BatchLossRecorder()
    callbacks.append(recorder)
    if chief:
        callbacks.append(keras.callbacks.TensorBoard(tb, update_freq=max(1, opts.log_every),
                                                     write_graph=False))
        if _overridden(experiment, "preview_rows"):
            callbacks.append(training.ImageGridCallback(
                lambda m: experiment.preview_rows(run_, m, data), run_.path("samples"),
                os.path.join(tb, "images"),
                every=experiment.preview_every or max(
                    1, run_.epochs // max(1, experiment.preview_count)),
                labels=experiment.preview_labels,
                near_is_small=experiment.preview_near_is_small))
        if verbose:
            progress = training.ProgressPrinter(total_steps, run_.batch_size,
                                                every=opts.log_every)
            progress.set_initial_step(done_steps)
            callbacks.append(progress)
    guards = []
    probe = experiment.collapse_probe(run_, data)
    if probe is not None:
        kwargs = dict(name=experiment.collapse_name, every=opts.log_every,
                      model_dir=opts.model_dir, chief=chief, initial_step=done_steps,
                      initial_epoch=done)
        kwargs.update(experiment.collapse_kwargs(run_))      # e.g. its own 'every'
        guards = collapse.guard_callbacks(opts.collapse_guard, probe, **kwargs)
    callbacks += list(experiment.callbacks(run_, model, data)) + guards
    callbacks += list(extra_callbacks or [])

    history: List[Dict[str, float]] = []
    for phase in phases:
        if done >= phase.last_epoch:
            continue
        start = max(done, phase.first_epoch)
        experiment.on_phase_begin(run_, model, phase)
        dataset = experiment.train_dataset(run_, data, phase, start)
        h = training.fit(model, dataset, epochs=phase.last_epoch, initial_epoch=start,
                         steps_per_epoch=phase.steps_per_epoch, callbacks=callbacks,
                         strategy=strategy)
        history += [dict(zip(h.history, values)) for values in zip(*h.history.values())]
        done = phase.last_epoch
        if model.stop_training:
            break

    if run_.distributed:          # evaluation and saving on a one-device copy
        model = experiment.plain_copy(run_, model)
    if chief:
        experiment.save(run_, model)
    final = dict(experiment.evaluate(run_, model, data))
    collapse.mark(final, guards) if probe is not None else final.setdefault("collapsed", None)
    if chief:
        training.write_json(run_.path("metrics_final.json"), final)
    for line in experiment.summary_lines(run_, final):
        log(line)
    log(collapse.status_line(final))
    if opts.export_dir and chief:
        path = experiment.export(run_, model, opts.export_dir)
        log(f"exported SavedModel to {path}")
    return {"final": final, "model": model, "history": history, "config": run_.config,
            "run": run_, "batch_history": recorder.history}
