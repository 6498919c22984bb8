"""Collapse guard (issue 21): one Keras callback every trainer adds to its callbacks.

Every ``every`` training steps (and at each epoch end) the guard runs the model on a FIXED
probe batch (``probe(model) -> (prediction, target, mask)``, all in the target's units) and
computes, over the probe's valid elements:

* ``output_var`` / ``target_var``: the variance of the prediction / of the target over all
  valid elements of the batch (every pixel of every example);
* ``batch_output_var`` / ``batch_target_var``: the variance ACROSS the probe's examples at each
  position, averaged over the positions (zero when the output is the same for every input,
  e.g. one mean face for every face);
* ``loss``: the mean squared error of the prediction, and ``constant_loss``: the mean squared
  error of the constant predictor "the target's mean" on the same elements (= ``target_var``).

It reports a collapse when, on ``patience`` consecutive checks (at once when a ratio below is
under ``var_ratio ** 2``, i.e. the output is constant to float precision),

1. ``output_var < var_ratio * target_var`` (the output is constant), or
2. ``batch_output_var < var_ratio * batch_target_var`` (the output does not depend on the
   input), each while the probe loss falls by less than ``stall_min_delta`` (relative) over
   the streak (a near-constant output that is still learning, e.g. a network started at the
   best constant, is not a collapse), or, on ``stall_patience`` consecutive checks,
3. ``|loss / constant_loss - 1| <= stall_tol`` and the loss improved by less than
   ``stall_min_delta`` (relative) over those checks: the loss stalls at the level of
   predicting the target's mean. (A loss far ABOVE it is an untrained or noisy model, e.g.
   a GAN's first steps, not a collapse onto the mean; a constant output at a wrong level is
   caught by criterion 1.)
4. divergence: the output is not finite (at once), or ``loss > diverge_ratio *
   max(constant_loss, zero_loss)`` on ``patience`` consecutive checks, ``zero_loss`` being the
   MSE of predicting 0 (the mean square of the target): an error 10x the target's own
   magnitude. (Relative to ``constant_loss`` alone an untrained net that outputs ~0 for metric
   depth far from 0 would count: the two-stage stage 1 starts at ~500x it; the stage 1 at
   batch 2 really diverges, to 1e9-1e21x.)

Classifiers (``kind='classifier'``; the probe returns ``(logits (N, C), labels (N,), None)``):
the analogue is the outputs collapsing to one class: the same predicted class for every probe
input while the probe's labels hold several classes, on ``patience`` consecutive checks
(constant logits give exactly that). Accuracy at chance is recorded (``accuracy``,
``chance``) but is not a criterion: a short run legitimately sits at chance.

A collapse is printed at once ("COLLAPSE: ... at epoch E step S"), written to TensorBoard
(``collapse/*`` scalars, ``collapse/collapsed`` = 1) and to ``<model_dir>/collapse.json``
(``{"collapsed": true, "reason": ...}``; the record is written at the end of every fit, with
``"collapsed": false`` when nothing was found, and a collapse stays recorded on resume).
``mode='stop'`` also ends training (``model.stop_training``); ``'off'`` adds no guard.
The thresholds and why: BUILD_NOTES.md, "Collapse guard and reproduce (issue 21)".
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

import keras
import numpy as np

from depthlab.core.options import COLLAPSE_MODES as MODES  # noqa: E402 (one owner)
RECORD = "collapse.json"

#: output variance / target variance below this is "constant" (std ratio ~3 %).
VAR_RATIO = 1e-3
#: consecutive checks a variance criterion must hold for.
PATIENCE = 2
#: the loss counts as "at the constant predictor's level" within (1 +- STALL_TOL) x its loss ...
STALL_TOL = 0.05
#: ... on STALL_PATIENCE consecutive checks, improving by less than STALL_MIN_DELTA (relative).
STALL_PATIENCE = 4
STALL_MIN_DELTA = 0.01
#: probe MSE above this many times max(the constant predictor's, predicting 0's): diverged.
DIVERGE_RATIO = 100.0

Probe = Callable[[keras.Model], Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]


def check_mode(mode: str, flag: str = "--collapse_guard") -> str:
    if mode not in MODES:
        raise ValueError(f"{flag}={mode!r} is not one of {MODES}")
    return mode


def probe_stats(pred, target, mask=None) -> Dict[str, float]:
    """The guard's numbers for one probe batch (see the module docstring).

    ``pred`` and ``target`` have the same shape (N, ...); ``mask`` (broadcastable to it,
    True = valid) selects the elements that count (default: all)."""
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
    valid = (np.ones(pred.shape, bool) if mask is None
             else np.broadcast_to(np.asarray(mask, bool), pred.shape))
    if not valid.any():
        raise ValueError("the probe batch has no valid element")
    p, t = pred[valid], target[valid]
    out = {"output_var": float(p.var()), "target_var": float(t.var()),
           "loss": float(np.mean((p - t) ** 2)),
           "constant_loss": float(np.mean((t - t.mean()) ** 2)),
           "zero_loss": float(np.mean(t ** 2))}
    # across the examples, per position: weighted by validity, positions valid in >= 2 examples
    n = pred.shape[0]
    w = valid.reshape(n, -1).astype(np.float64)
    count = w.sum(0)
    keep = count >= 2
    if n >= 2 and keep.any():
        w = w[:, keep]
        for key, x in (("batch_output_var", pred), ("batch_target_var", target)):
            x = x.reshape(n, -1)[:, keep]
            mean = (w * x).sum(0) / w.sum(0)
            out[key] = float(np.mean((w * (x - mean) ** 2).sum(0) / w.sum(0)))
    else:
        out["batch_output_var"] = out["batch_target_var"] = float("nan")
    return out


def classifier_stats(logits, labels) -> Dict[str, float]:
    """Predicted classes of the probe's logits vs its labels (see the module docstring)."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels).reshape(-1)
    pred = logits.argmax(-1).reshape(-1)
    counts = np.bincount(labels.astype(np.int64))
    return {"pred_classes": int(len(np.unique(pred))), "label_classes": int(len(np.unique(labels))),
            "top_class": int(np.bincount(pred).argmax()),
            "accuracy": float(np.mean(pred == labels)), "chance": float(counts.max() / counts.sum()),
            "batch_output_var": float(logits.var(axis=0).mean()) if len(logits) > 1 else float("nan")}


