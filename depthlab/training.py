"""Trainer plumbing every trainer shares: seeds, precision, strategy, config files,
resumable atomic checkpoints, TensorBoard, progress and image-grid callbacks."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from depthlab.core.options import PRECISION_POLICIES, STRATEGIES  # noqa: F401 (one owner)


def set_seeds(seed: int, deterministic_ops: bool = False) -> None:
    """Seeds Python, NumPy and TF (``keras.utils.set_random_seed``); optionally op determinism."""
    keras.utils.set_random_seed(int(seed))
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


def set_precision(policy: str) -> None:
    """Sets the global Keras dtype policy ('float32', 'mixed_bfloat16', 'mixed_float16')."""
    if policy not in PRECISION_POLICIES:
        raise ValueError(f"--mixed_precision={policy!r} is not one of {PRECISION_POLICIES}")
    keras.mixed_precision.set_global_policy(policy)


_STRATEGIES: Dict[str, tf.distribute.Strategy] = {}


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """'default' (one device), 'mirrored' (all local GPUs, else every logical CPU device) or
    'multi_worker' (TF_CONFIG). One instance per name and process, so that a process training
    several runs in turn (the tests) does not build two strategies over the same devices."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in ("mirrored", "multi_worker"):
        raise ValueError(f"--strategy={name!r} is not one of {STRATEGIES}")
    if name not in _STRATEGIES:
        _STRATEGIES[name] = (tf.distribute.MirroredStrategy() if name == "mirrored"
                             else tf.distribute.MultiWorkerMirroredStrategy())
    return _STRATEGIES[name]


def define_strategy_flag(note: str = "") -> None:
    """Defines the trainers' common absl flag ``--strategy`` (one of :data:`STRATEGIES`);
    ``note`` adds what is particular to one binary to the help text."""
    from absl import flags

    flags.DEFINE_enum(
        "strategy", "default", list(STRATEGIES),
        "tf.distribute strategy: 'default' (one device), 'mirrored' (all local GPUs; without "
        "GPUs the logical CPUs) or 'multi_worker' (MultiWorkerMirroredStrategy; the cluster "
        "comes from the TF_CONFIG environment variable, see README). --batch_size is global "
        "and must divide evenly across the replicas." + (f" {note}" if note else ""))


def define_collapse_guard_flag() -> None:
    """Defines the trainers' common absl flag ``--collapse_guard`` (warn|stop|off, default warn;
    ``depthlab.collapse``)."""
    from absl import flags

    from depthlab import collapse

    flags.DEFINE_enum(
        "collapse_guard", "warn", list(collapse.MODES),
        "Collapse guard (depthlab/collapse.py): watches the output on a fixed probe batch; when "
        "it becomes constant (variance << the target's) or the probe loss stalls at the level "
        "of predicting the target's mean, prints 'COLLAPSE: ...', writes collapse/* to "
        "TensorBoard and collapse.json ({\"collapsed\": true, ...}) to --model_dir. 'warn' "
        "trains on, 'stop' ends training there, 'off' adds no guard.")


def is_distributed(strategy: Optional[tf.distribute.Strategy] = None) -> bool:
    """True for a Mirrored or MultiWorkerMirrored strategy (the ``fit`` below then runs its
    own ``strategy.run`` loop)."""
    strategy = strategy or tf.distribute.get_strategy()
    return isinstance(strategy, (tf.distribute.MirroredStrategy,
                                 tf.distribute.MultiWorkerMirroredStrategy))


def is_chief(strategy: Optional[tf.distribute.Strategy] = None) -> bool:
    """True unless this is a non-chief worker of a multi-worker strategy.

    Without ``strategy`` it asks the strategy in scope: outside ``strategy.scope()`` that is
    the default one, so every worker answers True; pass the run's strategy (callbacks use
    their model's, ``model.distribute_strategy``)."""
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy,
                       flag: str = "--batch_size") -> None:
    """The global batch must split evenly over the replicas: the trainers' per-replica means
    are exact (equal to the one-device mean) only for equal per-replica batches."""
    replicas = strategy.num_replicas_in_sync
    if int(batch_size) % replicas:
        raise ValueError(f"{flag}={batch_size} (the global batch) is not divisible by the "
                         f"{replicas} replicas in sync of this strategy")


def single_device_copy(source: keras.Model, build: Callable[[], keras.Model],
                       parts: Sequence[str] = ()) -> keras.Model:
    """``build()`` holding the weights of ``source`` (or of its sub-networks named in
    ``parts``): call it outside any ``strategy.scope()``, for evaluation and saving after a
    distributed run (Keras' ``evaluate`` does not run under MultiWorkerMirroredStrategy)."""
    plain = build()
    for name in parts or (None,):
        dst, src = (plain, source) if name is None else (getattr(plain, name), getattr(source, name))
        dst.set_weights(src.get_weights())
    return plain


