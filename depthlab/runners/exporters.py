"""Export any trained run: which trainer wrote a ``model_dir``, and that runner's export.

``detect_kind(model_dir)`` reads ``<model_dir>/config.json`` and names the model kind (a key
of ``KINDS``); ``export_run(model_dir, export_dir, kind, fmt)`` calls the runner's own export
function for that kind (``experiments.export_savedmodel``). Formats: 'savedmodel' for every
exportable kind, 'litert' where ``depthlab.export`` has a LiteRT path (the image-to-depth
generators and the enhancers).

Kinds: tsgan (G_A2B of a train_tsgan run, every --method: TS-GAN and the FCN / cGAN /
CycleGAN baselines share the generator), enhancer (train_enhancer), cyclegan_depth (G1),
two_stage (the stage-1 or stage-1 + stage-2 pipeline), dsr (DSRNet of train_dsr_distill),
recognition (the run's final predictor per fold: face batch -> class scores, logits,
embedding; ``depthlab.runners.recognition.serving``).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Tuple

#: kind -> (trainer binary, what is exported, formats)
KINDS: Dict[str, Tuple[str, str, Tuple[str, ...]]] = {
    "tsgan": ("experiments.train_tsgan", "G_A2B, RGB -> depth (TS-GAN and its FCN / cGAN / "
              "CycleGAN baselines)", ("savedmodel", "litert")),
    "enhancer": ("experiments.train_enhancer", "a DL-Alpha..Delta face-depth enhancer",
                 ("savedmodel", "litert")),
    "cyclegan_depth": ("experiments.train_cyclegan_depth", "G1, RGB -> depth",
                       ("savedmodel", "litert")),
    "two_stage": ("experiments.train_two_stage", "the RGB + sparse depth pipeline (stage 1, "
                  "and stage 2 for a stage-2 run)", ("savedmodel",)),
    "dsr": ("experiments.train_dsr_distill", "DSRNet, LR depth -> HR depth", ("savedmodel",)),
    "recognition": ("experiments.train_recognition", "the final predictor per fold, RGB (+ depth) "
                    "faces -> class scores, logits, embedding", ("savedmodel",)),
}
FORMATS = ("savedmodel", "litert")
_BY_TRAINER = {trainer: kind for kind, (trainer, _, _) in KINDS.items()}


def kinds_help() -> str:
    return "; ".join(f"{k} ({t})" for k, (t, _, _) in KINDS.items())


def kind_of_trainer(trainer: str):
    """The kind of a config.json 'trainer' value: a binary ('experiments.train_tsgan') or an
    experiment name of depthlab.core ('tsgan', 'dsr_distill', 'two_stage_stage2', ...)."""
    if trainer in _BY_TRAINER:
        return _BY_TRAINER[trainer]
    name = trainer.rsplit(".", 1)[-1]
    name = name[len("train_"):] if name.startswith("train_") else name
    if name in KINDS:
        return name
    for prefix, kind in (("dsr", "dsr"), ("two_stage", "two_stage"), ("tsgan", "tsgan"),
                         ("cyclegan_depth", "cyclegan_depth"), ("enhancer", "enhancer"),
                         ("recognition", "recognition")):
        if name.startswith(prefix):
            return kind
    return None


def _fields(cls) -> set:
    return {f.name for f in dataclasses.fields(cls)}


def detect_kind(model_dir: str) -> str:
    """The kind (``KINDS``) of the run in ``model_dir``, from its config.json.

    A 'trainer' field decides; without one (runs recorded before it existed), the layout of
    each trainer's record does. FileNotFoundError / ValueError name the directory, what was
    found and the kinds to pass with --model_kind.
    """
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model_dir={model_dir} has no config.json, so it is not a "
                                f"training run; kinds: {kinds_help()}")
    from depthlab import training

    record = training.read_json(path)
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a JSON object; pass --model_kind=one of {list(KINDS)}")
    trainer = record.get("trainer")
    if isinstance(trainer, str):
        kind = kind_of_trainer(trainer)
        if kind is None:
            raise ValueError(f"{path} was written by trainer {trainer!r}, which has no export; "
                             f"kinds: {kinds_help()}")
        return kind
    if record.get("stage") in (1, 2):
        return "two_stage"
    model = record.get("model")
    if isinstance(model, dict):
        from depthlab.configs import TSGANConfig
        from depthlab.models.cyclegan_depth import CycleGANDepthConfig
        from depthlab.models.dsr_distill import DSRConfig

        keys = set(model)
        matches = [kind for kind, cls in (("tsgan", TSGANConfig),
                                          ("cyclegan_depth", CycleGANDepthConfig),
                                          ("dsr", DSRConfig)) if keys <= _fields(cls)]
        if "ablation" in record and "tsgan" in matches:
            return "tsgan"
        if len(matches) == 1:
            return matches[0]
    elif "backbone" in record and "inputs" in record:
        return "recognition"
    elif "variant" in record and ("ground_truths" in record or set(record) <= {
            "variant", "image_size", "model_dir"}):
        return "enhancer"
    raise ValueError(f"cannot tell which trainer wrote {path} (top-level keys "
                     f"{sorted(record)}); pass --model_kind=one of: {kinds_help()}")


def export_run(model_dir: str, export_dir: str, kind: str = "auto",
               fmt: str = "savedmodel") -> str:
    """Exports the run in ``model_dir`` (``kind`` 'auto': :func:`detect_kind`) as ``fmt`` to
    the new or empty ``export_dir``; returns the written path."""
    if kind == "auto":
        kind = detect_kind(model_dir)
    if kind not in KINDS:
        raise ValueError(f"--model_kind={kind!r} is not one of {['auto', *KINDS]}")
    if fmt not in FORMATS:
        raise ValueError(f"--format={fmt!r} is not one of {FORMATS}")
    formats = KINDS[kind][2]
    if fmt not in formats:
        raise ValueError(f"--format={fmt} is not available for --model_kind={kind} (formats: "
                         f"{', '.join(formats)})")
    from depthlab import export

    if kind == "tsgan":
        from depthlab.runners import tsgan as runner

        model, _ = runner.load_trained(model_dir)
        size = model.config.image_size
        if fmt == "litert":
            return export.export_depth_generator_litert(model.g_a2b, export_dir, size)
        return export.export_depth_generator(model.g_a2b, export_dir, size)
    if kind == "enhancer":
        from depthlab.runners.enhancer import load_enhancer

        model = load_enhancer(model_dir)
        if fmt == "litert":
            return export.export_enhancer_litert(model, export_dir)
        return export.export_enhancer(model, export_dir)
    if kind == "cyclegan_depth":
        from depthlab.models.cyclegan_depth import deployable_generator
        from depthlab.runners import cyclegan_depth as runner

        model, opts = runner.load_trained(model_dir)
        if fmt == "litert":
            return export.export_depth_generator_litert(
                deployable_generator(model, opts.input_mode), export_dir, model.config.image_size)
        return runner.export(model, export_dir, opts.input_mode)
    if kind == "recognition":
        from depthlab.runners.recognition import serving

        return serving.export_run(model_dir, export_dir)
    if kind == "two_stage":
        from depthlab.runners import two_stage as runner

        return runner.export_pipeline(model_dir, export_dir)
    from depthlab.runners import dsr_distill as runner          # kind == "dsr"

    model, _ = runner.load_trained(model_dir)
    return runner.export_dsrnet(model.dsrnet, export_dir)