def read_record(model_dir: str) -> Optional[dict]:
    """``<model_dir>/collapse.json`` or None."""
    import json

    path = os.path.join(model_dir, RECORD)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class CollapseGuard(keras.callbacks.Callback):
    """Watches the output on a fixed probe batch and the probe loss (module docstring)."""

    def __init__(self, probe: Probe, mode: str = "warn", name: str = "model", every: int = 10,
                 model_dir: Optional[str] = None, summary_dir: Optional[str] = None,
                 log: Optional[Callable[[str], None]] = None, chief: bool = True,
                 var_ratio: float = VAR_RATIO, patience: int = PATIENCE,
                 stall_tol: float = STALL_TOL, stall_patience: int = STALL_PATIENCE,
                 stall_min_delta: float = STALL_MIN_DELTA, initial_step: int = 0,
                 initial_epoch: int = 0, kind: str = "regression",
                 diverge_ratio: float = DIVERGE_RATIO):
        super().__init__()
        if kind not in ("regression", "classifier"):
            raise ValueError(f"kind={kind!r} is not 'regression' or 'classifier'")
        self.kind = kind
        self.mode = check_mode(mode)
        if mode == "off":
            raise ValueError("--collapse_guard=off adds no guard (use guard_callbacks)")
        self.probe, self.name, self.every = probe, name, max(1, int(every))
        self.model_dir, self.chief = model_dir, chief
        self.log = log or (lambda msg: print(msg, file=sys.stdout, flush=True))
        self.var_ratio, self.patience = float(var_ratio), max(1, int(patience))
        self.stall_tol, self.stall_patience = float(stall_tol), max(1, int(stall_patience))
        self.stall_min_delta = float(stall_min_delta)
        self.diverge_ratio = float(diverge_ratio)
        self.step, self.epoch = int(initial_step), int(initial_epoch)
        self.writer = None
        if summary_dir and chief:
            import tensorflow as tf

            self.writer = tf.summary.create_file_writer(summary_dir)
        self.history: List[dict] = []
        self.collapsed, self.reason, self.at = False, None, None
        self._streak = {"constant": 0, "input_independent": 0, "stall": 0, "diverged": 0}
        self._stall_start = None
        self._var_start: Dict[str, float] = {}     # probe loss when a variance streak began
        self._last_checked = None
        previous = read_record(model_dir) if model_dir else None
        if previous and previous.get("collapsed"):       # sticky over a resume
            self.collapsed, self.reason = True, previous.get("reason")
            self.at = {"epoch": previous.get("epoch"), "step": previous.get("step")}

    def set_initial_step(self, step: int, epoch: int = 0) -> None:
        self.step, self.epoch = int(step), int(epoch)

    # -- callback hooks ---------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if self.collapsed and self.mode == "stop":
            self.log(f"COLLAPSE: {self.name} collapsed earlier ({self.reason}); "
                     "--collapse_guard=stop: not training on")
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch) + 1        # 1-based: the epoch being trained

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.check()

    def on_epoch_end(self, epoch, logs=None):
        if self._last_checked != self.step:
            self.check()

    def on_train_end(self, logs=None):
        self.write_record()

    # -- the check --------------------------------------------------------------------------
    def check(self, model: Optional[keras.Model] = None) -> dict:
        """Runs the probe once, updates the criteria; returns the numbers of this check."""
        model = model if model is not None else self.model
        pred, target, mask = self.probe(model)
        s = (classifier_stats(pred, target) if self.kind == "classifier"
             else probe_stats(pred, target, mask))
        s.update(epoch=self.epoch, step=self.step)
        self.history.append(s)
        self._last_checked = self.step
        found = self._update(s)
        if found and not self.collapsed:
            self.collapsed, self.reason = True, found
            self.at = {"epoch": self.epoch, "step": self.step}
            self.log(f"COLLAPSE: {self.name}: {found} at epoch {self.epoch} step {self.step}"
                     + (" -- stopping (--collapse_guard=stop)" if self.mode == "stop" else
                        " (--collapse_guard=warn: training goes on)"))
            self.write_record()
            if self.mode == "stop" and self.model is not None:
                self.model.stop_training = True
        self._summary(s)
        return s

    def _update(self, s: dict) -> Optional[str]:
        if self.kind == "classifier":
            if s["pred_classes"] == 1 and s["label_classes"] >= 2:
                self._streak["constant"] += 1
                if self._streak["constant"] >= self.patience:
                    return (f"outputs collapsed to one class: class {s['top_class']} predicted "
                            f"for every probe input (labels hold {s['label_classes']} classes; "
                            f"accuracy {s['accuracy']:.3f}, chance {s['chance']:.3f})")
            else:
                self._streak["constant"] = 0
            return None
        found = None
        if not (np.isfinite(s["loss"]) and np.isfinite(s["output_var"])):
            return "diverged: the output is not finite (NaN or Inf)"
        if s["target_var"] <= 0:
            return None                          # a constant target: nothing to compare with
        scale = max(s["constant_loss"], s["zero_loss"])
        if s["loss"] > self.diverge_ratio * scale:
            self._streak["diverged"] += 1
            if self._streak["diverged"] >= self.patience:
                return (f"diverged: probe MSE {s['loss']:.4g} = {s['loss'] / scale:.3g} x "
                        f"max(MSE of predicting the target's mean, of predicting 0) = "
                        f"{scale:.4g} (limit {self.diverge_ratio:g}x); "
                        f"output variance {s['output_var']:.3g}, target variance "
                        f"{s['target_var']:.3g}")
        else:
            self._streak["diverged"] = 0
        if s["output_var"] < self.var_ratio * s["target_var"]:
            exact = s["output_var"] < self.var_ratio ** 2 * s["target_var"]
            if self._variance_streak("constant", s["loss"]) >= self.patience or exact:
                found = (f"output is constant: output variance {s['output_var']:.3g} << target "
                         f"variance {s['target_var']:.3g} (ratio "
                         f"{s['output_var'] / s['target_var']:.2e} < {self.var_ratio:g})")
        else:
            self._streak["constant"] = 0
        bt = s["batch_target_var"]
        if np.isfinite(bt) and bt > 0 and s["batch_output_var"] < self.var_ratio * bt:
            exact = s["batch_output_var"] < self.var_ratio ** 2 * bt
            if ((self._variance_streak("input_independent", s["loss"]) >= self.patience
                 or exact) and found is None):
                found = (f"output does not depend on the input: output variance across the "
                         f"probe's examples {s['batch_output_var']:.3g} << target variance "
                         f"{bt:.3g} (ratio {s['batch_output_var'] / bt:.2e} < {self.var_ratio:g})")
        else:
            self._streak["input_independent"] = 0
        c = s["constant_loss"]
        if (1.0 - self.stall_tol) * c <= s["loss"] <= (1.0 + self.stall_tol) * c:
            if self._streak["stall"] == 0:
                self._stall_start = s["loss"]
            self._streak["stall"] += 1
            improved = s["loss"] < (1.0 - self.stall_min_delta) * self._stall_start
            if improved:                         # still learning: restart the streak here
                self._streak["stall"], self._stall_start = 1, s["loss"]
            elif self._streak["stall"] >= self.stall_patience and found is None:
                found = (f"loss stalls at the constant predictor's level: probe MSE "
                         f"{s['loss']:.4g} = {s['loss'] / c:.3f} x {c:.4g} (the MSE of "
                         f"predicting the target's mean) on {self._streak['stall']} "
                         f"checks; output variance {s['output_var']:.3g}, target variance "
                         f"{s['target_var']:.3g}")
        else:
            self._streak["stall"] = 0
        return found

    def _variance_streak(self, key: str, loss: float) -> int:
        """One more check under a variance criterion; the streak restarts while the probe loss
        still falls by at least ``stall_min_delta`` (relative) from the streak's first check.
        A network started at the best constant (the enhancer's head bias at the mean face
        target, issue 21) has a near-constant output that is learning, not collapsed; a
        collapsed one (saturated head, gradient 0) has a flat loss."""
        if self._streak[key] == 0:
            self._var_start[key] = loss
        self._streak[key] += 1
        if loss < (1.0 - self.stall_min_delta) * self._var_start[key]:
            self._streak[key], self._var_start[key] = 1, loss
        return self._streak[key]

    def _summary(self, s: dict) -> None:
        if self.writer is None:
            return
        import tensorflow as tf

        with self.writer.as_default(), tf.summary.record_if(True):
            for key, value in s.items():
                if key not in ("epoch", "step"):
                    tf.summary.scalar(f"collapse/{key}", value, step=self.step)
            if "target_var" in s:
                ratio = s["output_var"] / s["target_var"] if s["target_var"] > 0 else float("nan")
                tf.summary.scalar("collapse/variance_ratio", ratio, step=self.step)
            tf.summary.scalar("collapse/collapsed", float(self.collapsed), step=self.step)
        self.writer.flush()

    # -- results ----------------------------------------------------------------------------
    def summary(self) -> dict:
        """``{"collapsed", "reason", "epoch", "step", "mode", "criterion", "last"}``."""
        return {"collapsed": bool(self.collapsed), "reason": self.reason,
                "epoch": (self.at or {}).get("epoch"), "step": (self.at or {}).get("step"),
                "model": self.name, "kind": self.kind, "mode": self.mode,
                "checks": len(self.history),
                "criterion": {"var_ratio": self.var_ratio, "patience": self.patience,
                              "stall_tol": self.stall_tol, "stall_patience": self.stall_patience,
                              "stall_min_delta": self.stall_min_delta,
                              "diverge_ratio": self.diverge_ratio, "every": self.every},
                "last": ({k: None if isinstance(v, float) and not np.isfinite(v) else v
                          for k, v in self.history[-1].items()} if self.history else None),
                "trace": self.trace()}

    def trace(self, last: int = 100) -> List[list]:
        """``[step, output_var / target_var, loss / constant_loss]`` of the last checks
        (classifier: ``[step, predicted classes, accuracy]``)."""
        rows = []
        for h in self.history[-last:]:
            if self.kind == "classifier":
                rows.append([h["step"], h["pred_classes"], round(h["accuracy"], 4)])
            else:
                t, c = h["target_var"], h["constant_loss"]
                r = [h["output_var"] / t if t > 0 else None, h["loss"] / c if c > 0 else None]
                rows.append([h["step"]] + [float(f"{v:.4g}") if v is not None and np.isfinite(v)
                                           else None for v in r])
        return rows

    def write_record(self) -> None:
        if self.model_dir and self.chief:
            from depthlab import training

            training.write_json(os.path.join(self.model_dir, RECORD), self.summary())


