"""TS-GAN face-recognition experiments (paper section 4.2, Tables 2-5) as library calls.

One run = one (backbone, inputs, fusion, protocol). Layout of a ``model_dir``::

  config.json                 run options (checked on resume)
  samples/inputs.png          RGB | ground-truth D | hallucinated D~ of a few test images
  <fold>/<role>/checkpoints/  model + optimizer per epoch (role: rgb, depth or fused)
  <fold>/<role>/tensorboard/  loss / accuracy scalars
  <fold>/<role>/model.keras   the trained classifier
  results.json                rank-1 accuracy per fold and test set, and the fold mean

Score-level fusion trains the RGB and the depth classifiers separately (roles 'rgb' and
'depth') and averages their softmax scores with ``score_weight`` on RGB (or pools them with
``score_rule='product'``). With ``score_validation_per_identity`` V > 0 the weight is chosen
on held-out images (stacking): after 'rgb' and 'depth' have trained on all training images
(the same members as a plain score run), roles 'rgb_val' and 'depth_val' train on the training
images minus the last V of each identity, and the grid weight with the best rank-1 of their
fusion on those V images (``<fold>/score_weight.json``) fuses 'rgb' and 'depth'.
Feature-level and the two attention fusions ('two_level_attention', 'depth_guided_attention')
are one model, role 'fused', trained end to end.

``strategy`` ('default', 'mirrored', 'multi_worker'): every role's model and optimizer are
built inside ``strategy.scope()`` and trained by ``training.fit`` (global batch; Keras scales
the compiled cross-entropy by 1 / ``num_replicas_in_sync``). With ``sync_batchnorm`` (default)
every BatchNormalization layer uses the global batch's statistics (``synchronized``), so a
distributed step is the one-device step on the same global batch; evaluation and saving then
use default-strategy copies. Only the chief writes.

Hallucinated depth D~ comes from a generator SavedModel (``experiments/export_savedmodel`` /
``depthlab.export.export_depth_generator``): serving_default(rgb: uint8 (N, H, W, 3)) ->
{'depth': float32 [0, 1] (N, S, S, 1)}, near = bright, the same convention as the ground truth
here (``data_pipelines.paired.tsgan_depth_to_unit``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from data_pipelines.paired import epoch_index_stream, tsgan_depth_to_unit
from depthlab import collapse, metrics, training
from depthlab.nets.recognition_backbones import BACKBONES
from depthlab.recognition.models import (ATTENTION_FUSIONS, FUSIONS, INPUTS, SCORE_RULES,
                                         ScoreFusion, build_classifier, choose_score_weight)

AUTOTUNE = tf.data.AUTOTUNE
GENERATOR_SIGNATURE = ("serving_default(rgb: uint8 (N, H, W, 3)) -> {'depth': float32 "
                       "(N, S, S, 1) in [0, 1]}, as written by experiments.export_savedmodel")
COLUMNS = ("rgb", "rgbd_feature", "rgbd_score", "rgbd_hallucinated_feature",
           "rgbd_hallucinated_score", "depth", "depth_hallucinated",
           # extra columns (after the paper's Table 2-4 layout): feature fusion of separately
           # trained, frozen streams, and the attention fusions
           "rgbd_feature_frozen", "rgbd_hallucinated_feature_frozen",
           "rgbd_score_validated", "rgbd_hallucinated_score_validated",
           "rgbd_two_level_attention", "rgbd_depth_guided_attention",
           "rgbd_hallucinated_two_level_attention", "rgbd_hallucinated_depth_guided_attention")
COLUMN_LABELS = {"rgb": "RGB", "rgbd_feature": "RGB+D feature", "rgbd_score": "RGB+D score",
                 "rgbd_hallucinated_feature": "RGB+D~ feature",
                 "rgbd_hallucinated_score": "RGB+D~ score", "depth": "D only",
                 "depth_hallucinated": "D~ only",
                 "rgbd_feature_frozen": "RGB+D feature (frozen streams)",
                 "rgbd_hallucinated_feature_frozen": "RGB+D~ feature (frozen streams)",
                 "rgbd_score_validated": "RGB+D score (w from validation)",
                 "rgbd_hallucinated_score_validated": "RGB+D~ score (w from validation)",
                 "rgbd_two_level_attention": "RGB+D two-level att.",
                 "rgbd_depth_guided_attention": "RGB+D depth-guided att.",
                 "rgbd_hallucinated_two_level_attention": "RGB+D~ two-level att.",
                 "rgbd_hallucinated_depth_guided_attention": "RGB+D~ depth-guided att."}


@dataclasses.dataclass
class RunOptions:
    model_dir: str
    backbone: str = "resnet50"
    inputs: str = "rgb"
    fusion: str = "feature"
    protocol: str = "synthetic_faces"
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    fold: Optional[int] = None                # IIIT-D: None = all five folds
    protocol_file: Optional[str] = None
    generator: Optional[str] = None
    backbone_weights: Optional[str] = None
    image_size: int = 128
    width: float = 1.0
    embedding_dim: int = 512
    dropout: float = 0.0
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    fusion_learning_rate: float = 1e-2       # --fusion=feature_frozen: its classifier's Adam
    score_weight: float = 0.5
    score_rule: str = "mean"                  # models.SCORE_RULES
    score_validation_per_identity: int = 0    # > 0: w chosen on that many held-out images/id
    seed: int = 0
    mixed_precision: str = "float32"
    synthetic_identities: int = 50
    synthetic_images_per_identity: int = 40
    synthetic_domain: str = "target"
    train_per_identity: Optional[int] = None
    log_every: int = 20
    run_eagerly: bool = False                 # debugging / tiny test models (no tracing)
    strategy: str = "default"                 # training.STRATEGIES
    sync_batchnorm: bool = True               # distributed: BN over the global batch
    collapse_guard: str = "warn"              # collapse.MODES (classifier: one class)

    def __post_init__(self):
        collapse.check_mode(self.collapse_guard)
        checks = (("backbone", BACKBONES), ("inputs", INPUTS), ("fusion", FUSIONS),
                  ("protocol", rp.PROTOCOLS))
        for name, choices in checks:
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name}={getattr(self, name)!r} is not one of {choices}")
        if self.strategy not in training.STRATEGIES:
            raise ValueError(f"--strategy={self.strategy!r} is not one of {training.STRATEGIES}")
        for name in ("epochs", "batch_size", "image_size", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "fusion_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.score_weight <= 1.0:
            raise ValueError(f"--score_weight must be in [0, 1], got {self.score_weight}")
        if self.score_rule not in SCORE_RULES:
            raise ValueError(f"--score_rule={self.score_rule!r} is not one of {SCORE_RULES}")
        if self.score_validation_per_identity < 0:
            raise ValueError("--score_validation_per_identity must be >= 0, got "
                             f"{self.score_validation_per_identity}")
        if self.score_validation_per_identity and not (self.two_stream
                                                       and self.fusion == "score"):
            raise ValueError("--score_validation_per_identity applies to --fusion=score with "
                             f"--inputs=rgbd or rgbd_hallucinated, not --inputs={self.inputs} "
                             f"--fusion={self.fusion}")
        if self.inputs.endswith("hallucinated") and not self.generator:
            raise ValueError(f"--inputs={self.inputs} needs --generator=<TS-GAN SavedModel dir>")
        if self.inputs in ("depth", "rgbd") and self.protocol in rp.RGB_ONLY_PROTOCOLS:
            raise ValueError(f"--protocol={self.protocol} has no ground-truth depth; use "
                             "--inputs=rgb, depth_hallucinated or rgbd_hallucinated")
        if self.fold is not None and self.protocol != "iiitd_rgbd":
            raise ValueError("--fold applies to --protocol=iiitd_rgbd only")

    @property
    def column(self) -> str:
        if self.inputs in ("rgb", "depth", "depth_hallucinated"):
            return self.inputs
        return f"{self.inputs}_{self.fusion}" + ("_validated" if self.validated_score else "")

    @property
    def validated_score(self) -> bool:
        """Score fusion whose weight is chosen on held-out training images (stacking)."""
        return self.score_validation_per_identity > 0

    @property
    def two_stream(self) -> bool:
        return self.inputs.startswith("rgbd")


# ----------------------------------------------------------------------------- generator
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


# ----------------------------------------------------------------------------- data
def depth_streams(faces: rp.FaceSet, opts: RunOptions,
                  hallucinate: Optional[Callable] = None) -> Dict[str, Optional[np.ndarray]]:
    """{'gt': D in [0, 1] (N, S, S) or None, 'hallucinated': D~ (N, S, S) or None}."""
    out = {"gt": None, "hallucinated": None}
    if faces.depth is not None:
        out["gt"] = tsgan_depth_to_unit(faces.depth, faces.depth_bits)[0].numpy()
    if hallucinate is not None:
        d = hallucinate(faces.rgb)
        if d.shape[1:] != faces.rgb.shape[1:3]:
            d = tf.image.resize(d[..., None], faces.rgb.shape[1:3], method="bilinear",
                                antialias=True).numpy()[..., 0]
        out["hallucinated"] = np.clip(d, 0.0, 1.0)
    return out


def make_dataset(rgb: np.ndarray, depth: Optional[np.ndarray], labels: np.ndarray,
                 batch_size: int, seed: int = 0, training: bool = True,
                 start_index: int = 0) -> tf.data.Dataset:
    """Batches of ({'rgb': [0,1] (B,S,S,3), 'depth': [0,1] (B,S,S,3)}, label).

    Training: an infinite stream, element ``i`` a pure function of (seed, i) (a per-epoch
    stateless permutation and a stateless horizontal flip applied to both streams), so a run
    resumed at ``start_index`` sees what an uninterrupted run would. Evaluation: in order, once.
    """
    rgb_t = tf.constant(rgb)
    depth_t = None if depth is None else tf.constant(depth.astype(np.float32)[..., None])
    labels_t = tf.constant(labels.astype(np.int64))

    def element(global_index, i, flip):
        x = {"rgb": tf.cast(tf.gather(rgb_t, i), tf.float32) / 255.0}
        if depth_t is not None:
            x["depth"] = tf.tile(tf.gather(depth_t, i), [1, 1, 3])
        if flip:
            coin = tf.random.stateless_uniform([], tf.stack([tf.cast(seed, tf.int64) + 17,
                                                             global_index]))
            x = {k: tf.cond(coin < 0.5, lambda v=v: tf.reverse(v, [1]), lambda v=v: v)
                 for k, v in x.items()}
        return x, tf.gather(labels_t, i)

    if training:
        ds = epoch_index_stream(len(labels), seed, shuffle=True, start_index=start_index)
        ds = ds.map(lambda g, i: element(g, i, True), num_parallel_calls=AUTOTUNE)
    else:
        idx = tf.range(len(labels), dtype=tf.int64)
        ds = tf.data.Dataset.from_tensor_slices((idx, idx))
        ds = ds.map(lambda g, i: element(g, i, False), num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


# ----------------------------------------------------------------------------- training
def _check_resume_config(model_dir: str, record: dict) -> None:
    training.check_resume_config(model_dir, record, (
        "backbone", "inputs", "fusion", "protocol", "fold", "image_size", "width",
        "embedding_dim", "seed", "synthetic_identities", "synthetic_images_per_identity",
        "synthetic_domain", "train_per_identity", "protocol_file", "generator",
        "score_validation_per_identity"))


def _folds(opts: RunOptions) -> List[Optional[int]]:
    if opts.protocol == "iiitd_rgbd":
        return [opts.fold] if opts.fold is not None else list(rp.IIITD_FOLDS)
    return [None]


def _faces_and_split(opts: RunOptions, fold: Optional[int]):
    faces = rp.load_faces(opts.protocol, opts.image_size, data_dir=opts.data_dir,
                          manual_dir=opts.manual_dir, fold=fold, seed=opts.seed,
                          synthetic_identities=opts.synthetic_identities,
                          synthetic_images_per_identity=opts.synthetic_images_per_identity,
                          synthetic_domain=opts.synthetic_domain)
    split = rp.build_splits(opts.protocol, faces, fold=fold, seed=opts.seed,
                            train_per_identity=opts.train_per_identity,
                            protocol_file=opts.protocol_file)[0]
    return faces, split


def _load_fold(opts: RunOptions, fold: Optional[int], hallucinate):
    faces, split = _faces_and_split(opts, fold)
    depths = depth_streams(faces, opts, hallucinate if opts.inputs.endswith("hallucinated")
                           else None)
    depth = depths["hallucinated"] if opts.inputs.endswith("hallucinated") else depths["gt"]
    if opts.inputs == "rgb":
        depth = None
    return faces, split, depth, depths


def _models(opts: RunOptions, num_classes: int, weights: bool = True) -> Dict[str, keras.Model]:
    return build_classifier(opts.inputs, opts.fusion, num_classes, opts.backbone, opts.image_size,
                            opts.embedding_dim, opts.width, opts.dropout,
                            opts.backbone_weights if weights else None)


def _build(model: keras.Model, opts: RunOptions, with_depth: bool) -> None:
    s = opts.image_size
    x = {"rgb": tf.zeros((1, s, s, 3))}
    if with_depth:
        x["depth"] = tf.zeros((1, s, s, 3))
    model(x, training=False)


def _optimizer(opts: RunOptions, role: str = "") -> keras.optimizers.Optimizer:
    """Adam at ``--learning_rate``; the frozen-stream fusion classifier at
    ``--fusion_learning_rate`` (a linear layer on fixed features)."""
    if role == "fused" and opts.fusion == "feature_frozen":
        return keras.optimizers.Adam(opts.fusion_learning_rate)
    return keras.optimizers.Adam(opts.learning_rate)


def _state(model, optimizer, role_dir: str) -> training.ResumableCheckpoint:
    return training.ResumableCheckpoint(os.path.join(role_dir, "checkpoints"), max_to_keep=2,
                                        model=model, optimizer=optimizer)


def _compile(model: keras.Model, opts: RunOptions, with_depth: bool, role: str = ""
             ) -> keras.Model:
    """Compiles and builds ``model`` (weights and optimizer slots); call it in the run's
    ``strategy.scope()``."""
    optimizer = _optimizer(opts, role)
    model.compile(optimizer=optimizer, run_eagerly=opts.run_eagerly,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    _build(model, opts, with_depth)
    optimizer.build(model.trainable_variables)
    return model


def _collapse_probe(rgb, depth, labels, n: int = 32):
    """The collapse guard's probe (classifier): logits on the first ``n`` training images, in
    order, unflipped, with their labels."""
    x, y = next(iter(make_dataset(rgb[:n], None if depth is None else depth[:n], labels[:n],
                                  n, training=False)))

    def probe(model):
        return model(x, training=False).numpy(), y.numpy(), None
    return probe


def collapse_records(model_dir: str) -> List[dict]:
    """The ``collapse.json`` of every role folder under ``model_dir`` (collapsed or not)."""
    out = []
    for root, _, files in os.walk(model_dir):
        if collapse.RECORD in files:
            out.append(dict(collapse.read_record(root), role_dir=os.path.relpath(root, model_dir)))
    return sorted(out, key=lambda r: r["role_dir"])


def _fit(model: keras.Model, role: str, role_dir: str, opts: RunOptions, rgb, depth, labels,
         extra_callbacks, log, strategy: tf.distribute.Strategy) -> None:
    """Trains one compiled role model (built in ``strategy.scope()``) from its latest
    checkpoint to ``opts.epochs``."""
    state = _state(model, model.optimizer, role_dir)
    initial = state.restore_latest()
    steps = max(1, math.ceil(len(labels) / opts.batch_size))
    if initial >= opts.epochs:
        log(f"[recognition] {role}: {initial} epochs already done in {role_dir}")
        return
    if initial:
        log(f"[recognition] {role}: resuming from epoch {initial}")
    elif role == "fused" and opts.fusion == "feature_frozen":
        log(f"[recognition] {role}: training the classifier on the frozen rgb and depth "
            "classifiers' embeddings")
    elif opts.backbone_weights is None:
        log(f"[recognition] {role}: no --backbone_weights: training {opts.backbone} FROM SCRATCH "
            "(ImageNet weights cannot be downloaded here)")
    ds = make_dataset(rgb, depth, labels, opts.batch_size, seed=opts.seed, training=True,
                      start_index=initial * steps * opts.batch_size)
    progress = training.ProgressPrinter(opts.epochs * steps, opts.batch_size, every=opts.log_every)
    progress.set_initial_step(initial * steps)
    callbacks = [training.CheckpointCallback(state)]   # writes on the chief only
    if training.is_chief(strategy):
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(role_dir, "tensorboard"),
                                                     update_freq=max(1, opts.log_every),
                                                     write_graph=False))
        if opts.log_every < 10 ** 6:
            callbacks.append(progress)
    chief = training.is_chief(strategy)
    callbacks += collapse.guard_callbacks(
        opts.collapse_guard, _collapse_probe(rgb, depth, labels), kind="classifier",
        name=f"recognition {role}", every=max(1, opts.log_every), model_dir=role_dir,
        chief=chief, initial_step=initial * steps,
        initial_epoch=initial)
    callbacks += list(extra_callbacks or [])
    training.fit(model, ds, epochs=opts.epochs, steps_per_epoch=steps, initial_epoch=initial,
                 callbacks=callbacks, strategy=strategy)


def _single_device_copies(models: Dict[str, keras.Model], opts: RunOptions, num_classes: int,
                          with_depth: bool) -> Dict[str, keras.Model]:
    """Default-strategy copies of a distributed run's models (call outside any scope): Keras'
    saving and inference are not run under MultiWorkerMirrored; the copies' BN layers are
    the plain (unsynchronised) ones."""
    copies = _models(opts, num_classes, weights=False)
    for role, model in copies.items():
        _build(model, opts, with_depth)
        model.set_weights(models[role].get_weights())
    return copies


def _write_samples(model_dir: str, faces: rp.FaceSet, idx: np.ndarray, depths: dict) -> None:
    from depthlab import visualize

    rows = []
    for i in idx[:4]:
        row = [faces.rgb[i]]
        for key in ("gt", "hallucinated"):
            d = depths.get(key)
            if d is not None:
                mask = d[i] > 0
                row.append(visualize.colorize_depth(d[i], mask=mask, near_is_small=False))
        rows.append(row)
    labels = ["RGB"] + [n for n, k in (("D", "gt"), ("D~", "hallucinated"))
                        if depths.get(k) is not None]
    visualize.save_png(os.path.join(model_dir, "samples", "inputs.png"),
                       visualize.make_grid(rows, labels=labels))


def _scores(models: Dict[str, keras.Model], opts: RunOptions, rgb, depth, labels):
    """(N, C) probabilities of the run's final predictor (score fusion averaged)."""
    ds = make_dataset(rgb, depth, labels, 64, training=False)
    if opts.two_stream and opts.fusion == "score":
        predictor = ScoreFusion(models["rgb"], models["depth"], opts.score_weight, opts.score_rule)
        members = {"rgb": models["rgb"], "depth": models["depth"]}
    elif opts.two_stream and opts.fusion == "feature_frozen":
        predictor, members = models["fused"], {"rgb": models["rgb"], "depth": models["depth"]}
    else:
        predictor, members = next(iter(models.values())), {}
    out = {"final": [], **{k: [] for k in members}}
    for x, _ in ds:
        out["final"].append(predictor.scores(x).numpy())
        for k, m in members.items():
            out[k].append(m.scores(x).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _hits(scores: np.ndarray, labels: np.ndarray) -> List[int]:
    return [int(v) for v in np.argmax(scores, axis=1) == np.asarray(labels)]


def evaluate_split(models, opts: RunOptions, faces, split: rp.Split, depth) -> Dict[str, dict]:
    """{test set: {'rank1': acc, 'num_images': n, 'correct': [0/1 per image][, 'rank1_rgb_stream',
    'rank1_depth_stream', 'correct_rgb_stream', 'correct_depth_stream']}}."""
    result = {}
    for name, idx in split.tests.items():
        if len(idx) == 0:
            continue
        labels = split.labels(faces.meta, idx)
        scores = _scores(models, opts, faces.rgb[idx], None if depth is None else depth[idx],
                         labels)
        entry = {"rank1": metrics.rank1_accuracy(scores["final"], labels),
                 "num_images": int(len(idx)),
                 # per-image hits (argmax, as rank-1) in index order: the paired McNemar test
                 "correct": _hits(scores["final"], labels)}
        for k in ("rgb", "depth"):
            if k in scores:
                entry[f"rank1_{k}_stream"] = metrics.rank1_accuracy(scores[k], labels)
                entry[f"correct_{k}_stream"] = _hits(scores[k], labels)
        result[name] = entry
    return result


def _fold_name(fold: Optional[int]) -> str:
    return "all" if fold is None else f"fold{fold}"


def summarize(per_fold: Dict[str, Dict[str, dict]]) -> Dict[str, float]:
    """Mean rank-1 over folds per test set (IIIT-D: the paper's 5-fold mean)."""
    names = sorted({t for r in per_fold.values() for t in r})
    return {t: float(np.mean([r[t]["rank1"] for r in per_fold.values() if t in r])) for t in names}


SCORE_WEIGHT_FILE = "score_weight.json"


def _train_models(opts: RunOptions, faces: rp.FaceSet, split: rp.Split, depth, fold_dir: str,
                  strategy: tf.distribute.Strategy, extra_callbacks, log, train_idx: np.ndarray,
                  role_suffix: str = "") -> Dict[str, keras.Model]:
    """Builds (in ``strategy.scope()``) and trains or resumes the run's models on the examples
    ``train_idx``; role directories are ``<fold_dir>/<role><role_suffix>``. Returns them by
    role, as built under ``strategy`` (``_save_one_device`` makes the copies to use)."""
    labels = split.labels(faces.meta, train_idx)
    rgb_train = faces.rgb[train_idx]
    depth_train = None if depth is None else depth[train_idx]
    with strategy.scope():
        models = _models(opts, split.num_classes)
        for role, model in models.items():
            _compile(model, opts, depth is not None, role)
            if opts.sync_batchnorm:
                training.synchronize_batch_norm(model, strategy)
    for role, model in models.items():
        _fit(model, role + role_suffix, os.path.join(fold_dir, role + role_suffix), opts,
             rgb_train, depth_train, labels, extra_callbacks, log, strategy)
    return models


def _save_one_device(models: Dict[str, keras.Model], opts: RunOptions, split: rp.Split, depth,
                     fold_dir: str, strategy: tf.distribute.Strategy, role_suffix: str = ""
                     ) -> Dict[str, keras.Model]:
    """One-device copies of distributed models (the models themselves otherwise), saved as
    ``<role><role_suffix>/model.keras`` by the chief. Call it after every phase has trained:
    building the copies draws initial weights, which would change the next phase's."""
    if training.is_distributed(strategy):
        models = _single_device_copies(models, opts, split.num_classes, depth is not None)
    if training.is_chief(strategy):
        for role, model in models.items():
            model.save(os.path.join(fold_dir, role + role_suffix, "model.keras"))
    return models


def _choose_weight(members: Dict[str, keras.Model], opts: RunOptions, faces: rp.FaceSet,
                   split: rp.Split, depth, val_idx: np.ndarray) -> dict:
    """``models.choose_score_weight`` on the validation images' member scores."""
    labels = split.labels(faces.meta, val_idx)
    scores = _scores(members, opts, faces.rgb[val_idx], depth[val_idx], labels)
    selection = choose_score_weight(scores["rgb"], scores["depth"], labels, opts.score_rule)
    selection.update(rank1_rgb_stream=metrics.rank1_accuracy(scores["rgb"], labels),
                     rank1_depth_stream=metrics.rank1_accuracy(scores["depth"], labels))
    return selection


def train(opts: RunOptions, extra_callbacks=None, verbose: bool = True) -> dict:
    """Trains (or resumes) every model of the run, evaluates, writes results.json."""
    training.set_precision(opts.mixed_precision)
    training.set_seeds(opts.seed)
    strategy = training.get_strategy(opts.strategy)
    chief = training.is_chief(strategy)
    training.check_global_batch(opts.batch_size, strategy)
    log = print if verbose and chief else (lambda *a, **k: None)
    record = dataclasses.asdict(opts)
    _check_resume_config(opts.model_dir, record)
    os.makedirs(opts.model_dir, exist_ok=True)
    if chief:
        training.write_json(os.path.join(opts.model_dir, "config.json"), record)
    hallucinate = load_depth_generator(opts.generator) if opts.generator else None
    log(f"[recognition] backbone={opts.backbone} inputs={opts.inputs} "
        f"fusion={opts.fusion if opts.two_stream else '-'} protocol={opts.protocol} "
        f"image={opts.image_size} width={opts.width} strategy={opts.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s) in sync)")
    per_fold, selections = {}, {}
    for fold in _folds(opts):
        faces, split, depth, depths = _load_fold(opts, fold, hallucinate)
        fold_dir = os.path.join(opts.model_dir, _fold_name(fold))
        log(f"[recognition] {split.name}: {split.num_classes} identities, {len(split.train)} "
            f"training images, test sets " +
            ", ".join(f"{k}={len(v)}" for k, v in split.tests.items()))
        for difference in rp.paper_size_differences(split):
            log(f"[recognition] note: {difference}")
        if fold == _folds(opts)[0] and chief:
            _write_samples(opts.model_dir, faces, split.tests["test"], depths)
        fold_opts = opts
        train_models = functools.partial(_train_models, opts, faces, split, depth, fold_dir,
                                         strategy, extra_callbacks, log)
        save = functools.partial(_save_one_device, opts=opts, split=split, depth=depth,
                                 fold_dir=fold_dir, strategy=strategy)
        models = train_models(split.train)      # first: the same members as a plain score run
        if opts.validated_score:
            fit_idx, val_idx = rp.validation_holdout(split, faces.meta,
                                                     opts.score_validation_per_identity)
            log(f"[recognition] choosing the score weight: members trained on {len(fit_idx)} "
                f"images, validated on {len(val_idx)} held-out training images")
            val_models = train_models(fit_idx, role_suffix="_val")
        models = save(models)
        if opts.validated_score:
            selection = _choose_weight(save(val_models, role_suffix="_val"), opts, faces,
                                       split, depth, val_idx)
            if chief:
                training.write_json(os.path.join(fold_dir, SCORE_WEIGHT_FILE), selection)
            log(f"[recognition] score weight {selection['weight']:.2f} on RGB (validation "
                f"rank-1 {100 * max(selection['rank1']):.2f} %, rule {opts.score_rule})")
            fold_opts = dataclasses.replace(opts, score_weight=selection["weight"])
            selections[_fold_name(fold)] = selection
        per_fold[_fold_name(fold)] = evaluate_split(models, fold_opts, faces, split, depth)
    result = {"column": opts.column, "backbone": opts.backbone, "protocol": opts.protocol,
              "inputs": opts.inputs, "fusion": opts.fusion if opts.two_stream else None,
              "score_weight": opts.score_weight if opts.column.endswith("score") else None,
              "score_rule": opts.score_rule if opts.fusion == "score" and opts.two_stream
              else None,
              "from_scratch": opts.backbone_weights is None,
              "folds": per_fold, "mean": summarize(per_fold)}
    if selections:
        result["score_validation"] = selections
    records = collapse_records(opts.model_dir)
    hit = [r for r in records if r.get("collapsed")]
    result.update(collapsed=bool(hit) if records else None,
                  collapse_reason="; ".join(f"{r['role_dir']}: {r['reason']}" for r in hit)
                  or (None if records else "--collapse_guard=off"))
    if chief:
        training.write_json(os.path.join(opts.model_dir, "results.json"), result)
    return result


def load_options(model_dir: str) -> RunOptions:
    path = os.path.join(model_dir, "config.json")
    record = training.read_json(path)
    names = {f.name for f in dataclasses.fields(RunOptions)}
    return RunOptions(**{k: v for k, v in record.items() if k in names})


def _restore_models(model_dir: str, opts: RunOptions, fold: Optional[int],
                    num_classes: int) -> Dict[str, keras.Model]:
    """The run's models by role, weights from each role's newest checkpoint."""
    models = _models(opts, num_classes, weights=False)
    for role, model in models.items():
        ckpt_dir = os.path.join(model_dir, _fold_name(fold), role, "checkpoints")
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in {ckpt_dir}; train first with "
                                    f"experiments.train_recognition --model_dir={model_dir}")
        _build(model, opts, opts.inputs != "rgb")
        tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    return models