def synchronize_batch_norm(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Under a Mirrored/MultiWorkerMirrored strategy, every ``BatchNormalization`` of ``model``
    (nested ones too) normalises with the global-batch statistics (Keras' ``synchronized``:
    all-reduced sum and sum of squares), as one device does on the same global batch."""
    if not is_distributed(strategy):
        return
    for layer in batchnorm_layers(model):
        layer.synchronized = True


def batchnorm_layers(model: keras.Model):
    """Every ``BatchNormalization`` layer inside ``model``, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def _model_is_chief(model) -> bool:
    return is_chief(getattr(model, "distribute_strategy", None))


def atomic_write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` via a temporary file and ``os.replace`` (never half-written)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _save_atomic(save: Callable[[str], None], path: str, suffix: str) -> None:
    """``save(tmp)`` to a temporary file beside ``path``, then ``os.replace`` (a kill during the
    write leaves the previous file; the orphan ``.tmp_*`` is removed by the next run)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=suffix)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_weights_atomic(model: keras.Model, path: str) -> None:
    """``model.save_weights(path)``, atomically."""
    _save_atomic(lambda tmp: model.save_weights(tmp, overwrite=True), path, ".weights.h5")


def save_model_atomic(model: keras.Model, path: str) -> None:
    """``model.save(path)`` (a ``.keras`` file), atomically."""
    _save_atomic(lambda tmp: model.save(tmp, overwrite=True), path, ".keras")


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or inf; the message names the loss and the step."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` at the first step whose logged losses are not finite,
    before that epoch's checkpoint is written (so the run keeps its last finite state and the
    binary exits non-zero instead of saving an all-NaN model)."""

    def __init__(self):
        super().__init__()
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        bad = {k: float(v) for k, v in (logs or {}).items()
               if np.ndim(v) == 0 and not np.isfinite(float(v))}
        if bad:
            raise NonFiniteLossError(
                f"training loss not finite at step {self.step} of this fit (epoch batch "
                f"{batch + 1}): {bad}; the last checkpoint holds the previous epoch. Lower the "
                "learning rate or check the inputs.")


def write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_json(path: str):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    with open(path) as f:
        return json.load(f)


def check_resume_config(model_dir: str, record: dict, keys: Sequence[str],
                        read=None) -> None:
    """Refuses to resume ``model_dir`` when its ``config.json`` differs from ``record`` in any
    of ``keys`` (a different run would silently mix into its checkpoints). ``read(model_dir)``
    reads the stored record (default: the file as it is; a trainer may fill in defaults for
    fields that older runs did not write)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        return
    old = read(model_dir) if read is not None else read_json(path)
    record = json.loads(json.dumps(record, default=list))   # tuples -> lists, as stored
    diffs = [k for k in keys if old.get(k) != record.get(k)]
    if diffs:
        raise ValueError(f"{path} was written by a different run (differs in {diffs}); "
                         "use a new --model_dir or the same flags to resume")


