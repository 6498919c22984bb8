"""Recognition classifiers and TS-GAN's fusion strategies (paper section 4.2).

Every model takes a dict of streams, each a 3-channel image in [0, 1]:
``{'rgb': (B, H, W, 3), 'depth': (B, H, W, 3)}`` where 'depth' is ground-truth depth D or
hallucinated depth D~ replicated to 3 channels. The stream a model reads is part of its
config, so RGB-only, depth-only and fused models share one data path.

- ``StreamClassifier``: one backbone on one stream -> Dense logits (RGB-only and depth-only
  baselines; the two members of score-level fusion).
- ``FeatureFusionClassifier``: one backbone per stream, embeddings concatenated, then a Dense
  classifier (feature-level fusion), trained end to end.
- ``FrozenStreamFeatureFusion``: feature-level fusion of two separately trained
  ``StreamClassifier``s: a Dense classifier on their concatenated, L2-normalised embeddings,
  the members frozen (fusion 'feature_frozen').
- ``ScoreFusion``: ``w * softmax(rgb model) + (1 - w) * softmax(depth model)`` of two
  separately trained ``StreamClassifier``s (score-level fusion; w = 0.5 is the plain average),
  or their weighted geometric mean (rule 'product'); ``choose_score_weight`` picks w on
  held-out images.
- ``TwoLevelAttentionClassifier``: the two-level attention fusion (Uppal et al. 2021a): one
  feature extractor per stream, feature maps concatenated, LSTM feature-map attention, then
  spatial attention, then the ``ClassifierHead`` (Flatten -> 2 x (Dense ReLU -> BN) -> logits).
- ``DepthGuidedAttentionClassifier``: the depth-guided attention (Uppal et al. 2021b): the
  depth maps give a spatial attention map that weights the RGB maps -> ``ClassifierHead``;
  two auxiliary identity heads (RGB maps, depth maps) in training (``aux_weight``).

Classifiers output logits; ``scores()`` gives softmax probabilities. The backbone is rebuilt
from its spec (name, input shape, embedding size, width) on deserialisation; weights travel
with the model file.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from depthlab.layers import SpatialAttention
from depthlab.recognition.attention import DepthGuidedAttention, FeatureMapLSTMAttention
from depthlab.nets.recognition_backbones import BN_MOMENTUM, build_backbone, build_feature_extractor
from depthlab.runners.recognition_options import (  # noqa: F401 (TF-free choices)
    ATTENTION_FUSION_NAMES, FUSIONS, INPUTS, SCORE_RULES)

_PACKAGE = "depthlab"
STREAMS = ("rgb", "depth")


def _spec(backbone: str, image_size: int, embedding_dim: int, width: float) -> dict:
    return {"backbone": backbone, "image_size": int(image_size),
            "embedding_dim": int(embedding_dim), "width": float(width)}


SCORE_WEIGHT_GRID = tuple(i / 20 for i in range(21))     # 0, 0.05, ..., 1


def fuse_scores(scores_a, scores_b, weight: float = 0.5, rule: str = "mean"):
    """Score-level fusion of two (N, C) probability arrays, ``weight`` on ``a``.

    'mean': ``w * a + (1 - w) * b`` (the weighted average; w = 0.5 is the paper's plain
    average). 'product': the normalised weighted geometric mean ``a**w * b**(1 - w) / Z``
    (= softmax of ``w log a + (1 - w) log b``, a log-linear pool): a class needs support from
    both members, so a member's low score counts against it even when the other member is
    confident. Probabilities below float32's smallest normal number are clipped to it.
    """
    if not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"--score_weight must be in [0, 1], got {weight}")
    if rule not in SCORE_RULES:
        raise ValueError(f"--score_rule={rule!r} is not one of {SCORE_RULES}")
    a = tf.convert_to_tensor(scores_a, tf.float32)
    b = tf.convert_to_tensor(scores_b, tf.float32)
    if a.shape != b.shape:
        raise ValueError(f"fuse_scores: score shapes differ, {a.shape} vs {b.shape}")
    w = float(weight)
    if rule == "mean":
        return w * a + (1.0 - w) * b
    tiny = np.finfo(np.float32).tiny
    log_pool = w * tf.math.log(tf.maximum(a, tiny)) + (1.0 - w) * tf.math.log(tf.maximum(b, tiny))
    return tf.nn.softmax(log_pool, axis=-1)


def choose_score_weight(scores_a, scores_b, labels, rule: str = "mean",
                        grid: Sequence[float] = SCORE_WEIGHT_GRID) -> dict:
    """The fusion weight with the best rank-1 on held-out (validation) images.

    Each weight of ``grid`` is scored by the rank-1 accuracy of ``fuse_scores`` on the
    validation scores; among equally good weights the middle one of the best (sorted) is
    taken, so a flat optimum does not drift to an end of the grid. Returns ``{'weight',
    'grid', 'rank1' (per grid weight), 'num_images'}``.
    """
    labels = np.asarray(labels)
    grid = [float(w) for w in grid]
    accs = []
    for w in grid:
        fused = fuse_scores(scores_a, scores_b, w, rule).numpy()
        accs.append(float(np.mean(np.argmax(fused, axis=1) == labels)))
    best = sorted(w for w, acc in zip(grid, accs) if acc == max(accs))
    return {"weight": best[(len(best) - 1) // 2], "grid": grid, "rank1": accs,
            "num_images": int(len(labels)), "rule": rule}


def _tracked_scaled_loss(model: keras.Model, loss, logits):
    """Inside a custom ``train_step``'s tape: records ``loss`` in the model's loss metric (as
    Keras' own step does, unscaled for distribution) and returns it scaled by the optimizer
    (a LossScaleOptimizer's factor under float16; the loss itself otherwise)."""
    from keras.src.losses.loss import unscale_loss_for_distribution

    model._loss_tracker.update_state(unscale_loss_for_distribution(loss),
                                     sample_weight=tf.shape(logits)[0])
    return model.optimizer.scale_loss(loss)


def _apply_and_measure(model: keras.Model, tape, scaled_loss, variables, x, y, logits,
                       sample_weight):
    """After the tape: one optimizer update of ``variables``, then the compiled metrics."""
    model.optimizer.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
    return model.compute_metrics(x, y, logits, sample_weight=sample_weight)


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
        self.classifier = layers.Dense(self.num_classes, dtype="float32", name="logits")

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
        # one attribute per backbone: tf.train.Checkpoint does not see into the TrackedDict
        # Keras 3 makes of a dict attribute (its layers would be missing from checkpoints)
        for s in self.streams:
            setattr(self, f"{s}_backbone", build_backbone(
                backbone, (image_size, image_size, 3), weights_path, embedding_dim, width,
                model_name=f"{s}_{backbone}"))
        self.concat = layers.Concatenate(name="fused_embedding")
        self.dropout = layers.Dropout(self.dropout_rate)
        self.classifier = layers.Dense(self.num_classes, dtype="float32", name="logits")

    @property
    def backbones(self) -> Dict[str, keras.Model]:
        return {s: getattr(self, f"{s}_backbone") for s in self.streams}

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
class FrozenStreamFeatureFusion(keras.Model):
    """Feature-level fusion of two separately trained ``StreamClassifier``s (fusion
    'feature_frozen'): ``Dense(scale * concat(l2n(e_rgb), l2n(e_depth)))`` with the two
    members' embeddings ``e`` taken in inference mode and only the Dense layer trained.

    Why: trained jointly from scratch (``FeatureFusionClassifier``) the fused network fits the
    training identities through the easier RGB stream early and the depth stream gets little
    gradient (BUILD_NOTES, "Documented CPU run"); trained on its own, the depth stream learns
    what identifies a face's shape, and the classifier on top then weighs both. Each stream's
    embedding is L2-normalised, so both enter at the same scale, times a fixed ``scale`` (1 by
    default: in a probe on the documented run's members, scales 8-16 let the classifier fit the
    training set through RGB again and lost 8-17 points of test accuracy).
    """

    def __init__(self, rgb_model: keras.Model, depth_model: keras.Model, num_classes: int,
                 scale: float = 1.0, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        rgb_model, depth_model = (keras.saving.deserialize_keras_object(m)
                                  if isinstance(m, dict) else m
                                  for m in (rgb_model, depth_model))
        for want, m in (("rgb", rgb_model), ("depth", depth_model)):
            if getattr(m, "stream", None) != want:
                raise ValueError(f"FrozenStreamFeatureFusion: the {want} member must be a "
                                 f"StreamClassifier on the {want!r} stream, got "
                                 f"{type(m).__name__} on {getattr(m, 'stream', None)!r}")
        if not float(scale) > 0:
            raise ValueError(f"FrozenStreamFeatureFusion: scale must be > 0, got {scale}")
        self.rgb_model, self.depth_model = rgb_model, depth_model
        self.num_classes, self.scale = int(num_classes), float(scale)
        self.dropout_rate = float(dropout)
        self.concat = layers.Concatenate(name="fused_embedding")
        self.dropout = layers.Dropout(self.dropout_rate)
        self.classifier = layers.Dense(self.num_classes, dtype="float32", name="fusion_logits")

    @property
    def backbones(self) -> Dict[str, keras.Model]:
        return {"rgb": self.rgb_model.backbone, "depth": self.depth_model.backbone}

    def embed(self, inputs, training=False):
        """The fused embedding; the members always run in inference mode (frozen BN)."""
        parts = [tf.math.l2_normalize(tf.cast(m.embed(inputs, training=False), tf.float32),
                                      axis=-1) for m in (self.rgb_model, self.depth_model)]
        return self.scale * self.concat(parts)

    def call(self, inputs, training=False):
        return self.classifier(self.dropout(self.embed(inputs), training=training))

    def scores(self, inputs):
        return tf.nn.softmax(tf.cast(self(inputs, training=False), tf.float32), axis=-1)

    @property
    def fusion_variables(self):
        """The variables this model trains: the classifier's (the members stay as trained)."""
        return self.classifier.trainable_weights

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        features = tf.stop_gradient(self.embed(x))
        with tf.GradientTape() as tape:
            logits = self.classifier(self.dropout(features, training=True))
            loss = self.compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight)
            scaled = _tracked_scaled_loss(self, loss, logits)
        return _apply_and_measure(self, tape, scaled, self.fusion_variables, x, y, logits,
                                  sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"rgb_model": keras.saving.serialize_keras_object(self.rgb_model),
                       "depth_model": keras.saving.serialize_keras_object(self.depth_model),
                       "num_classes": self.num_classes, "scale": self.scale,
                       "dropout": self.dropout_rate})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScoreFusion(keras.Model):
    """Score-level fusion of two separately trained classifiers (not trained itself)."""

    def __init__(self, rgb_model: keras.Model, depth_model: keras.Model, weight: float = 0.5,
                 rule: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if isinstance(rgb_model, dict):
            rgb_model = keras.saving.deserialize_keras_object(rgb_model)
        if isinstance(depth_model, dict):
            depth_model = keras.saving.deserialize_keras_object(depth_model)
        if not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"--score_weight must be in [0, 1], got {weight}")
        if rule not in SCORE_RULES:
            raise ValueError(f"--score_rule={rule!r} is not one of {SCORE_RULES}")
        self.rgb_model, self.depth_model, self.weight = rgb_model, depth_model, float(weight)
        self.rule = rule

    def call(self, inputs, training=False):
        a = tf.nn.softmax(tf.cast(self.rgb_model(inputs, training=False), tf.float32), axis=-1)
        b = tf.nn.softmax(tf.cast(self.depth_model(inputs, training=False), tf.float32), axis=-1)
        return fuse_scores(a, b, self.weight, self.rule)

    def scores(self, inputs):
        return self(inputs, training=False)

    def get_config(self):
        config = super().get_config()
        config.update({"rgb_model": keras.saving.serialize_keras_object(self.rgb_model),
                       "depth_model": keras.saving.serialize_keras_object(self.depth_model),
                       "weight": self.weight, "rule": self.rule})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ClassifierHead(layers.Layer):
    """The attention models' classifier: Flatten -> n x (Dense(units, ReLU) -> BN) -> Dropout
    -> Dense(num_classes) logits (the authors' two-level attention code: n = 2, 1024 units)."""

    def __init__(self, num_classes: int, units: int = 1024, hidden_layers: int = 2,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1 or int(hidden_layers) < 0:
            raise ValueError(f"ClassifierHead: units >= 1 and hidden_layers >= 0, got {units}, "
                             f"{hidden_layers}")
        self.num_classes, self.units = int(num_classes), int(units)
        self.hidden_layers, self.dropout_rate = int(hidden_layers), float(dropout)
        self.flatten = layers.Flatten(name="flatten")
        # attributes, not a list (checkpoint tracking: see _FeatureMapFusion)
        for i in range(1, self.hidden_layers + 1):
            setattr(self, f"fc{i}", layers.Dense(self.units, activation="relu", name=f"fc{i}"))
            setattr(self, f"fc{i}_bn", layers.BatchNormalization(momentum=BN_MOMENTUM,
                                                                 name=f"fc{i}_bn"))
        self.dropout = layers.Dropout(self.dropout_rate)
        self.logits = layers.Dense(self.num_classes, dtype="float32", name="logits")

    def call(self, x, training=False):
        x = self.flatten(x)
        for i in range(1, self.hidden_layers + 1):
            x = getattr(self, f"fc{i}_bn")(getattr(self, f"fc{i}")(x), training=training)
        return self.logits(self.dropout(x, training=training))

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "units": self.units,
                       "hidden_layers": self.hidden_layers, "dropout": self.dropout_rate})
        return config


