"""Landmark heat maps (the optional landmark head of TS-GAN's G_A2B): hand-worked values, the
left-right mirror, visibility, and their pixel alignment with the rendered faces."""

import numpy as np
import pytest

from data_pipelines import landmark_heatmaps as lh
from data_pipelines import synthetic_faces as sf

#: the iBUG-68 left-right mirror (index -> its mirror), written out from the 68-point chart
_MIRROR = np.array(
    list(range(16, -1, -1))                                   # jaw 0..16
    + list(range(26, 16, -1))                                 # brows 17..26
    + [27, 28, 29, 30] + [35, 34, 33, 32, 31]                 # nose bridge, nostrils
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]     # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]        # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65])                       # inner lips


def _only(points, n=68):
    """Landmarks at ``points`` {index: (x, y)}, every other index invisible."""
    lm, vis = np.zeros((n, 2)), np.zeros(n, bool)
    for i, xy in points.items():
        lm[i], vis[i] = xy, True
    return lm, vis


def test_one_point_is_a_unit_gaussian_at_its_pixel_centre():
    """Nose tip (index 30) at the centre of pixel (row 20, col 10), sigma 2: 1 there,
    exp(-1/8) one pixel to the side, exp(-2/8) diagonally; every other map 0."""
    lm, vis = _only({30: (10.5, 20.5)})
    h = lh.landmark_heatmaps(lm, vis, 32, 24, sigma=2.0)
    assert h.shape == (32, 24, lh.NUM_MAPS) and h.dtype == np.float32
    nose = [n for n, _ in lh.LANDMARK_GROUPS].index("nose_tip")
    assert h[20, 10, nose] == pytest.approx(1.0)
    assert h[20, 11, nose] == pytest.approx(np.exp(-1 / 8), rel=1e-6)
    assert h[21, 11, nose] == pytest.approx(np.exp(-2 / 8), rel=1e-6)
    assert np.all(np.delete(h, nose, axis=-1) == 0)


def test_an_eye_is_the_mean_of_its_six_points_and_a_group_is_the_max_of_its_points():
    ring = {36 + k: (5.5 + dx, 8.5 + dy) for k, (dx, dy) in
            enumerate([(-2, 0), (-1, -1), (1, -1), (2, 0), (1, 1), (-1, 1)])}
    ring.update({42 + k: (xy[0] + 10.0, xy[1]) for k, xy in enumerate(ring.values())})
    lm, vis = _only(ring)
    eyes = [n for n, _ in lh.LANDMARK_GROUPS].index("eyes")
    h = lh.landmark_heatmaps(lm, vis, 16, 24, sigma=1.0)[..., eyes]
    assert h[8, 5] == pytest.approx(1.0) and h[8, 15] == pytest.approx(1.0)
    # half way between the eyes: 5 px from both centres -> exp(-25 / 2) (max, not sum)
    assert h[8, 10] == pytest.approx(np.exp(-12.5), rel=1e-5)


def test_a_point_with_an_invisible_index_is_left_out():
    lm, vis = _only({36 + k: (5.5, 8.5) for k in range(6)})
    vis[38] = False
    eyes = [n for n, _ in lh.LANDMARK_GROUPS].index("eyes")
    assert np.all(lh.landmark_heatmaps(lm, vis, 16, 16, 1.0)[..., eyes] == 0)


def test_mirroring_the_face_mirrors_every_map():
    """A face's maps, flipped left-right, are the maps of its mirrored landmarks (x -> W - x,
    indices through the iBUG mirror): the trainer may flip images without relabelling maps."""
    assert sorted(_MIRROR) == list(range(68)) and np.all(_MIRROR[_MIRROR] == np.arange(68))
    face = sf.generate_face(5, 0, sf.FaceConfig(image_size=48))
    lm, vis = face["landmarks"], face["landmarks_visible"]
    mirrored = np.stack([48.0 - lm[_MIRROR, 0], lm[_MIRROR, 1]], -1)
    a = lh.landmark_heatmaps(lm, vis, 48, 48, 1.5)
    b = lh.landmark_heatmaps(mirrored, vis[_MIRROR], 48, 48, 1.5)
    assert a.max() > 0.5
    np.testing.assert_allclose(a[:, ::-1], b, atol=1e-6)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        lh.landmark_heatmaps(np.zeros((5, 2)), np.ones(5, bool), 8, 8, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        lh.landmark_heatmaps(np.zeros((68, 2)), np.ones(68, bool), 8, 8, 0.0)