def evaluate(model_dir: str, score_weight: Optional[float] = None, verbose: bool = False) -> dict:
    """Rebuilds a trained run from its checkpoints and recomputes rank-1 on its test sets."""
    opts = load_options(model_dir)
    if score_weight is not None:
        opts = dataclasses.replace(opts, score_weight=score_weight)
    hallucinate = load_depth_generator(opts.generator) if opts.generator else None
    per_fold = {}
    for fold in _folds(opts):
        faces, split, depth, _ = _load_fold(opts, fold, hallucinate)
        models = _restore_models(model_dir, opts, fold, split.num_classes)
        fold_opts = opts
        if opts.validated_score and score_weight is None:
            path = os.path.join(model_dir, _fold_name(fold), SCORE_WEIGHT_FILE)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: the validated score weight of this run is "
                                        "missing; train it again to choose it")
            fold_opts = dataclasses.replace(opts, score_weight=training.read_json(path)["weight"])
        per_fold[_fold_name(fold)] = evaluate_split(models, fold_opts, faces, split, depth)
    return {"column": opts.column, "backbone": opts.backbone, "protocol": opts.protocol,
            "inputs": opts.inputs, "fusion": opts.fusion if opts.two_stream else None,
            "from_scratch": opts.backbone_weights is None,
            "folds": per_fold, "mean": summarize(per_fold), "model_dir": model_dir}


