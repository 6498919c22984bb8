"""TS-GAN Figure 4: t-SNE of backbone embeddings of gray RGB, ground-truth depth D and
hallucinated depth D~ of the same faces.

- ``gray_rgb``: ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) of [0, 1] RGB, replicated to
  3 channels, so the three modalities enter one 3-channel backbone alike.
- ``tsne_2d``: scikit-learn's ``TSNE`` (an optional dependency: ``pip install -e ".[tsne]"``);
  without it a ``ModuleNotFoundError`` says how to install it.
- ``scatter_png``: a plain OpenCV scatter plot, one colour per modality, with a legend (no
  matplotlib needed).
- ``modality_separation``: a number to go with the picture: for each D~ point, whether its
  nearest other point (2-D t-SNE or embedding space) is a D point, a gray-RGB point or another
  D~ point (fractions).
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from data_pipelines.conventions import rgb_to_gray3

SKLEARN_HINT = ("Figure 4 (--tsne_png) needs scikit-learn's TSNE, an optional dependency: "
                "pip install scikit-learn (or pip install -e \".[tsne]\")")
# RGB colours per modality (gray RGB, D, D~).
MODALITY_COLOURS = ((90, 90, 90), (31, 119, 180), (214, 39, 40))


def gray_rgb(rgb: np.ndarray) -> np.ndarray:
    """[0, 1] RGB (N, H, W, 3) -> BT.601 luma replicated to (N, H, W, 3)."""
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"gray_rgb: expected (N, H, W, 3), got {rgb.shape}")
    return rgb_to_gray3(rgb).numpy()


def tsne_2d(features: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """(N, F) -> (N, 2) t-SNE coordinates (scikit-learn, PCA init, seeded).

    The perplexity is capped at (N - 1) / 3 (scikit-learn needs perplexity < N).
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError as e:
        raise ModuleNotFoundError(SKLEARN_HINT) from e
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or len(x) < 4:
        raise ValueError(f"tsne_2d: need (N >= 4, F) features, got {x.shape}")
    perplexity = float(min(perplexity, max(1.0, (len(x) - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=int(seed),
                learning_rate="auto").fit_transform(x).astype(np.float32)


def modality_separation(points: np.ndarray, groups: np.ndarray,
                        names: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """{group: {group': fraction of its points whose nearest other point is in group'}}."""
    points = np.asarray(points, np.float64)
    groups = np.asarray(groups)
    d = np.sum((points[:, None] - points[None]) ** 2, axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = groups[np.argmin(d, axis=1)]
    out = {}
    for g, name in enumerate(names):
        mine = groups == g
        if mine.any():
            out[name] = {other: float(np.mean(nearest[mine] == h))
                         for h, other in enumerate(names)}
    return out


def scatter_png(points: np.ndarray, groups: np.ndarray, names: Sequence[str], path: str,
                size: int = 512, radius: int = 3, title: str = "") -> np.ndarray:
    """Scatter plot of (N, 2) ``points`` coloured by ``groups`` (indices into ``names``),
    written atomically to ``path``; returns the uint8 RGB image.

    Points are scaled to fill the square with a 24-pixel margin (aspect kept); a legend with
    one coloured disc and name per group sits top-left, the title bottom-left.
    """
    import cv2

    from depthlab import visualize

    points = np.asarray(points, np.float64)
    groups = np.asarray(groups, np.int64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(groups):
        raise ValueError(f"scatter_png: points {points.shape} and groups {groups.shape} must be "
                         "(N, 2) and (N,)")
    if len(names) > len(MODALITY_COLOURS) or groups.min() < 0 or groups.max() >= len(names):
        raise ValueError(f"scatter_png: groups must index {len(names)} names "
                         f"(<= {len(MODALITY_COLOURS)})")
    margin = 24
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = (size - 2 * margin) / max(float(np.max(hi - lo)), 1e-12)
    centre = (lo + hi) / 2.0
    pix = np.round((points - centre) * scale + size / 2.0).astype(int)
    pix[:, 1] = size - 1 - pix[:, 1]                      # y up
    image = np.full((size, size, 3), 255, np.uint8)
    for (x, y), g in zip(pix, groups):
        cv2.circle(image, (int(x), int(y)), radius, MODALITY_COLOURS[g], -1, cv2.LINE_AA)
    for g, name in enumerate(names):
        cv2.circle(image, (12, 12 + 16 * g), 5, MODALITY_COLOURS[g], -1, cv2.LINE_AA)
        cv2.putText(image, str(name), (22, 16 + 16 * g), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(image, title, (6, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    visualize.save_png(path, image)
    return image
