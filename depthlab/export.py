"""SavedModel export with explicit serving signatures (style notes 5.5).

``export_depth_generator`` writes a SavedModel whose ``serving_default`` takes uint8 RGB of
any batch size and any spatial size, resizes it inside to the generator's resolution, and
returns the hallucinated depth in [0, 1] (``depth``, float32) and as 16-bit (``depth_uint16``,
round(depth * 65535)), both (N, S, S, 1) at the generator resolution S.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import tensorflow as tf


def rgb_uint8_to_generator_input(rgb_uint8, image_size: int):
    """uint8 (N,H,W,3) -> float32 [-1, 1] (N,S,S,3), bilinear with antialiasing."""
    x = tf.cast(rgb_uint8, tf.float32)
    x = tf.image.resize(x, (image_size, image_size), method="bilinear", antialias=True)
    return x / 127.5 - 1.0


def generator_output_to_depth(output):
    """[-1, 1] generator output (first channel) -> ({0..1} float32, uint16) depth."""
    unit = tf.clip_by_value((tf.cast(output[..., :1], tf.float32) + 1.0) * 0.5, 0.0, 1.0)
    return unit, tf.cast(tf.round(unit * 65535.0), tf.uint16)


def export_depth_generator(generator: keras.Model, export_dir: str, image_size: int) -> str:
    """Writes the SavedModel to ``export_dir`` atomically (a temp dir, then a rename)."""
    if os.path.exists(export_dir) and os.listdir(export_dir):
        raise FileExistsError(f"--export_dir {export_dir} exists and is not empty; "
                              "choose a new directory")
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def serve(rgb):
        depth, depth16 = generator_output_to_depth(
            generator(rgb_uint8_to_generator_input(rgb, image_size), training=False))
        return {"depth": depth, "depth_uint16": depth16}

    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="rgb")])
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".export_tmp_")
    try:
        archive.write_out(tmp, verbose=False)
        if os.path.exists(export_dir):
            os.rmdir(export_dir)
        os.replace(tmp, export_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return export_dir
