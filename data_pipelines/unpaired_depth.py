"""Readers of the ``unpaired_depth`` view (``data_pipelines.registry``): the image and 8-bit
depth domains of CycleGAN depth synthesis (Suarez, Carpio, Sappa), one function per dataset.

Contract of the view: ``reader(split, image_size, data_dir=None, limit=None, seed=0,
synthetic_identities=20, synthetic_images_per_identity=10) -> (rgb, depth8)``, ``rgb`` uint8
(N, S, S, 3), ``depth8`` uint8 (N, S, S), paired in file order (the trainer unpairs the
training set by shuffling the two domains independently; the test set stays paired for the
metrics). Arguments a dataset does not use are ignored.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def synthetic_faces(split: str, image_size: int, data_dir: Optional[str] = None,
                    limit: Optional[int] = None, seed: int = 0, synthetic_identities: int = 20,
                    synthetic_images_per_identity: int = 10) -> Tuple[np.ndarray, np.ndarray]:
    """The procedural faces' RGB and their depth as TS-GAN's [0, 1] near-is-bright image
    (``tsgan_depth_to_unit``: the nearest face point 1, 250 mm behind it 1/255, background 0)
    times 255. The test split holds ``max(4, identities // 4)`` unseen identities."""
    from data_pipelines import sources
    from data_pipelines.paired import tsgan_depth_to_unit

    ids = synthetic_identities if split == "train" else max(4, synthetic_identities // 4)
    paired = sources.load_paired(sources.SYNTHETIC, split, image_size, seed=seed,
                                 synthetic_size=sources.SyntheticSize(
                                     ids, synthetic_images_per_identity), limit=limit)
    unit, _ = tsgan_depth_to_unit(paired.depth, paired.depth_bits)
    return paired.rgb, np.round(unit.numpy() * 255.0).astype(np.uint8)


def nyu_depth_v2(split: str, image_size: int, data_dir: Optional[str] = None,
                 limit: Optional[int] = None, via_tfds: bool = True,
                 **_unused) -> Tuple[np.ndarray, np.ndarray]:
    """The labeled .mat (``data_dir``: the file or its folder), first 1000 frames train, the
    other 449 test; depth as ``round(255 * clip(d / 10 m, 0, 1))``. Read through the TFDS
    builder unless ``via_tfds=False`` (``nyu_depth_v2.frames``)."""
    from data_pipelines import nyu_depth_v2 as nyu

    frames = nyu.frames(data_dir, split, image_size, limit, via_tfds)
    return frames.rgb, nyu.depth_to_uint8(frames.depth)


# the 8-bit depth convention of each dataset (sample grids' colours): NYU small = near, the
# faces' TS-GAN image near = bright
synthetic_faces.near_is_small = False
nyu_depth_v2.near_is_small = True
