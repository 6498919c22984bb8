"""SavedModel and LiteRT export with explicit serving signatures (style notes 5.5).

``export_depth_generator`` writes a SavedModel whose ``serving_default`` takes uint8 RGB of
any batch size and any spatial size, resizes it inside to the generator's resolution, and
returns the hallucinated depth in [0, 1] (``depth``, float32) and as 16-bit (``depth_uint16``,
round(depth * 65535)), both (N, H, W, 1) at the caller's input size (the generator's S x S
output resized back bilinearly, antialiased when shrinking).

``export_enhancer`` writes a face-depth enhancer's SavedModel: 16-bit depth in the paper's
convention (face window codes, 65535 = hole) in and out.

``export_depth_generator_litert`` / ``export_enhancer_litert`` write the same networks as
LiteRT (TFLite) flatbuffers through ``tf.lite.TFLiteConverter`` with builtin ops only, at a
fixed shape (batch 1, the model's resolution): LiteRT graphs are static, so the generator's
resize-to-S step stays outside (give S x S RGB). ``run_litert`` runs one in the interpreter.

Input contracts of the SavedModel signatures, checked in the graph (:func:`check_image_batch`,
``tf.debugging`` asserts, so TF Serving and C++ callers get them too; the loaded signatures
themselves do not enforce the TensorSpec's sizes). A violation raises
``tf.errors.InvalidArgumentError`` whose message names the signature input:

- generator ``rgb``: rank 4, H, W >= 1, 3 channels.
- enhancer ``depth_uint16``: rank 4, exactly S x S (the model's resolution; no silent
  resize), 1 channel. An image that is all holes (every code 65535) has nothing to
  enhance: its output is all holes (``depth`` 1.0, ``depth_uint16`` 65535) and a warning
  naming the batch indices is printed to stderr; the other images are unaffected. An image
  in the other hole convention (no pixel at 65535, >= 1 % at 0: 0 = hole depth) is refused
  (``check_paper_holes``; ``export_enhancer(..., allow_zero_code=True)`` accepts it).

Any batch size, N = 0 included (issue 19: the signatures promise "any batch"): an empty batch
that passes the checks gives empty outputs of the shape and dtype a real call has
(:func:`on_any_batch`; every SavedModel signature of depthlab uses it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from data_pipelines.conventions import PAPER_HOLE_CODE, UINT16_MAX, tanh_depth_to_unit
from depthlab.hole_conventions import ZERO_HOLE_FRACTION


def rgb_uint8_to_generator_input(rgb_uint8, image_size: int):
    """uint8 (N,H,W,3) -> float32 [-1, 1] (N,S,S,3), bilinear with antialiasing."""
    x = tf.cast(rgb_uint8, tf.float32)
    x = tf.image.resize(x, (image_size, image_size), method="bilinear", antialias=True)
    return x / 127.5 - 1.0


def generator_output_to_depth(output):
    """[-1, 1] generator output (first channel) -> ({0..1} float32, uint16) depth."""
    unit = tanh_depth_to_unit(output, clip=True)
    return unit, tf.cast(tf.round(unit * float(UINT16_MAX)), tf.uint16)


def check_new_export_dir(export_dir: str) -> None:
    """Refuses to overwrite: ``export_dir`` must be new or empty."""
    if os.path.exists(export_dir) and os.listdir(export_dir):
        raise FileExistsError(f"--export_dir {export_dir} exists and is not empty; "
                              "choose a new directory")


@contextlib.contextmanager
def atomic_export_dir(export_dir: str):
    """Yields a temporary directory beside ``export_dir``; on success it becomes
    ``export_dir`` in one rename, on failure it is removed (never a half-written export)."""
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".export_tmp_")
    try:
        yield tmp
        if os.path.exists(export_dir):
            os.rmdir(export_dir)
        os.replace(tmp, export_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def write_export_archive(archive: keras.export.ExportArchive, export_dir: str) -> str:
    """``archive.write_out`` through :func:`atomic_export_dir`."""
    with atomic_export_dir(export_dir) as tmp:
        archive.write_out(tmp, verbose=False)
    return export_dir


def on_any_batch(fn, *inputs):
    """``fn(*inputs)`` (a dict of batched outputs) for any batch size N, N = 0 included.

    Several ops of the networks refuse an empty batch (MirrorPad of the ResNet generators), so
    when every input has N = 0 ``fn`` runs on one image of ones with the same H, W and C and
    the first 0 rows of its outputs are returned: empty outputs whose shape (0, ...) and dtype
    are those of a real call, at the cost of one image's inference. Check the inputs before
    (:func:`check_image_batch`): ``fn`` sees the stand-in image, not the empty batch."""
    firsts = tf.stack([tf.concat([tf.shape(x), [-1]], 0)[0] for x in inputs])
    empty = tf.reduce_all(tf.equal(firsts, 0))

    def one_image(x):
        return tf.ones(tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype)

    out = fn(*[tf.cond(empty, lambda x=x: one_image(x), lambda x=x: x) for x in inputs])
    return {k: v[:tf.where(empty, 0, tf.shape(v)[0])] for k, v in out.items()}


def check_image_batch(x, name: str, channels: int, size=None):
    """``x`` with in-graph asserts: rank 4, H and W >= 1 (== ``size`` when given),
    ``channels`` channels; returned with the static shape (None, size, size, channels).
    Messages start with ``name`` (the signature input). N = 0 passes (an empty batch is
    served by :func:`on_any_batch`).

    A loaded SavedModel signature does not enforce its TensorSpec's shape (a 128x128 batch
    reaches a graph declared 256x256), so these checks run in the graph for every caller
    (Python, TF Serving, C++). They read the shape padded with -1 rather than ``tf.rank``,
    which a declared rank would turn into a constant and fold away."""
    shape = tf.shape(x)
    # The rank is read from the shape padded with -1 (not tf.rank, which a declared rank-4
    # spec turns into a constant): dims 0-3 present and no 5th dim.
    padded = tf.concat([shape, tf.fill([5], -1)], 0)[:5]
    hw = padded[1:3]
    problems = [
        (tf.reduce_any(tf.equal(padded[:4], -1)) | tf.not_equal(padded[4], -1),
         f"expected a 4-D batch (N, H, W, {channels})"),
        (tf.reduce_any(hw <= 0), "zero-size image (H or W = 0)"),
        (tf.not_equal(padded[3], channels),
         f"expected {channels} channel(s) in a 4-D (N, H, W, {channels}) batch"),
    ]
    if size is not None:
        problems.append((tf.reduce_any(tf.not_equal(hw, size)),
                         f"expected {size}x{size} images (the model resolution; resize or crop "
                         f"before calling)"))
    failed = tf.stack([c for c, _ in problems])
    reason = tf.gather(tf.constant([m for _, m in problems]),
                       tf.argmax(tf.cast(failed, tf.int32)))     # the first failed condition
    check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(failed)),
                                [f"{name}:", reason, "; got shape", shape], summarize=8)
    with tf.control_dependencies([check]):
        x = tf.identity(x)
    return tf.ensure_shape(x, [None, size, size, channels])


def depth_to_input_size(depth, height_width):
    """[0, 1] depth (N, S, S, 1) -> ([0, 1] float32, uint16) at (N, H, W, 1): bilinear,
    antialiased when shrinking, clipped to [0, 1]."""
    unit = tf.image.resize(depth, height_width, method="bilinear", antialias=True)
    unit = tf.clip_by_value(unit, 0.0, 1.0)
    return unit, tf.cast(tf.round(unit * float(UINT16_MAX)), tf.uint16)


def export_depth_generator(generator: keras.Model, export_dir: str, image_size: int) -> str:
    """Writes the SavedModel to ``export_dir`` atomically (a temp dir, then a rename)."""
    check_new_export_dir(export_dir)
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def depth_of(rgb):
        depth, _ = generator_output_to_depth(
            generator(rgb_uint8_to_generator_input(rgb, image_size), training=False))
        depth, depth16 = depth_to_input_size(depth, tf.shape(rgb)[1:3])
        return {"depth": depth, "depth_uint16": depth16}

    def serve(rgb):
        return on_any_batch(depth_of, check_image_batch(rgb, "serving_default input rgb", 3))

    archive.add_endpoint(
        "serving_default", serve,
        # declared (N, H, W, 3) (recognition's generator loader reads the spec); enforced in the
        # graph (check_image_batch), since a loaded signature does not enforce its spec
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="rgb")])
    return write_export_archive(archive, export_dir)


def enhancer_output_to_uint16(output):
    """[0, 1] enhancer output -> float32 [0, 1] and paper-convention uint16 codes."""
    unit = tf.clip_by_value(tf.cast(output, tf.float32), 0.0, 1.0)
    return unit, tf.cast(tf.round(unit * float(PAPER_HOLE_CODE)), tf.uint16)


def _enhancer_size(model: keras.Model) -> int:
    size = getattr(model, "image_size", None) or model.inputs[0].shape[1]
    return int(size)


def check_paper_holes(depth_uint16, name: str):
    """In-graph refusal of 0-hole depth where the paper's 65535 = hole codes are expected
    (``depthlab.hole_conventions``' rule, the same threshold): an image with no pixel at 65535
    and at least ``ZERO_HOLE_FRACTION`` of its pixels at 0 fails a ``tf.debugging.Assert``
    whose message starts with ``name`` and lists the batch indices."""
    is_zero = tf.cast(tf.equal(depth_uint16, 0), tf.float32)
    has_hole = tf.reduce_any(tf.equal(depth_uint16, PAPER_HOLE_CODE), axis=[1, 2, 3])
    zero_share = tf.reduce_mean(is_zero, axis=[1, 2, 3])
    bad = tf.logical_and(tf.logical_not(has_hole), zero_share >= ZERO_HOLE_FRACTION)
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad)),
        [f"{name}: image(s)", tf.reshape(tf.where(bad), [-1]),
         f"have no pixel at {PAPER_HOLE_CODE} (the paper's hole) but >= "
         f"{100 * ZERO_HOLE_FRACTION:g} % at 0: this looks like 0 = hole depth where the "
         f"paper's 16-bit codes with {PAPER_HOLE_CODE} = hole are expected; convert holes to "
         f"{PAPER_HOLE_CODE} and depth to face-window codes (section IV-J)"], summarize=16)
    with tf.control_dependencies([check]):
        return tf.identity(depth_uint16)


def export_enhancer(model: keras.Model, export_dir: str, allow_zero_code: bool = False) -> str:
    """Face-depth enhancer SavedModel (Schlett et al. convention, section IV-J).

    ``serving_default(depth_uint16: uint16 (N, S, S, 1))`` with the paper's 16-bit codes
    (the face window mapped to 0..65534, holes 65535; S = the model's 256) ->
    ``{'depth': float32 [0, 1], 'depth_uint16': uint16}``, both (N, S, S, 1).
    Checked in the graph (module docstring): S x S, one channel; an all-hole image gives an
    all-hole output and a warning on stderr; an image that looks like 0-hole depth
    (:func:`check_paper_holes`) is refused unless ``allow_zero_code``; an empty batch gives
    empty outputs.
    """
    check_new_export_dir(export_dir)
    size = _enhancer_size(model)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def enhance(depth_uint16):
        all_hole = tf.reduce_all(tf.equal(depth_uint16, PAPER_HOLE_CODE), axis=[1, 2, 3])
        warn = tf.cond(
            tf.reduce_any(all_hole),
            lambda: _warn_all_holes(all_hole),
            lambda: tf.constant(True))
        x = tf.cast(depth_uint16, tf.float32) / float(PAPER_HOLE_CODE)
        with tf.control_dependencies([warn]):
            unit, _ = enhancer_output_to_uint16(model(x, training=False))
        unit = tf.where(all_hole[:, None, None, None], tf.ones_like(unit), unit)
        codes = tf.cast(tf.round(unit * float(PAPER_HOLE_CODE)), tf.uint16)
        return {"depth": unit, "depth_uint16": codes}

    def serve(depth_uint16):
        name = "serving_default input depth_uint16"
        depth_uint16 = check_image_batch(depth_uint16, name, 1, size)
        if not allow_zero_code:
            depth_uint16 = check_paper_holes(depth_uint16, name)
        return on_any_batch(enhance, depth_uint16)

    archive.add_endpoint(
        "serving_default", serve,
        # declared (N, S, S, 1); enforced in the graph (check_image_batch)
        input_signature=[tf.TensorSpec([None, size, size, 1], tf.uint16, name="depth_uint16")])
    return write_export_archive(archive, export_dir)


def _warn_all_holes(all_hole):
    indices = tf.reshape(tf.where(all_hole), [-1])
    op = tf.print("WARNING: serving_default input depth_uint16: image(s)", indices,
                  "are all holes (65535); their output is all holes (depth 1.0, "
                  "depth_uint16 65535)", output_stream=sys.stderr)
    with tf.control_dependencies([op]):
        return tf.constant(True)


# -- LiteRT (TFLite flatbuffers) --------------------------------------------------------
LITERT_FILENAME = "model.tflite"


def _write_litert(fn, input_spec: tf.TensorSpec, export_dir: str, signature: dict) -> str:
    """Converts ``fn`` (traced at ``input_spec``) with builtin ops only and writes
    ``<export_dir>/model.tflite`` plus ``signature.json`` describing its tensors, atomically."""
    check_new_export_dir(export_dir)
    concrete = tf.function(fn).get_concrete_function(input_spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    with atomic_export_dir(export_dir) as tmp:
        with open(os.path.join(tmp, LITERT_FILENAME), "wb") as f:
            f.write(flatbuffer)
        with open(os.path.join(tmp, "signature.json"), "w") as f:
            json.dump(signature, f, indent=2)
    return os.path.join(export_dir, LITERT_FILENAME)


def export_depth_generator_litert(generator: keras.Model, export_dir: str,
                                  image_size: int) -> str:
    """LiteRT depth generator: ``rgb`` uint8 (1, S, S, 3) -> ``depth`` float32 [0, 1]
    (1, S, S, 1), the SavedModel's ``depth`` output without its resize (give S x S RGB)."""
    def serve(rgb):
        x = tf.cast(rgb, tf.float32) / 127.5 - 1.0
        return {"depth": generator_output_to_depth(generator(x, training=False))[0]}

    spec = tf.TensorSpec([1, image_size, image_size, 3], tf.uint8, name="rgb")
    return _write_litert(serve, spec, export_dir, {
        "inputs": {"rgb": f"uint8 (1, {image_size}, {image_size}, 3)"},
        "outputs": {"depth": f"float32 [0, 1] (1, {image_size}, {image_size}, 1)"}})


def export_enhancer_litert(model: keras.Model, export_dir: str) -> str:
    """LiteRT enhancer: ``depth`` float32 (1, S, S, 1), the paper's 16-bit codes / 65535
    (holes 1.0) -> ``depth`` float32 [0, 1] (1, S, S, 1). Float in and out: the uint16
    conversion of the SavedModel is a division the caller does."""
    size = _enhancer_size(model)

    def serve(depth):
        return {"depth": enhancer_output_to_uint16(model(depth, training=False))[0]}

    spec = tf.TensorSpec([1, size, size, 1], tf.float32, name="depth")
    return _write_litert(serve, spec, export_dir, {
        "inputs": {"depth": f"float32 (1, {size}, {size}, 1): uint16 paper codes / 65535"},
        "outputs": {"depth": f"float32 [0, 1] (1, {size}, {size}, 1)"}})


def run_litert(path: str, inputs: dict) -> dict:
    """Runs a LiteRT model from ``export_*_litert`` in the TF Lite interpreter.

    ``inputs``: ``{name: array}`` with the names of its ``signature.json``; returns
    ``{name: array}``. The exported graphs have one input and one output.
    """
    if os.path.isdir(path):
        path = os.path.join(path, LITERT_FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no LiteRT model at {path}")
    signature_path = os.path.join(os.path.dirname(path), "signature.json")
    with open(signature_path) as f:
        signature = json.load(f)
    if set(inputs) != set(signature["inputs"]):
        raise ValueError(f"{path} takes inputs {sorted(signature['inputs'])}, "
                         f"got {sorted(inputs)}")
    interpreter = tf.lite.Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    (value,) = inputs.values()
    value = np.asarray(value)
    if tuple(value.shape) != tuple(detail["shape"]) or value.dtype != detail["dtype"]:
        raise ValueError(f"{path} expects {detail['dtype'].__name__} of shape "
                         f"{tuple(detail['shape'])}, got {value.dtype} {value.shape}")
    interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    (out,) = interpreter.get_output_details()
    (name,) = signature["outputs"]
    return {name: interpreter.get_tensor(out["index"])}