def guard_callbacks(mode: str, probe: Probe, **kwargs) -> List[CollapseGuard]:
    """``[CollapseGuard(probe, mode, **kwargs)]``, or ``[]`` for ``mode='off'``. A trainer's
    defaults: TensorBoard scalars under ``<model_dir>/tensorboard/collapse``, and silence on
    non-chief workers (``chief=False``)."""
    if check_mode(mode) == "off":
        return []
    if kwargs.get("model_dir") and "summary_dir" not in kwargs:
        kwargs["summary_dir"] = os.path.join(kwargs["model_dir"], "tensorboard", "collapse")
    if not kwargs.get("chief", True) and "log" not in kwargs:
        kwargs["log"] = lambda message: None
    return [CollapseGuard(probe, mode=mode, **kwargs)]


def mark(final: dict, guards: List[CollapseGuard]) -> dict:
    """Adds ``collapsed`` (bool; None without a guard) and ``collapse_reason`` to a run's final
    summary dict (in place; returned)."""
    if not guards:
        final.update(collapsed=None, collapse_reason="--collapse_guard=off")
        return final
    hit = [g for g in guards if g.collapsed]
    final.update(collapsed=bool(hit),
                 collapse_reason="; ".join(f"{g.name}: {g.reason}" for g in hit) or None)
    return final


def status_line(final: dict) -> str:
    """One line for a trainer's end-of-run output from a dict marked by :func:`mark`."""
    if final.get("collapsed") is None:
        return "collapse guard: off"
    if final["collapsed"]:
        return f"COLLAPSED: the model collapsed during training ({final['collapse_reason']})"
    return "collapse guard: no collapse detected"
