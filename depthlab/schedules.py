"""Learning-rate schedules shared by the trainers (pure functions of the step), and chunked
multi-stage training plans (:func:`chunk_plan`: which examples each epoch trains on)."""

from __future__ import annotations

import dataclasses
from typing import List, Sequence, Tuple

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="depthlab")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant ``initial`` until ``decay_start``, then linear to 0 at ``total_steps``.

    TS-GAN code (``module.LinearDecay`` of the authors' repository), also the CycleGAN schedule:
    lr = lr0 * (1 - (step - start) / (total - start)) for step >= start.
    """

    def __init__(self, initial: float, total_steps: int, decay_start: int):
        if total_steps <= 0 or decay_start < 0:
            raise ValueError(f"LinearDecay: need total_steps > 0 and decay_start >= 0, got "
                             f"total_steps={total_steps}, decay_start={decay_start}")
        self.initial = float(initial)
        self.total_steps = int(total_steps)
        self.decay_start = int(decay_start)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        start = float(self.decay_start)
        span = max(float(self.total_steps - self.decay_start), 1.0)
        frac = tf.clip_by_value((step - start) / span, 0.0, 1.0)
        return self.initial * tf.where(step < start, 1.0, 1.0 - frac)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps,
                "decay_start": self.decay_start}


@keras.saving.register_keras_serializable(package="depthlab")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr0 * factor ** floor(step / every) once step >= ``start`` (0 disables the start).

    TS-GAN paper preset: halved every 25 (teacher) / 50 (student) epochs; sparse-to-dense:
    lr 0.01 x 0.2 every 5 epochs (start = every).
    """

    def __init__(self, initial: float, every: int, factor: float = 0.5, start: int | None = None):
        if every <= 0:
            raise ValueError(f"StepDecay: every must be > 0 steps, got {every}")
        self.initial = float(initial)
        self.every = int(every)
        self.factor = float(factor)
        self.start = int(every if start is None else start)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        n = tf.floor(step / float(self.every))
        n = tf.where(step < float(self.start), 0.0, n)
        return self.initial * tf.pow(self.factor, n)

    def get_config(self):
        return {"initial": self.initial, "every": self.every, "factor": self.factor,
                "start": self.start}


@keras.saving.register_keras_serializable(package="depthlab")
class CompoundEpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr0 * factor ** max(0, epoch - start_epoch), epoch = floor(step / steps_per_epoch).

    TS-GAN Algorithm 1 (paper l. 506-508): "if n > epoch_teacher then alpha_teach *
    beta_decay" at the end of every epoch n, i.e. compounding once per epoch. n counts epochs
    from 1 as the text does ("the 25th epoch", l. 554), so the first multiplication follows
    1-based epoch start+1 and the 0-based epoch index ``start_epoch + 1`` is the first one
    trained at lr0 * factor (index 26 for start 25). BUILD_NOTES "Presets" has the reading.
    """

    def __init__(self, initial: float, steps_per_epoch: int, start_epoch: int,
                 factor: float = 0.5):
        if steps_per_epoch <= 0 or start_epoch < 0:
            raise ValueError(f"CompoundEpochDecay: need steps_per_epoch > 0 and start_epoch >= 0,"
                             f" got {steps_per_epoch}, {start_epoch}")
        self.initial = float(initial)
        self.steps_per_epoch = int(steps_per_epoch)
        self.start_epoch = int(start_epoch)
        self.factor = float(factor)

    def __call__(self, step):
        epoch = tf.cast(step, tf.int64) // self.steps_per_epoch     # exact for any step count
        n = tf.cast(tf.maximum(epoch - self.start_epoch, 0), tf.float32)
        return self.initial * tf.pow(self.factor, n)

    def get_config(self):
        return {"initial": self.initial, "steps_per_epoch": self.steps_per_epoch,
                "start_epoch": self.start_epoch, "factor": self.factor}


# -- chunked multi-stage training plans (pure Python) ------------------------------------------

@dataclasses.dataclass(frozen=True)
class Stage:
    """One training session of a chunked schedule: ``ground_truths`` examples (indices
    ``[first, first + ground_truths)`` of the data set) in ``variants`` (each example once per
    variant, mixed in one stream), split into chunks of ``chunk_size`` examples, each chunk
    trained for ``epochs_per_chunk`` epochs before the next."""

    name: str
    ground_truths: int
    variants: Tuple[str, ...]
    chunk_size: int
    epochs_per_chunk: int
    first: int = 0


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One chunk of a :class:`Stage` in a plan: its examples ``[start, stop)``, its epochs
    ``[first_epoch, last_epoch)`` of the whole run, its index in the stage and in the run."""

    stage: Stage
    stage_index: int
    index_in_stage: int
    index: int
    start: int
    stop: int
    first_epoch: int
    last_epoch: int

    @property
    def chunks_in_stage(self) -> int:
        return -(-self.stage.ground_truths // self.stage.chunk_size)


def chunk_plan(stages: Sequence[Stage]) -> List[Chunk]:
    """The chunks of ``stages`` in training order, with consecutive epoch ranges. Stages with
    no examples are skipped (their chunks do not count). Raises ValueError naming the stage
    for a non-positive chunk size or epoch count."""
    out, epoch, index = [], 0, 0
    for s_i, stage in enumerate(stages):
        if stage.ground_truths < 0 or stage.first < 0:
            raise ValueError(f"stage {stage.name!r}: ground_truths and first must be >= 0, got "
                             f"{stage.ground_truths}, {stage.first}")
        if stage.ground_truths == 0:
            continue
        if stage.chunk_size <= 0 or stage.epochs_per_chunk <= 0 or not stage.variants:
            raise ValueError(f"stage {stage.name!r}: needs chunk_size > 0, epochs_per_chunk > 0 "
                             f"and at least one variant, got {stage.chunk_size}, "
                             f"{stage.epochs_per_chunk}, {stage.variants}")
        for c in range(-(-stage.ground_truths // stage.chunk_size)):
            start = stage.first + c * stage.chunk_size
            stop = min(start + stage.chunk_size, stage.first + stage.ground_truths)
            out.append(Chunk(stage, s_i, c, index, start, stop, epoch,
                             epoch + stage.epochs_per_chunk))
            epoch += stage.epochs_per_chunk
            index += 1
    if not out:
        raise ValueError("chunk_plan: every stage is empty (no ground truths to train on)")
    return out
