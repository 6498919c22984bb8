"""The attention blocks of the two RGB-D fusions TS-GAN compares against (paper section 4.2).

- ``FeatureMapLSTMAttention``: level 1 of the two-level attention fusion (Uppal et al.,
  "Two-level attention-based fusion learning for RGB-D face recognition", ICPR 2020): an LSTM
  reads the concatenated RGB+depth feature maps as a sequence of the h*w positions' C-vectors;
  its last hidden state -> Dense(C, tanh) -> sigmoid gives one weight per feature map, and
  the maps are multiplied by their weights. Level 2 is CBAM's spatial attention
  (``depthlab.layers.SpatialAttention``).
- ``DepthGuidedAttention``: the depth-guided attention (Uppal et al., "Depth as attention for
  face representation learning", IEEE TIFS 2021), reconstructed: RGB and depth maps are
  embedded per position (Dense, tanh), every RGB position is correlated with every depth
  position (dot products, an (h*w, h*w) matrix), the correlations of each RGB position are
  pooled (Dense -> V), a 1x1 conv + BN give one logit per position and a softmax over the
  h*w positions the attention map; the RGB maps are weighted by it (rescaled so that a uniform
  map leaves them unchanged).

Sources, the authors' Keras code (github.com/hardik-uppal/CNN-fusion-networks,
``attention_module.py``: ``channel_attention_lstm``, ``spatial_attention``,
``senet_attention``) and every reconstruction choice: BUILD_NOTES.md, recognition section.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf
from keras import layers

from depthlab.nets.recognition_backbones import BN_MOMENTUM

_PACKAGE = "depthlab"
EMBED_ACTIVATIONS = ("tanh", "relu_tanh")
MAP_SCALES = ("positions", "none")


def _feature_shape(shape, who: str):
    if len(shape) != 4 or shape[-1] is None:
        raise ValueError(f"{who} expects (B, H, W, C) feature maps with known C, got {shape}")
    return shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeatureMapLSTMAttention(layers.Layer):
    """Feature-map (channel) attention from an LSTM over the spatial positions.

    x: (B, h, w, C). s = LSTM([x_1, ..., x_{hw}]) (last hidden state, ``units`` wide, default
    C as in the authors' code; positions in row-major order), a = sigmoid(tanh(W s + b)) in
    (0.27, 0.73)^C, out = x * a (per channel). ``return_weights=True``: ``(out, a)``.
    """

    def __init__(self, units: Optional[int] = None, return_weights: bool = False, **kwargs):
        super().__init__(**kwargs)
        if units is not None and int(units) < 1:
            raise ValueError(f"FeatureMapLSTMAttention: units must be >= 1, got {units}")
        self.units = None if units is None else int(units)
        self.return_weights = bool(return_weights)

    def build(self, input_shape):
        channels = int(_feature_shape(input_shape, "FeatureMapLSTMAttention")[-1])
        self.lstm = layers.LSTM(self.units or channels, activation="tanh", name="lstm")
        self.fc = layers.Dense(channels, activation="tanh", kernel_initializer="he_normal",
                               name="attention_fc")
        self.lstm.build((input_shape[0], None, channels))
        self.fc.build((input_shape[0], self.units or channels))
        self.built = True

    def call(self, x):
        sequence = tf.reshape(x, [tf.shape(x)[0], -1, x.shape[-1]])
        weights = tf.sigmoid(self.fc(self.lstm(sequence)))
        out = x * tf.cast(weights, x.dtype)[:, None, None, :]
        return (out, weights) if self.return_weights else out

    def compute_output_shape(self, input_shape):
        if self.return_weights:
            return input_shape, (input_shape[0], input_shape[-1])
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "return_weights": self.return_weights})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthGuidedAttention(layers.Layer):
    """Depth features -> a spatial attention map over the RGB features (reconstruction).

    Inputs ``[rgb, depth]``, (B, h, w, C) and (B, h, w, C_d) on the same h x w grid. With
    N = h*w: q = tanh(Dense_q(rgb)), k = tanh(Dense_k(depth)), (B, N, E) (``embed_dim`` E,
    default C; ``embed_activation='relu_tanh'``: tanh(relu(.)), the authors' code);
    S = q k^T (B, N, N), S[i, j] = correlation of RGB position i with depth position j;
    P = Dense_V(S) (B, N, V) ("feature pooling", ``pool_dim`` V, default C); l = BN(conv1x1(P))
    (B, N, 1); a = softmax over the N positions; out = rgb * N a (``map_scale='positions'``)
    or rgb * a (``'none'``). ``return_map=True``: ``(out, a)`` with a (B, h, w, 1), sum 1.
    """

    def __init__(self, embed_dim: Optional[int] = None, pool_dim: Optional[int] = None,
                 embed_activation: str = "tanh", map_scale: str = "positions",
                 return_map: bool = False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("embed_dim", embed_dim), ("pool_dim", pool_dim)):
            if value is not None and int(value) < 1:
                raise ValueError(f"DepthGuidedAttention: {name} must be >= 1, got {value}")
        if embed_activation not in EMBED_ACTIVATIONS:
            raise ValueError(f"DepthGuidedAttention: embed_activation must be one of "
                             f"{EMBED_ACTIVATIONS}, got {embed_activation!r}")
        if map_scale not in MAP_SCALES:
            raise ValueError(f"DepthGuidedAttention: map_scale must be one of {MAP_SCALES}, "
                             f"got {map_scale!r}")
        self.embed_dim = None if embed_dim is None else int(embed_dim)
        self.pool_dim = None if pool_dim is None else int(pool_dim)
        self.embed_activation, self.map_scale = embed_activation, map_scale
        self.return_map = bool(return_map)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError("DepthGuidedAttention takes [rgb_features, depth_features]")
        rgb = _feature_shape(tuple(input_shape[0]), "DepthGuidedAttention (rgb)")
        depth = _feature_shape(tuple(input_shape[1]), "DepthGuidedAttention (depth)")
        if rgb[1:3] != depth[1:3] or None in rgb[1:3]:
            raise ValueError(f"DepthGuidedAttention: rgb and depth feature maps must share a "
                             f"known h x w grid, got {rgb} and {depth}")
        channels, positions = int(rgb[-1]), int(rgb[1]) * int(rgb[2])
        embed = self.embed_dim or channels
        act = "relu" if self.embed_activation == "relu_tanh" else None
        self.embed_rgb = layers.Dense(embed, activation=act, kernel_initializer="he_normal",
                                      name="embed_rgb")
        self.embed_depth = layers.Dense(embed, activation=act, kernel_initializer="he_normal",
                                        name="embed_depth")
        self.pool = layers.Dense(self.pool_dim or channels, kernel_initializer="he_normal",
                                 name="feature_pooling")
        self.conv = layers.Conv2D(1, 1, use_bias=False, kernel_initializer="he_normal",
                                  name="attention_conv")
        self.bn = layers.BatchNormalization(momentum=BN_MOMENTUM, name="attention_bn")
        self.embed_rgb.build(rgb)
        self.embed_depth.build(depth)
        self.pool.build((rgb[0], positions, positions))
        self.conv.build((rgb[0], rgb[1], rgb[2], self.pool_dim or channels))
        self.bn.build((rgb[0], rgb[1], rgb[2], 1))
        self.built = True

    def call(self, inputs, training=False):
        rgb, depth = inputs
        h, w = rgb.shape[1], rgb.shape[2]
        batch = tf.shape(rgb)[0]
        q = tf.reshape(tf.tanh(self.embed_rgb(rgb)), [batch, h * w, -1])
        k = tf.reshape(tf.tanh(self.embed_depth(depth)), [batch, h * w, -1])
        correlation = tf.matmul(q, k, transpose_b=True)
        pooled = tf.reshape(self.pool(correlation), [batch, h, w, -1])
        logits = self.bn(self.conv(pooled), training=training)
        flat = tf.nn.softmax(tf.reshape(tf.cast(logits, tf.float32), [batch, h * w]), axis=-1)
        attention = tf.reshape(flat, [batch, h, w, 1])
        scale = float(h * w) if self.map_scale == "positions" else 1.0
        out = rgb * tf.cast(attention * scale, rgb.dtype)
        return (out, attention) if self.return_map else out

    def compute_output_shape(self, input_shape):
        rgb = tuple(input_shape[0])
        return (rgb, (*rgb[:3], 1)) if self.return_map else rgb

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "pool_dim": self.pool_dim,
                       "embed_activation": self.embed_activation, "map_scale": self.map_scale,
                       "return_map": self.return_map})
        return config
