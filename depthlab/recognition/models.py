"""Recognition classifiers and TS-GAN's fusion strategies (paper section 4.2).

Every model takes a dict of streams, each a 3-channel image in [0, 1]:
``{'rgb': (B, H, W, 3), 'depth': (B, H, W, 3)}`` where 'depth' is ground-truth depth D or
hallucinated depth D~ replicated to 3 channels. The stream a model reads is part of its
config, so RGB-only, depth-only and fused models share one data path.

- ``StreamClassifier``: one backbone on one stream -> Dense logits (RGB-only and depth-only
  baselines; the two members of score-level fusion).
- ``FeatureFusionClassifier``: one backbone per stream, embeddings concatenated, then a Dense
  classifier (feature-level fusion), trained end to end.
- ``ScoreFusion``: ``w * softmax(rgb model) + (1 - w) * softmax(depth model)`` of two
  separately trained ``StreamClassifier``s (score-level fusion; w = 0.5 is the plain average).

Classifiers output logits; ``scores()`` gives softmax probabilities. The backbone is rebuilt
from its spec (name, input shape, embedding size, width) on deserialisation; weights travel
with the model file.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import keras
import tensorflow as tf
from keras import layers

from depthlab.recognition.backbones import build_backbone

_PACKAGE = "depthlab"
STREAMS = ("rgb", "depth")


def _spec(backbone: str, image_size: int, embedding_dim: int, width: float) -> dict:
    return {"backbone": backbone, "image_size": int(image_size),
            "embedding_dim": int(embedding_dim), "width": float(width)}


def fuse_scores(scores_a, scores_b, weight: float = 0.5):
    """Score-level fusion: ``weight * a + (1 - weight) * b`` of two (N, C) probability arrays."""
    if not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"--score_weight must be in [0, 1], got {weight}")
    a = tf.convert_to_tensor(scores_a, tf.float32)
    b = tf.convert_to_tensor(scores_b, tf.float32)
    if a.shape != b.shape:
        raise ValueError(f"fuse_scores: score shapes differ, {a.shape} vs {b.shape}")
    return float(weight) * a + (1.0 - float(weight)) * b


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StreamClassifier(keras.Model):
    """Backbone on ``inputs[stream]`` -> Dense(num_classes) logits."""

    def __init__(self, num_classes: int, stream: str = "rgb", backbone: str = "resnet50",
                 image_size: int = 128, embedding_dim: int = 512, width: float = 1.0,
                 dropout: float = 0.0, weights_path: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        if int(num_classes) < 2:
            raise ValueError(f"a classifier needs >= 2 identities, got {num_classes}")
        self.num_classes, self.stream, self.dropout_rate = int(num_classes), stream, float(dropout)
        self.spec = _spec(backbone, image_size, embedding_dim, width)
        self.backbone = build_backbone(backbone, (image_size, image_size, 3), weights_path,
                                       embedding_dim, width, model_name=f"{stream}_{backbone}")
        self.dropout = layers.Dropout(self.dropout_rate)
        self.classifier = layers.Dense(self.num_classes, name="logits")

    def embed(self, inputs, training=False):
        x = inputs[self.stream] if isinstance(inputs, dict) else inputs
        return self.backbone(x, training=training)

    def call(self, inputs, training=False):
        return self.classifier(self.dropout(self.embed(inputs, training), training=training))

    def scores(self, inputs):
        return tf.nn.softmax(tf.cast(self(inputs, training=False), tf.float32), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "stream": self.stream,
                       "dropout": self.dropout_rate, **self.spec})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeatureFusionClassifier(keras.Model):
    """Feature-level fusion: concat(backbone_rgb(rgb), backbone_depth(depth)) -> Dense logits."""

    def __init__(self, num_classes: int, backbone: str = "resnet50", image_size: int = 128,
                 embedding_dim: int = 512, width: float = 1.0, dropout: float = 0.0,
                 weights_path: Optional[str] = None, streams: Sequence[str] = STREAMS, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"a classifier needs >= 2 identities, got {num_classes}")
        self.num_classes, self.dropout_rate = int(num_classes), float(dropout)
        self.streams = tuple(streams)
        if len(self.streams) != 2 or any(s not in STREAMS for s in self.streams):
            raise ValueError(f"feature fusion takes two of {STREAMS}, got {streams}")
        self.spec = _spec(backbone, image_size, embedding_dim, width)
        self.backbones = {s: build_backbone(backbone, (image_size, image_size, 3), weights_path,
                                            embedding_dim, width, model_name=f"{s}_{backbone}")
                          for s in self.streams}
        self.concat = layers.Concatenate(name="fused_embedding")
        self.dropout = layers.Dropout(self.dropout_rate)
        self.classifier = layers.Dense(self.num_classes, name="logits")

    def embed(self, inputs, training=False):
        return self.concat([self.backbones[s](inputs[s], training=training) for s in self.streams])

    def call(self, inputs, training=False):
        return self.classifier(self.dropout(self.embed(inputs, training), training=training))

    def scores(self, inputs):
        return tf.nn.softmax(tf.cast(self(inputs, training=False), tf.float32), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout_rate,
                       "streams": list(self.streams), **self.spec})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScoreFusion(keras.Model):
    """Score-level fusion of two separately trained classifiers (not trained itself)."""

    def __init__(self, rgb_model: keras.Model, depth_model: keras.Model, weight: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(rgb_model, dict):
            rgb_model = keras.saving.deserialize_keras_object(rgb_model)
        if isinstance(depth_model, dict):
            depth_model = keras.saving.deserialize_keras_object(depth_model)
        if not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"--score_weight must be in [0, 1], got {weight}")
        self.rgb_model, self.depth_model, self.weight = rgb_model, depth_model, float(weight)

    def call(self, inputs, training=False):
        a = tf.nn.softmax(tf.cast(self.rgb_model(inputs, training=False), tf.float32), axis=-1)
        b = tf.nn.softmax(tf.cast(self.depth_model(inputs, training=False), tf.float32), axis=-1)
        return fuse_scores(a, b, self.weight)

    def scores(self, inputs):
        return self(inputs, training=False)

    def get_config(self):
        config = super().get_config()
        config.update({"rgb_model": keras.saving.serialize_keras_object(self.rgb_model),
                       "depth_model": keras.saving.serialize_keras_object(self.depth_model),
                       "weight": self.weight})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_classifier(inputs: str, fusion: str, num_classes: int, backbone: str,
                     image_size: int, embedding_dim: int, width: float, dropout: float = 0.0,
                     weights_path: Optional[str] = None) -> Dict[str, keras.Model]:
    """The trainable models of one run, by role.

    ``inputs``: 'rgb' | 'depth' | 'depth_hallucinated' (one stream) or 'rgbd' |
    'rgbd_hallucinated' (two streams). Two streams with ``fusion='feature'`` give
    ``{'fused': FeatureFusionClassifier}``; with ``fusion='score'`` ``{'rgb': ..., 'depth': ...}``
    (two StreamClassifiers trained separately, then ``ScoreFusion``).
    """
    kw = dict(backbone=backbone, image_size=image_size, embedding_dim=embedding_dim,
              width=width, dropout=dropout, weights_path=weights_path)
    if inputs == "rgb":
        return {"rgb": StreamClassifier(num_classes, "rgb", name="rgb_classifier", **kw)}
    if inputs in ("depth", "depth_hallucinated"):
        return {"depth": StreamClassifier(num_classes, "depth", name="depth_classifier", **kw)}
    if inputs not in ("rgbd", "rgbd_hallucinated"):
        raise ValueError(f"--inputs={inputs!r} is not one of {INPUTS}")
    if fusion == "feature":
        return {"fused": FeatureFusionClassifier(num_classes, name="feature_fusion", **kw)}
    if fusion == "score":
        return {"rgb": StreamClassifier(num_classes, "rgb", name="rgb_classifier", **kw),
                "depth": StreamClassifier(num_classes, "depth", name="depth_classifier", **kw)}
    raise ValueError(f"--fusion={fusion!r} is not one of {FUSIONS}")


INPUTS = ("rgb", "depth", "depth_hallucinated", "rgbd", "rgbd_hallucinated")
FUSIONS = ("feature", "score")
