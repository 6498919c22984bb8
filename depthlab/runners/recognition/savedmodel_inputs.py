"""Hallucinated depth D~ from a TS-GAN generator SavedModel (paper sections 4.2 "Protocols"
and 5.2: the student's trained generator, the mapping of Eq. 1, gives the depth of every RGB
image that the recognition networks of Tables 2-5 take).

The SavedModel (``experiments/export_savedmodel`` / ``depthlab.export.export_depth_generator``)
is checked at load time: serving_default(rgb: uint8 (N, H, W, 3)) -> {'depth': float32 [0, 1]
(N, S, S, 1)}, near = bright, the same convention as the ground truth here
(``data_pipelines.paired.tsgan_depth_to_unit``).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import tensorflow as tf


GENERATOR_SIGNATURE = ("serving_default(rgb: uint8 (N, H, W, 3)) -> {'depth': float32 "
                       "(N, H, W, 1) in [0, 1]} (the input's size), as written by experiments.export_savedmodel")


def load_depth_generator(path: str, batch_size: int = 32) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 RGB (N, H, W, 3) -> float32 D~ (N, S, S) in [0, 1], from a generator SavedModel.

    A missing directory or a SavedModel without the exported signature is a clear error.
    """
    if not path or not os.path.isdir(path):
        raise FileNotFoundError(f"--generator={path}: not a directory; expected a SavedModel "
                                f"with {GENERATOR_SIGNATURE}")
    try:
        obj = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 - re-raised with the path named
        raise ValueError(f"--generator={path}: cannot load a SavedModel ({e}); expected "
                         f"{GENERATOR_SIGNATURE}") from e
    sig = getattr(obj, "signatures", {}).get("serving_default")
    problem = None
    if sig is None:
        problem = "it has no serving_default signature"
    else:
        _, kwargs = sig.structured_input_signature
        spec = kwargs.get("rgb")
        outputs = sig.structured_outputs
        if spec is None or len(kwargs) != 1:
            problem = f"its inputs are {sorted(kwargs)}, not ['rgb']"
        elif spec.dtype != tf.uint8 or spec.shape.rank != 4 or spec.shape[-1] not in (3, None):
            problem = f"its 'rgb' input is {spec.dtype.name} {spec.shape}, not uint8 (N, H, W, 3)"
        elif not isinstance(outputs, dict) or "depth" not in outputs:
            problem = f"its outputs are {sorted(outputs) if isinstance(outputs, dict) else outputs}" \
                      ", with no 'depth'"
        elif outputs["depth"].dtype != tf.float32 or outputs["depth"].shape.rank != 4:
            problem = (f"its 'depth' output is {outputs['depth'].dtype.name} "
                       f"{outputs['depth'].shape}, not float32 (N, S, S, 1)")
    if problem:
        raise ValueError(f"--generator={path}: wrong signature: {problem}; expected "
                         f"{GENERATOR_SIGNATURE}")

    def hallucinate(rgb: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(rgb), batch_size):
            depth = sig(rgb=tf.constant(rgb[start:start + batch_size], tf.uint8))["depth"]
            out.append(depth.numpy()[..., 0])
        return np.concatenate(out).astype(np.float32)

    return hallucinate
