"""Pieces of the contrastive-translation rows of Suarez et al. Table 1 that belong to one
paper only (the PatchNCE loss and head they share live in ``depthlab.losses`` /
``depthlab.layers``; their pure losses in ``depthlab.losses``).

- ``SimilarityProjector``: one of SimDCL's four "light networks" H_xr, H_xf, H_yr, H_yf
  (Han et al., "Dual Contrastive Learning for Unsupervised Image-to-Image Translation",
  CVPRW 2021, sec. 3.3, eq. 6).
- ``stack_patch_embeddings``: the (B, P, units, L) stack of one image's L per-layer patch
  embeddings that a ``SimilarityProjector`` reads.
- ``hdce_gamma``: the hDCE temperature curriculum of HnegSRC (Jung et al. 2022).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from keras import layers

_PACKAGE = "depthlab"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SimilarityProjector(layers.Layer):
    """SimDCL light network: a stack of patch embeddings -> one L2-normalised ``units``-vector.

    The paper only says "four light networks ... project them to 64-dim vectors"; the layout
    here is its code's ``MappingF``: the (P patches x C units) stack of the L NCE layers is
    read as a P x C image with L channels, Conv 3x3 stride 2 ('valid', L -> 64) -> ReLU ->
    global average pool -> Dense 64 -> ReLU -> Dense 64 -> L2 normalisation.
    Input (B, P, C, L) (``stack_patch_embeddings``), output (B, units). The code views the
    stack as one image (batch 1); here each image of the batch gets its own vector.
    """

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"SimilarityProjector: units must be >= 1, got {units}")
        self.units = int(units)
        self.conv = layers.Conv2D(self.units, 3, strides=2, padding="valid", activation="relu",
                                  name="conv", dtype=self.dtype_policy)
        self.pool = layers.GlobalAveragePooling2D(name="pool", dtype=self.dtype_policy)
        self.fc1 = layers.Dense(self.units, activation="relu", name="fc1",
                                dtype=self.dtype_policy)
        self.fc2 = layers.Dense(self.units, name="fc2", dtype=self.dtype_policy)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError("SimilarityProjector needs a known layer count (last axis)")
        if input_shape[1] is not None and input_shape[2] is not None and \
                min(int(input_shape[1]), int(input_shape[2])) < 3:
            raise ValueError(f"SimilarityProjector: the patch stack {input_shape} is smaller "
                             "than the 3x3 conv")
        self.conv.build(tuple(input_shape))
        self.fc1.build((input_shape[0], self.units))
        self.fc2.build((input_shape[0], self.units))
        self.built = True

    def call(self, x):
        h = self.fc2(self.fc1(self.pool(self.conv(x))))
        h = tf.cast(h, tf.float32)
        return h * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(h), -1, keepdims=True),
                                            1e-14))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def stack_patch_embeddings(embeddings: Sequence[tf.Tensor]) -> tf.Tensor:
    """L per-layer (B, P_l, C) patch embeddings -> (B, P, C, L) with P = min_l P_l (the first
    P patches of each layer; SimDCL's code stacks L tensors of exactly ``num_patches`` rows)."""
    if not embeddings:
        raise ValueError("stack_patch_embeddings: no embeddings")
    p = min(int(e.shape[1]) for e in embeddings)
    return tf.stack([tf.cast(e[:, :p], tf.float32) for e in embeddings], axis=-1)


def hdce_gamma(step, gamma: float, gamma_min: float, curriculum_steps: int,
               steps_per_epoch: int = 1) -> tf.Tensor:
    """hDCE weight temperature at the 0-based generator ``step``.

    HnegSRC's ``--use_curriculum`` (Jung et al.'s code, ``SRC_Loss.forward``, set once per
    epoch by ``train.py``): gamma + (gamma_min - gamma) * e / E for the 1-based epoch e of
    E = n_epochs + n_epochs_decay, so the first epoch already uses e = 1 and the last epoch
    gamma_min. Here E x ``steps_per_epoch`` = ``curriculum_steps``: with e the 1-based epoch of
    ``step``, gamma + (gamma_min - gamma) * min(e * steps_per_epoch / curriculum_steps, 1)
    (gamma_min after the curriculum). ``curriculum_steps`` 0: constant ``gamma`` (the code
    without ``--use_curriculum``)."""
    if curriculum_steps < 0 or steps_per_epoch < 1:
        raise ValueError(f"hdce_gamma: need curriculum_steps >= 0 and steps_per_epoch >= 1, "
                         f"got {curriculum_steps}, {steps_per_epoch}")
    if curriculum_steps == 0:
        return tf.constant(float(gamma), tf.float32)
    epoch = tf.math.floordiv(tf.cast(step, tf.int64), int(steps_per_epoch)) + 1
    done = tf.cast(epoch * int(steps_per_epoch), tf.float32)
    frac = tf.minimum(done / float(curriculum_steps), 1.0)
    return float(gamma) + (float(gamma_min) - float(gamma)) * frac