def _member_means(result: dict, test_set: str) -> Dict[str, float]:
    """Fold means of a score- or frozen-feature-fusion run's two members ({'rgb': ..,
    'depth': ..}, [0, 1])."""
    out = {}
    for stream in ("rgb", "depth"):
        values = [f[test_set][f"rank1_{stream}_stream"] for f in result["folds"].values()
                  if f"rank1_{stream}_stream" in f.get(test_set, {})]
        if values:
            out[stream] = float(np.mean(values))
    return out


def paper_layout_rows(results: List[dict], test_set: str = "test") -> List[dict]:
    """One row per backbone with our rank-1 (%) in the paper's Table 2-4 columns.

    A score- or frozen-feature-fusion run's members are single-stream classifiers trained
    exactly as an RGB-only / depth-only run: where no dedicated run gives the 'rgb', 'depth' or
    'depth_hallucinated' column, it is filled from them, and the row's ``from_members``
    lists the columns so filled.
    """
    rows: Dict[str, dict] = {}
    for r in results:
        row = rows.setdefault(r["backbone"], {"backbone": r["backbone"]})
        if test_set in r["mean"]:
            row[r["column"]] = 100.0 * r["mean"][test_set]
    for r in results:
        if not r["column"].endswith(("_score", "_score_validated", "_feature_frozen")):
            continue
        row = rows[r["backbone"]]
        depth_col = "depth_hallucinated" if r["inputs"].endswith("hallucinated") else "depth"
        for stream, value in _member_means(r, test_set).items():
            column = "rgb" if stream == "rgb" else depth_col
            if column not in row:
                row[column] = 100.0 * value
                row.setdefault("from_members", []).append(column)
    return [rows[b] for b in BACKBONES if b in rows]