class _FeatureMapFusion(keras.Model):
    """Shared part of the attention fusions: one feature extractor per stream (trunk feature
    maps, no pooling), the classifier head, softmax scores, config, and a build that runs one
    zero image through every sub-layer (auxiliary heads included) so all variables exist."""

    def __init__(self, num_classes: int, backbone: str = "resnet50", image_size: int = 128,
                 width: float = 1.0, head_units: int = 1024, dropout: float = 0.0,
                 weights_path: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"a classifier needs >= 2 identities, got {num_classes}")
        self.num_classes, self.dropout_rate = int(num_classes), float(dropout)
        self.backbone_name, self.image_size = backbone, int(image_size)
        self.width, self.head_units = float(width), int(head_units)
        # sub-models as attributes, not in a dict or list: tf.train.Checkpoint (the runner's
        # checkpoints) does not see into the TrackedDict/TrackedList Keras 3 makes of those
        for s in STREAMS:
            setattr(self, f"{s}_extractor", build_feature_extractor(
                backbone, (image_size, image_size, 3), weights_path, width,
                model_name=f"{s}_{backbone}_features"))
        self.head = self._head("head")

    @property
    def extractors(self) -> Dict[str, keras.Model]:
        return {s: getattr(self, f"{s}_extractor") for s in STREAMS}

    def _head(self, name: str) -> ClassifierHead:
        return ClassifierHead(self.num_classes, self.head_units, dropout=self.dropout_rate,
                              name=name)

    def features(self, inputs, training=False) -> Dict[str, tf.Tensor]:
        missing = [s for s in STREAMS if s not in inputs]
        if missing:
            raise ValueError(f"{type(self).__name__} needs the streams {STREAMS}; missing "
                             f"{missing} (use --inputs=rgbd or rgbd_hallucinated)")
        return {s: self.extractors[s](inputs[s], training=training) for s in STREAMS}

    def forward(self, inputs, training=False):
        """(logits, {auxiliary head: logits}); each attention classifier defines its own (this
        base class is never built on its own)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def call(self, inputs, training=False):
        return self.forward(inputs, training)[0]

    def build(self, input_shape=None):
        s = self.image_size
        self.forward({k: tf.zeros((1, s, s, 3)) for k in STREAMS}, training=False)

    def scores(self, inputs):
        return tf.nn.softmax(tf.cast(self(inputs, training=False), tf.float32), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "backbone": self.backbone_name,
                       "image_size": self.image_size, "width": self.width,
                       "head_units": self.head_units, "dropout": self.dropout_rate})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TwoLevelAttentionClassifier(_FeatureMapFusion):
    """Two-level attention fusion (Uppal et al. 2021a, Fig. 1 / the authors' code).

    F = concat(features_rgb, features_depth) (B, h, w, 2C); level 1: F1 = F * a(LSTM over the
    h*w positions) (``FeatureMapLSTMAttention``, ``lstm_units`` default 2C); level 2:
    F2 = F1 * sigmoid(conv7x7([mean_c F1; max_c F1])) (``SpatialAttention``,
    ``spatial_kernel``); logits = ``ClassifierHead``(F2). One cross-entropy on the logits.
    """

    def __init__(self, num_classes: int, lstm_units: Optional[int] = None,
                 spatial_kernel: int = 7, **kwargs):
        super().__init__(num_classes, **kwargs)
        self.lstm_units = None if lstm_units is None else int(lstm_units)
        self.spatial_kernel = int(spatial_kernel)
        self.concat = layers.Concatenate(axis=-1, name="concat_feature_maps")
        self.feature_map_attention = FeatureMapLSTMAttention(self.lstm_units,
                                                             name="feature_map_attention")
        self.spatial_attention = SpatialAttention(self.spatial_kernel, name="spatial_attention")

    def attended(self, inputs, training=False):
        f = self.features(inputs, training)
        return self.spatial_attention(self.feature_map_attention(
            self.concat([f["rgb"], f["depth"]])))

    def forward(self, inputs, training=False):
        return self.head(self.attended(inputs, training), training=training), {}

    def get_config(self):
        config = super().get_config()
        config.update({"lstm_units": self.lstm_units, "spatial_kernel": self.spatial_kernel})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthGuidedAttentionClassifier(_FeatureMapFusion):
    """Depth-guided attention (Uppal et al. 2021b, Fig. 2 / reconstruction).

    logits = ``ClassifierHead``(``DepthGuidedAttention``([features_rgb, features_depth])),
    the RGB maps weighted by the depth-derived spatial map. Training loss (``train_step``):
    (1 - 2 w) CE(logits) + w CE(aux_rgb) + w CE(aux_depth), where aux_rgb / aux_depth are
    ``ClassifierHead``s on the RGB and the depth maps (the figure's two auxiliary identity
    outputs) and w = ``aux_weight`` (0.25: the 0.5 / 0.25 / 0.25 loss weights in the authors'
    scripts; 0 = no auxiliary heads). Prediction uses ``logits`` only.
    """

    def __init__(self, num_classes: int, aux_weight: float = 0.25,
                 embed_dim: Optional[int] = None, pool_dim: Optional[int] = None,
                 embed_activation: str = "tanh", map_scale: str = "positions", **kwargs):
        super().__init__(num_classes, **kwargs)
        if not 0.0 <= float(aux_weight) < 0.5:
            raise ValueError(f"aux_weight must be in [0, 0.5), got {aux_weight}")
        self.aux_weight = float(aux_weight)
        self.attention = DepthGuidedAttention(embed_dim, pool_dim, embed_activation, map_scale,
                                              name="depth_guided_attention")
        for s in STREAMS:
            setattr(self, f"aux_{s}_head",
                    self._head(f"aux_{s}_head") if self.aux_weight > 0 else None)

    @property
    def aux_heads(self) -> Dict[str, ClassifierHead]:
        return {s: getattr(self, f"aux_{s}_head") for s in STREAMS if self.aux_weight > 0}

    def forward(self, inputs, training=False):
        f = self.features(inputs, training)
        logits = self.head(self.attention([f["rgb"], f["depth"]], training=training),
                           training=training)
        return logits, {s: head(f[s], training=training) for s, head in self.aux_heads.items()}

    def train_step(self, data):
        if not self.aux_heads:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits, aux = self.forward(x, training=True)
            heads = [(1.0 - 2.0 * self.aux_weight, logits)] + \
                [(self.aux_weight, aux[s]) for s in STREAMS]
            # compute_loss adds self.losses once per head; the head weights sum to 1
            loss = tf.add_n([w * self.compute_loss(x=x, y=y, y_pred=p,
                                                   sample_weight=sample_weight)
                             for w, p in heads])
            scaled = _tracked_scaled_loss(self, loss, logits)
        return _apply_and_measure(self, tape, scaled, self.trainable_weights, x, y, logits,
                                  sample_weight)

    def get_config(self):
        config = super().get_config()
        a = self.attention
        config.update({"aux_weight": self.aux_weight, "embed_dim": a.embed_dim,
                       "pool_dim": a.pool_dim, "embed_activation": a.embed_activation,
                       "map_scale": a.map_scale})
        return config


ATTENTION_FUSIONS = {"two_level_attention": TwoLevelAttentionClassifier,
                     "depth_guided_attention": DepthGuidedAttentionClassifier}


def build_classifier(inputs: str, fusion: str, num_classes: int, backbone: str,
                     image_size: int, embedding_dim: int, width: float, dropout: float = 0.0,
                     weights_path: Optional[str] = None) -> Dict[str, keras.Model]:
    """The trainable models of one run, by role.

    ``inputs``: 'rgb' | 'depth' | 'depth_hallucinated' (one stream) or 'rgbd' |
    'rgbd_hallucinated' (two streams). Two streams with ``fusion='feature'`` give
    ``{'fused': FeatureFusionClassifier}``; with ``fusion='score'`` ``{'rgb': ..., 'depth': ...}``
    (two StreamClassifiers trained separately, then ``ScoreFusion``); with
    ``fusion='feature_frozen'`` the same two members, trained first, plus ``'fused'``: a
    ``FrozenStreamFeatureFusion`` on their embeddings (roles train in this order); with
    ``fusion='two_level_attention' | 'depth_guided_attention'`` ``{'fused': ...}`` (trained end
    to end; the head has ``2 * embedding_dim`` units, 1024 at the default 512, the authors'
    width, and the size of the feature fusion's concatenated embedding).
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
    if fusion in ATTENTION_FUSIONS:
        return {"fused": ATTENTION_FUSIONS[fusion](
            num_classes, backbone=backbone, image_size=image_size, width=width,
            head_units=2 * int(embedding_dim), dropout=dropout, weights_path=weights_path,
            name=fusion)}
    if fusion in ("score", "feature_frozen"):
        members = {"rgb": StreamClassifier(num_classes, "rgb", name="rgb_classifier", **kw),
                   "depth": StreamClassifier(num_classes, "depth", name="depth_classifier", **kw)}
        if fusion == "score":
            return members
        return {**members, "fused": FrozenStreamFeatureFusion(
            members["rgb"], members["depth"], num_classes, dropout=dropout,
            name="frozen_feature_fusion")}
    raise ValueError(f"--fusion={fusion!r} is not one of {FUSIONS}")


assert tuple(ATTENTION_FUSIONS) == ATTENTION_FUSION_NAMES, "recognition_options is stale"
