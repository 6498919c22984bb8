"""Faces, splits, depth streams and tf.data of the TS-GAN recognition runs (paper section 4.1
datasets and section 4.2 "Protocols": IIIT-D RGB-D's five predefined folds, EURECOM
KinectFaceDb's 50-50 split with its pose and occlusion sets of Table 3, LFW's 20 test images of
each of its 62 identities for Table 4).

RGB, ground-truth depth D and hallucinated depth D~ enter the recognition networks in [0, 1],
depth replicated to three channels.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from data_pipelines import recognition_protocols as rp
from data_pipelines.paired import epoch_index_stream, tsgan_depth_to_unit

from .options import RunOptions, fold_name, folds


AUTOTUNE = tf.data.AUTOTUNE


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


_folds = folds


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


_fold_name = fold_name