def per_image_correct(result: dict, test_set: str = "test", stream: Optional[str] = None
                      ) -> Optional[np.ndarray]:
    """A run's per-image hits on ``test_set`` (0/1, folds in name order, images in index order),
    of its final predictor or of its ``stream`` ('rgb' / 'depth') member; None when the run's
    results predate per-image records or lack the test set."""
    key = "correct" if stream is None else f"correct_{stream}_stream"
    parts = []
    for fold in sorted(result["folds"]):
        entry = result["folds"][fold].get(test_set)
        if entry is None or key not in entry:
            return None
        parts.append(np.asarray(entry[key], np.int64))
    return np.concatenate(parts) if parts else None


def mcnemar_against_rgb(results: List[dict], test_set: str = "test") -> List[dict]:
    """Exact McNemar test (``depthlab.significance``) of every two-stream run against RGB of the
    same backbone on the same test images: RGB from a dedicated RGB run, else from the run's own
    RGB member (score / frozen-feature fusion). One dict per run: backbone, column, and either
    b (RGB right, fusion wrong), c (RGB wrong, fusion right), n, p, rgb_source, or 'skipped'."""
    from depthlab import significance

    rgb_runs = {r["backbone"]: r for r in results if r["column"] == "rgb"}
    out = []
    for r in results:
        if not r["column"].startswith("rgbd"):
            continue
        item = {"backbone": r["backbone"], "column": r["column"]}
        fused = per_image_correct(r, test_set)
        rgb_run = rgb_runs.get(r["backbone"])
        if rgb_run is not None and rgb_run.get("protocol") == r.get("protocol"):
            rgb, source = per_image_correct(rgb_run, test_set), "RGB run"
        else:
            rgb, source = per_image_correct(r, test_set, "rgb"), "the run's RGB member"
        if fused is None:
            item["skipped"] = ("the run has no per-image predictions (results from before they "
                               "were recorded: re-evaluate without --from_results)")
        elif rgb is None:
            item["skipped"] = ("no RGB run of this backbone (nor an RGB member) with per-image "
                               "predictions on this test set")
        elif len(fused) != len(rgb):
            item["skipped"] = f"{len(rgb)} RGB vs {len(fused)} fused test images: not paired"
        else:
            b, c = significance.discordant_counts(rgb, fused)
            item.update(b=b, c=c, n=int(len(rgb)), p=significance.mcnemar_exact(b, c),
                        rgb_source=source)
        out.append(item)
    return out