class ResumableCheckpoint:
    """A ``tf.train.Checkpoint`` of the whole training state with a ``CheckpointManager``.

    ``objects`` holds the networks, optimizers (slots included) and any state layers (image
    pools, RNG counters). An ``epoch`` counter is added. TF writes each checkpoint under a
    temporary name and updates the ``checkpoint`` index file atomically, so a kill during a
    save leaves the previous checkpoint as the latest.
    """

    def __init__(self, directory: str, max_to_keep: int = 3, **objects):
        self.directory = directory
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.checkpoint = tf.train.Checkpoint(epoch=self.epoch, **objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep)

    def restore_latest(self) -> int:
        """Restores the newest checkpoint if any; returns the number of finished epochs."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return 0
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def save(self, epoch: int) -> str:
        self.epoch.assign(epoch)
        return self.manager.save(checkpoint_number=epoch)


class CheckpointCallback(keras.callbacks.Callback):
    """Saves a ``ResumableCheckpoint`` at the end of every ``every`` epochs (chief only)."""

    def __init__(self, state: ResumableCheckpoint, every: int = 1, on_save=None):
        super().__init__()
        self.state, self.every, self.on_save = state, max(1, int(every)), on_save

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0 and _model_is_chief(self.model):
            path = self.state.save(done)
            if self.on_save is not None:
                self.on_save(done, path)


class ProgressPrinter(keras.callbacks.Callback):
    """One line per ``every`` steps with the running losses, images/s and ETA (stdout)."""

    def __init__(self, total_steps: int, batch_size: int, every: int = 10, stream=None):
        super().__init__()
        self.total, self.batch, self.every = int(total_steps), int(batch_size), max(1, int(every))
        self.stream = stream or sys.stdout
        self.step = 0
        self._t0 = None

    def on_train_begin(self, logs=None):
        self._t0 = time.perf_counter()
        self._start = self.step

    def set_initial_step(self, step: int):
        self.step = int(step)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every and self.step != self.total:
            return
        elapsed = time.perf_counter() - self._t0
        done_here = max(self.step - self._start, 1)
        rate = done_here * self.batch / max(elapsed, 1e-9)
        eta = (self.total - self.step) * self.batch / max(rate, 1e-9)
        parts = " ".join(f"{k}={float(v):.4f}" for k, v in sorted((logs or {}).items()))
        print(f"step {self.step}/{self.total} {parts} | {rate:.1f} img/s | eta {eta:.0f}s",
              file=self.stream, flush=True)


class ImageGridCallback(keras.callbacks.Callback):
    """Writes a colourised comparison grid (PNG + TensorBoard image) every ``every`` epochs.

    ``make_rows(model)`` returns rows of images (see ``depthlab.visualize.make_grid``).
    """

    def __init__(self, make_rows: Callable, out_dir: str, summary_dir: Optional[str] = None,
                 every: int = 1, name: str = "samples", labels: Optional[Sequence[str]] = None,
                 near_is_small: bool = True):
        super().__init__()
        self.near_is_small = near_is_small
        self.make_rows, self.out_dir, self.every = make_rows, out_dir, max(1, int(every))
        self.name, self.labels = name, labels
        self.writer = tf.summary.create_file_writer(summary_dir) if summary_dir else None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or not _model_is_chief(self.model):
            return
        from depthlab import visualize

        grid = visualize.make_grid(self.make_rows(self.model), labels=self.labels,
                                   near_is_small=self.near_is_small)
        visualize.save_png(os.path.join(self.out_dir, f"{self.name}_epoch{epoch + 1:04d}.png"), grid)
        if self.writer is not None:
            # record_if(True): a TensorBoard callback interrupted mid-fit can leave a False
            # recording condition pushed on the summary stack.
            with self.writer.as_default(), tf.summary.record_if(True):
                tf.summary.image(self.name, grid[None], step=epoch + 1)
            self.writer.flush()


class BatchLossRecorder(keras.callbacks.Callback):
    """Keeps every step's logs in memory (used by the resume tests and the demo summary)."""

    def __init__(self):
        super().__init__()
        self.history: List[Dict[str, float]] = []

    def on_train_batch_end(self, batch, logs=None):
        self.history.append({k: float(v) for k, v in (logs or {}).items()})


def distribute_options() -> tf.data.Options:
    """Shard every global batch across workers by element (``AutoShardPolicy.DATA``): the
    union of the replicas' batches is the single-worker global batch, so the index-driven
    streams stay a pure function of (seed, step) under any strategy."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return options


def fit(model: keras.Model, dataset: tf.data.Dataset, epochs: int, steps_per_epoch: int,
        initial_epoch: int = 0, callbacks: Sequence[keras.callbacks.Callback] = (),
        strategy: Optional[tf.distribute.Strategy] = None):
    """``model.fit`` on one device; under a Mirrored/MultiWorkerMirrored strategy, the same
    epochs run as ``strategy.run(model.train_step)`` over ``experimental_distribute_dataset``
    with the logs averaged over replicas (``strategy.reduce(MEAN)``) and the same callbacks.

    Why not ``fit`` there: Keras 3.15's TF trainer fails under MultiWorkerMirroredStrategy
    (its symbolic build reduces a batch of the distributed iterator, and its log reduction
    concatenates scalars). The model's ``train_step`` must divide the losses it
    differentiates by ``num_replicas_in_sync`` (every depthlab trainer does; Keras' own
    ``train_step`` does it for compiled losses, ``keras.losses.loss.scale_loss_for_distribution``).
    ``compile(run_eagerly=True)`` runs the loop eagerly here too.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not is_distributed(strategy):
        return model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                         initial_epoch=initial_epoch, callbacks=list(callbacks), verbose=0)
    iterator = iter(strategy.experimental_distribute_dataset(
        dataset.with_options(distribute_options())))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built and model.built:
        # Built lazily inside strategy.run, Adam's slots fail to trace ('must feed a value
        # for placeholder ... cond'); build them here, in the scope.
        with strategy.scope():
            optimizer.build(model.trainable_variables)

    def distributed_step(batch):
        logs = strategy.run(model.train_step, args=(batch,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    if not model.run_eagerly:
        distributed_step = tf.function(distributed_step)

    cb = keras.callbacks.CallbackList(list(callbacks), add_history=True, model=model,
                                      epochs=epochs, steps=steps_per_epoch, verbose=0)
    model.stop_training = False
    logs: Dict[str, float] = {}
    cb.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for metric in model.metrics:
            metric.reset_state()
        cb.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            cb.on_train_batch_begin(batch)
            logs = {k: float(v) for k, v in distributed_step(next(iterator)).items()}
            cb.on_train_batch_end(batch, logs)
        cb.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cb.on_train_end(dict(logs))
    return next(c for c in cb.callbacks if isinstance(c, keras.callbacks.History))