TSNE_MODALITIES = ("gray RGB", "D", "D~")


def _stream_backbone(models: Dict[str, keras.Model], stream: str) -> keras.Model:
    """The trained backbone of ``stream`` ('rgb' or 'depth') among a run's models."""
    for model in models.values():
        backbones = getattr(model, "backbones", None)
        if backbones is not None and stream in backbones:
            return backbones[stream]
        if getattr(model, "stream", None) == stream:
            return model.backbone
    have = sorted({s for m in models.values()
                   for s in (getattr(m, "backbones", None) or {getattr(m, "stream", None): 0})})
    raise ValueError(f"--tsne_stream={stream}: this run has no {stream} backbone (streams: {have})")


def tsne_figure(model_dir: str, png_path: str, generator: Optional[str] = None,
                stream: Optional[str] = None, max_images: int = 300, perplexity: float = 30.0,
                seed: int = 0) -> dict:
    """TS-GAN Figure 4: t-SNE of one trained backbone's embeddings of gray RGB, D and D~.

    The run's first fold's test images (at most ``max_images``, evenly strided) are fed as
    gray RGB (BT.601 luma, 3 channels), ground-truth depth and the generator's D~ (both
    replicated to 3 channels) through the run's ``stream`` backbone ('depth' when the run has
    one, else 'rgb'), the embeddings go through scikit-learn's t-SNE together and the scatter
    plot is written to ``png_path``. Returns the 2-D points, their modality and identity
    labels and the nearest-neighbour modality fractions (``tsne.modality_separation``) in
    t-SNE and in embedding space.
    """
    from depthlab.recognition import tsne

    opts = load_options(model_dir)
    generator = generator or opts.generator
    if not generator:
        raise ValueError(f"{model_dir} was trained without --generator; Figure 4 needs D~: "
                         "give --generator=<TS-GAN SavedModel dir>")
    if opts.protocol in rp.RGB_ONLY_PROTOCOLS:
        raise ValueError(f"--protocol={opts.protocol} has no ground-truth depth for Figure 4")
    if max_images < 2:
        raise ValueError(f"--tsne_images must be >= 2, got {max_images}")
    if opts.two_stream and opts.fusion in ATTENTION_FUSIONS:
        raise ValueError(f"--tsne_run={model_dir} is a --fusion={opts.fusion} run: its streams "
                         "end in feature maps, not embedding backbones; use an RGB, depth, "
                         "feature- or score-fusion run for Figure 4")
    fold = _folds(opts)[0]
    faces, split = _faces_and_split(opts, fold)
    models = _restore_models(model_dir, opts, fold, split.num_classes)
    if stream is None:
        stream = "rgb" if opts.inputs == "rgb" else "depth"
    backbone = _stream_backbone(models, stream)
    idx = split.tests["test"]
    idx = idx[np.unique(np.linspace(0, len(idx) - 1, min(max_images, len(idx))).astype(int))]
    sub = rp.FaceSet(faces.rgb[idx], faces.depth[idx],
                     {k: v[idx] for k, v in faces.meta.items()}, faces.depth_bits)
    depths = depth_streams(sub, opts, load_depth_generator(generator))
    inputs = [tsne.gray_rgb(sub.rgb / 255.0),
              np.repeat(depths["gt"][..., None], 3, axis=-1),
              np.repeat(depths["hallucinated"][..., None], 3, axis=-1)]
    features = np.concatenate([
        np.concatenate([backbone(tf.constant(x[i:i + 64]), training=False).numpy()
                        for i in range(0, len(x), 64)]) for x in inputs])
    groups = np.repeat(np.arange(3), len(idx))
    points = tsne.tsne_2d(features, perplexity=perplexity, seed=seed)
    title = f"{opts.backbone} {stream} backbone of {os.path.basename(os.path.normpath(model_dir))}"
    tsne.scatter_png(points, groups, TSNE_MODALITIES, png_path, title=title)
    return {"points": points, "groups": groups,
            "identities": np.tile(split.labels(faces.meta, idx), 3),
            "stream": stream, "backbone": opts.backbone, "num_images": int(len(idx)),
            "nearest_tsne": tsne.modality_separation(points, groups, TSNE_MODALITIES),
            "nearest_embedding": tsne.modality_separation(features, groups, TSNE_MODALITIES)}
