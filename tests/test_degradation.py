"""Degradation synthesis (Schlett et al., section III-B): checks against closed forms, brute-force
NumPy/SciPy references and hand-worked numbers on small hand-made "faces"."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from data_pipelines import degradation as dg
from data_pipelines.degradation import holes as dg_holes
from data_pipelines.degradation import noise as dg_noise
from data_pipelines.degradation import seeds as dg_seeds


def disc_face(size=64, radius=22, center=None, near=600.0, slope=2.0):
    """A disc 'face' whose depth grows with the distance from its centre; background 0."""
    cy, cx = center if center is not None else (size / 2 - 0.5, size / 2 - 0.5)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    r = np.hypot(yy - cy, xx - cx)
    return np.where(r <= radius, near + slope * r, 0.0).astype(np.float32)


def brute_ellipse(h, w, cy, cx, a, b, t):
    """Pixel centres inside the ellipse, float64, straight from the definition."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    u = (dx * math.cos(t) + dy * math.sin(t)) / a
    v = (-dx * math.sin(t) + dy * math.cos(t)) / b
    return u * u + v * v <= 1.0


def outline_np(valid):
    return valid & ~ndimage.binary_erosion(valid, np.ones((3, 3), bool), border_value=1)


NO_HOLES_NOISE = dict(outline_holes=False, random_holes=False, noise=False)


# ----------------------------------------------------------------------------------------------
# holes
# ----------------------------------------------------------------------------------------------
def test_rasterize_matches_brute_force_and_area():
    params = [(20.3, 30.7, 12.0, 5.0, 0.4), (40.1, 15.2, 8.5, 8.5, 0.0),
              (10.6, 50.4, 9.0, 2.5, 2.3), (33.3, 33.3, 15.0, 6.0, -0.9)]
    h, w = 64, 72
    centers = np.array([[p[0], p[1]] for p in params], np.float32)[None]
    axes = np.array([[p[2], p[3]] for p in params], np.float32)[None]
    angles = np.array([p[4] for p in params], np.float32)[None]
    for k, (cy, cx, a, b, t) in enumerate(params):
        active = np.zeros((1, len(params)), bool)
        active[0, k] = True
        got = dg.rasterize_ellipses(h, w, centers, axes, angles, active, 16.0).numpy()[0]
        want = brute_ellipse(h, w, cy, cx, a, b, t)
        assert np.sum(got != want) <= 1, (k, np.sum(got != want))    # float32 vs float64 ties
        if 0 <= cy - a and cy + a < h and 0 <= cx - a and cx + a < w:   # fully inside
            assert abs(got.sum() - math.pi * a * b) <= 0.1 * math.pi * a * b + 4
    union = dg.rasterize_ellipses(h, w, centers, axes, angles, np.ones((1, 4), bool), 16.0)
    want = np.any([brute_ellipse(h, w, *p) for p in params], axis=0)
    assert np.sum(union.numpy()[0] != want) <= 2


def _mask_from_text(rows):
    return np.array([[c == "#" for c in r] for r in rows])


def test_polygon_from_vertices_hand_worked():
    """Fig. 5 "Generate Random Hole Vertices" -> "Hole Depth Rendering": pixel centres inside
    or on a convex polygon. Triangle (x, y) = (1,1), (5,1), (1,5), given with a repeated
    vertex (a zero-length edge, how shorter polygons are padded): x >= 1, y >= 1, x + y <= 6
    (15 pixels); diamond |x - 4| + |y - 4| <= 2 (13 pixels)."""
    tri = [[1, 1], [1, 5], [5, 1], [5, 1]]               # (y, x), last vertex repeated
    diamond = [[4, 6], [6, 4], [4, 2], [2, 4]]
    got = dg.rasterize_polygons(8, 8, np.array([[tri, diamond]], np.float32),
                                np.array([[True, False]]), 6.0).numpy()[0]
    want_tri = _mask_from_text(["........",
                                ".#####..",
                                ".####...",
                                ".###....",
                                ".##.....",
                                ".#......",
                                "........",
                                "........"])
    np.testing.assert_array_equal(got, want_tri)
    got = dg.rasterize_polygons(8, 8, np.array([[diamond, tri]], np.float32),
                                np.array([[True, False]]), 3.0).numpy()[0]
    want_diamond = _mask_from_text(["........",
                                    "........",
                                    "....#...",
                                    "...###..",
                                    "..#####.",
                                    "...###..",
                                    "....#...",
                                    "........"])
    np.testing.assert_array_equal(got, want_diamond)
    assert want_tri.sum() == 15 and want_diamond.sum() == 13
    union = dg.rasterize_polygons(8, 8, np.array([[tri, diamond]], np.float32),
                                  np.array([[True, True]]), 6.0).numpy()[0]
    np.testing.assert_array_equal(union, want_tri | want_diamond)


def brute_polygon(h, w, verts):
    """Pixel centres with cross(Q - P, X - P) >= 0 for every edge, float64."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    inside = np.ones((h, w), bool)
    v = np.asarray(verts, np.float64)
    for (py, px), (qy, qx) in zip(v, np.roll(v, -1, axis=0)):
        inside &= (qx - px) * (yy - py) - (qy - py) * (xx - px) >= 0
    return inside


def test_hole_vertices_are_a_convex_polygon_on_the_holes_ellipse():
    """Every vertex lies on the ellipse of the hole's size, aspect and orientation, in
    counter-clockwise order (so the polygon is convex), with n in the vertex-count range
    distinct vertices; rasterised, it equals the brute-force point-in-polygon test and lies
    inside the ellipse."""
    h = w = 64
    kw = dict(count_range=(10, 10), size_range=(4.0, 12.0), vertex_count_range=(3, 8))
    c, ax, ang, act, verts = (t.numpy() for t in dg.random_hole_parameters(
        tf.constant([3, 4]), h, w, **kw))
    counts = set()
    for k in range(10):
        v = verts[k].astype(np.float64)
        dy, dx = v[:, 0] - c[k, 0], v[:, 1] - c[k, 1]
        t = ang[k]
        u1 = (dx * math.cos(t) + dy * math.sin(t)) / ax[k, 0]
        u2 = (-dx * math.sin(t) + dy * math.cos(t)) / ax[k, 1]
        np.testing.assert_allclose(u1 ** 2 + u2 ** 2, 1.0, atol=1e-4)
        distinct = np.unique(np.round(v, 4), axis=0)
        counts.add(len(distinct))
        e = np.roll(v, -1, axis=0) - v
        nxt = np.roll(e, -1, axis=0)
        cross = e[:, 1] * nxt[:, 0] - e[:, 0] * nxt[:, 1]   # (x, y) cross of consecutive edges
        assert np.all(cross >= -1e-3), cross
        got = dg.rasterize_polygons(h, w, verts[k][None, None], np.ones((1, 1), bool),
                                    12.0).numpy()[0]
        want = brute_polygon(h, w, v)
        assert np.sum(got != want) <= 1                            # float32 ties on edges
        assert np.all(~got | brute_ellipse(h, w, c[k, 0], c[k, 1], ax[k, 0] + 1e-3,
                                           ax[k, 1] + 1e-3, t))
    assert counts <= set(range(3, 9)) and len(counts) > 1
    # jitter 0: a regular polygon; a = b = 5, angle 0, 4 vertices: (x, y) offsets
    # (5, 0), (0, 5), (-5, 0), (0, -5) from the centre
    from data_pipelines.degradation.vertices import hole_vertices

    cfg = dg.DegradationConfig(vertex_count_range=(4, 4), vertex_jitter=0.0)
    v = hole_vertices(tf.constant([[[10.0, 20.0]]]), tf.constant([[[5.0, 5.0]]]),
                      tf.constant([[0.0]]), tf.zeros([1, 1, 5]), cfg).numpy()[0, 0]
    np.testing.assert_allclose(v, [[10, 25], [15, 20], [10, 15], [5, 20]], atol=1e-5)


def test_outline_region_is_the_band_within_its_width_of_a_hole():
    """Fig. 5 "Generate Outline Region": valid pixels within w px (chessboard distance) of a
    hole, = valid minus its erosion by a (2w + 1)^2 square (SciPy), also on packed words; the
    outline holes' centres lie in it."""
    face = disc_face(64, 22)
    face[30:34, 28:36] = 0.0
    valid = face > 0
    for width in (1, 2, 4):
        want = valid & ~ndimage.binary_erosion(valid, np.ones((2 * width + 1,) * 2, bool),
                                               border_value=1)
        got = dg.face_outline(tf.constant(valid[None]), width).numpy()[0]
        np.testing.assert_array_equal(got, want)
        words = dg_holes._outline_words(tf.constant(valid[None]), width)
        np.testing.assert_array_equal(dg_holes._unpack16(words, 64).numpy()[0], want)
        cfg = dg.DegradationConfig(outline_region_width=width, outline_count_range=(30, 30))
        u = dg_seeds._uniform(dg_seeds._part_keys(dg.index_seeds(2, tf.range(1)), 1),
                              [1 + 4 * 30])
        centres, _, _, _ = dg_holes._outline_ellipses(tf.constant(valid[None]), u, cfg)
        yx = centres.numpy()[0].astype(int)
        assert np.all(want[yx[:, 0], yx[:, 1]])
    assert (dg.face_outline(tf.constant(valid[None]), 3).numpy().sum()
            > dg.face_outline(tf.constant(valid[None]), 1).numpy().sum())


def test_blurred_hole_background_is_the_randomised_values_blurred_over_holes():
    """Fig. 5 "Randomize Hole Values" -> "Blurred Hole Background" (l. 573-575: "randomized to
    a certain depth range and then blurred"): the blurred helper equals the plain helper's
    random hole values (same seed, same draws) averaged over the hole pixels of each k x k
    window (NumPy), valid pixels unchanged."""
    face = disc_face(32, 10)
    seed = tf.constant([5, 6])
    k = 5
    rand = dg.randomize_hole_values(face, seed).numpy().astype(np.float64)
    got = dg.randomize_hole_values_blurred(face, seed, kernel_size=k).numpy()
    hole = face == 0
    vals = np.where(hole, rand, 0.0)
    num = ndimage.uniform_filter(vals, k, mode="constant") * k * k
    den = ndimage.uniform_filter(hole.astype(np.float64), k, mode="constant") * k * k
    want = np.where(hole, num / np.maximum(den, 1), face)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert got[hole].std() < rand[hole].std() / 2                    # smoother


def test_random_holes_one_ellipse_of_known_size_and_orientation():
    size, a, ratio, angle = 128, 12.0, 0.5, 0.4
    kw = dict(count_range=(1, 1), size_range=(a, a), aspect_range=(ratio, ratio),
              angle_range=(angle, angle))
    for s in range(20):     # first seed whose ellipse lies inside the image (deterministic)
        seed = tf.constant([s, 5])
        c, _, _, act, _ = dg.random_hole_parameters(seed, size, size, **kw)
        cy, cx = c.numpy()[0]
        if a + 1 <= min(cy, cx) and max(cy, cx) <= size - a - 2:
            break
    assert bool(act.numpy()[0])
    face = np.full((size, size), 800.0, np.float32)
    out = dg.random_holes(face, seed, hole_shape="ellipse", **kw).numpy()
    hole = out == 0
    area = math.pi * a * (a * ratio)                                  # 226.2 px
    assert abs(hole.mean() - area / size ** 2) <= 6.0 / size ** 2     # lattice-point tolerance
    np.testing.assert_array_equal(out[~hole], face[~hole])
    ys, xs = np.nonzero(hole)                                         # second moments
    cov = np.cov(np.stack([xs, ys]))
    evals, evecs = np.linalg.eigh(cov)
    major = evecs[:, 1]
    got_angle = math.atan2(major[1], major[0]) % math.pi
    assert abs(got_angle - angle) < 0.03
    assert abs(math.sqrt(evals[0] / evals[1]) - ratio) < 0.03
    assert abs(ys.mean() - cy) < 0.2 and abs(xs.mean() - cx) < 0.2


def test_face_outline_matches_scipy_erosion():
    face = disc_face(48, 15)
    face[20:24, 20:26] = 0.0                       # an inner hole has an outline too
    face[:, 44:] = 0.0
    valid = face > 0
    got = dg.face_outline(tf.constant(valid[None])).numpy()[0]
    np.testing.assert_array_equal(got, outline_np(valid))
    full = np.ones((16, 16), bool)                 # a face cut by the image border: no outline
    assert not dg.face_outline(tf.constant(full[None])).numpy().any()


def test_packed_outline_and_its_sampling_equal_the_pixel_versions():
    rng = np.random.default_rng(5)
    masks = [rng.random((3, 20, 48)) < p for p in (0.5, 0.9, 0.98)]
    masks += [np.ones((2, 16, 32), bool), disc_face(64, 25)[None] > 0]
    for valid in masks:
        v = tf.constant(valid)
        want_outline = np.stack([outline_np(m) for m in valid])       # scipy reference
        words = dg_holes._outline_words(v)
        np.testing.assert_array_equal(dg_holes._unpack16(words, valid.shape[2]).numpy(), want_outline)
        u = dg_seeds._uniform(dg_seeds._part_keys(dg.index_seeds(1, tf.range(valid.shape[0])), 1), [9])
        got, n = dg_holes._sample_outline(v, u)
        want, n_want = dg_holes._sample_pixels(dg.face_outline(v), u)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(n.numpy(), want_outline.sum(axis=(1, 2)))
        np.testing.assert_array_equal(n_want.numpy(), n.numpy())


def test_outline_holes_stay_near_the_outline_and_keep_the_interior():
    face = disc_face(96, 34)
    valid = face > 0
    max_axis = 6.0
    dist = ndimage.distance_transform_edt(~outline_np(valid))   # px to the nearest outline pixel
    out = dg.outline_holes(face, tf.constant([3, 9]), count_range=(20, 20),
                           size_range=(3.0, max_axis)).numpy()
    new = valid & (out == 0)
    assert new.sum() > 100                               # 20 blobs of >= 3 x 0.9 px semi-axes
    assert dist[new].max() <= max_axis + 1e-6
    np.testing.assert_array_equal(out[~new], face[~new])  # everything else untouched
    assert np.all(out[valid & (dist > max_axis)] == face[valid & (dist > max_axis)])
    # outline pixels are where the holes sit: a sizeable share of the outline is now a hole
    assert (new & outline_np(valid)).sum() > 0.2 * outline_np(valid).sum()


def test_outline_holes_on_an_all_hole_image_do_nothing():
    out = dg.outline_holes(np.zeros((2, 32, 32), np.float32), tf.constant([1, 1]))
    assert not np.any(out.numpy())


def test_random_holes_face_placement_centres_on_valid_pixels():
    face = disc_face(64, 10)
    out = dg.random_holes(face, tf.constant([4, 4]), count_range=(8, 8), size_range=(1.0, 1.0),
                          aspect_range=(1.0, 1.0), placement="face").numpy()
    new = (face > 0) & (out == 0)
    assert new.sum() >= 8          # every centre is a face pixel, so each hole bites the face


# ----------------------------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("distribution,kurtosis", [("gaussian", 3.0), ("uniform", 1.8)])
def test_noise_has_the_requested_std_zero_mean_and_shape(distribution, kurtosis):
    face = np.full((256, 256), 1000.0, np.float32)
    out = dg.add_noise(face, tf.constant([7, 1]), sigma_mm=15.0,
                       distribution=distribution).numpy()
    e = out.astype(np.float64) - 1000.0
    assert abs(e.std() - 15.0) < 0.5
    assert abs(e.mean()) < 0.5                         # s.e. of the mean: 15 / 256 = 0.06
    k = np.mean((e - e.mean()) ** 4) / e.var() ** 2    # 3 normal, 9/5 uniform (s.e. ~0.02)
    assert abs(k - kurtosis) < 0.1
    if distribution == "uniform":
        assert np.abs(e).max() <= 15.0 * math.sqrt(3.0) + 1e-3


def test_noise_leaves_holes_at_zero():
    face = disc_face(64, 20)
    out = dg.add_noise(face, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(out[face == 0], 0.0)
    assert np.all(out[face > 0] > 0) and np.any(out[face > 0] != face[face > 0])


# ----------------------------------------------------------------------------------------------
# blur
# ----------------------------------------------------------------------------------------------
def test_blur_keeps_holes_and_does_not_leak_them():
    face = np.full((40, 40), 1000.0, np.float32)
    face[10:20, 12:15] = 0.0
    face[30:, 30:] = 0.0
    out = dg.blur_valid(face, 7).numpy()
    np.testing.assert_array_equal(out[face == 0], 0.0)
    np.testing.assert_array_equal(out[face > 0], 1000.0)   # exactly, also next to the holes


def test_blur_equals_brute_force_normalised_convolution_and_keeps_ramps():
    yy, xx = np.mgrid[:48, :48].astype(np.float32)
    ramp = 500.0 + 3.0 * xx + 2.0 * yy
    face = ramp.copy()
    face[20:26, 5:12] = 0.0
    valid = face > 0
    k = 5
    ones = np.ones((k, k))
    num = ndimage.correlate(face.astype(np.float64), ones, mode="constant")
    den = ndimage.correlate(valid.astype(np.float64), ones, mode="constant")
    want = np.where(valid, num / np.maximum(den, 1), 0.0)
    out = dg.blur_valid(face[None, ..., None], k).numpy()[0, ..., 0]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-3)
    full = ndimage.correlate(valid.astype(float), ones, mode="constant") == k * k
    np.testing.assert_allclose(out[full], ramp[full], atol=1e-3)   # away from holes and border
    # hand-worked: pixel (19, 8) sees rows 17..21 x cols 6..10, rows 20, 21 are holes there
    assert abs(out[19, 8] - (500 + 3 * 8 + 2 * 18)) < 1e-3           # mean row 18, mean col 8


# ----------------------------------------------------------------------------------------------
# DL helpers
# ----------------------------------------------------------------------------------------------
def test_randomize_hole_values_changes_only_holes_within_range():
    face = disc_face(64, 20, near=700.0)
    near = face[face > 0].min()
    out = dg.randomize_hole_values(face, tf.constant([2, 3]), offset_range_mm=(10.0, 60.0))
    out = out.numpy()
    holes = face == 0
    np.testing.assert_array_equal(out[~holes], face[~holes])
    v = out[holes].astype(np.float64)
    assert v.min() >= near + 10.0 and v.max() <= near + 60.0
    assert abs(v.mean() - (near + 35.0)) < 1.0 and abs(v.std() - 50.0 / math.sqrt(12)) < 1.0


def test_randomize_hole_values_blurred_in_range_and_smooth():
    face = disc_face(96, 20, near=700.0)
    near = face[face > 0].min()
    k = 9
    out = dg.randomize_hole_values_blurred(face, tf.constant([2, 3]), depth_range_mm=(50.0, 250.0),
                                           kernel_size=k).numpy()
    holes = face == 0
    np.testing.assert_array_equal(out[~holes], face[~holes])
    v = out[holes]
    assert v.min() >= near + 50.0 - 1e-3 and v.max() <= near + 250.0 + 1e-3
    # a k x k mean of iid U(range) values has std (200 / sqrt(12)) / k where the window is all
    # holes (the image corners here)
    corner = out[:20, :20].astype(np.float64)
    assert abs(corner.std() - 200.0 / math.sqrt(12) / k) < 0.35 * 200.0 / math.sqrt(12) / k


def test_degrade_helper_fills_exactly_the_hole_mask():
    face = disc_face(64, 22)
    cfg = dg.DegradationConfig(helper="random", helper_offset_range_mm=(0.0, 250.0))
    out, hole = dg.degrade(face, tf.constant([5, 5]), cfg)
    out, hole = out.numpy(), hole.numpy()
    plain, plain_hole = dg.degrade(face, tf.constant([5, 5]), dg.DegradationConfig())
    np.testing.assert_array_equal(hole, plain_hole.numpy())
    np.testing.assert_array_equal(out[~hole], plain.numpy()[~hole])
    near = face[face > 0].min()
    assert out[hole].min() >= near and out[hole].max() <= near + 250.0


# ----------------------------------------------------------------------------------------------
# composition, seeds, batching, graph modes
# ----------------------------------------------------------------------------------------------
def test_degrade_is_the_parts_in_the_papers_order():
    face = disc_face(64, 24)
    seed = tf.constant([11, 12])
    cfg = dg.DegradationConfig(outline_count_range=(5, 12), random_count_range=(2, 4))
    out, hole = dg.degrade(face, seed, cfg)
    x = dg.outline_holes(face, seed, cfg.outline_count_range, cfg.outline_size_range)
    x = dg.random_holes(x, seed, cfg.random_count_range, cfg.random_size_range)
    synthetic = x.numpy() == 0
    x = dg.add_noise(x, seed, cfg.noise_sigma_mm)
    x = dg.blur_valid(x, cfg.blur_kernel_size)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    np.testing.assert_array_equal(hole.numpy(), synthetic)
    assert synthetic.sum() > (face == 0).sum()


def test_seeds_determine_the_output():
    face = disc_face(64, 24)
    a = dg.degrade(face, tf.constant([1, 2]))[0].numpy()
    b = dg.degrade(face, tf.constant([1, 2]))[0].numpy()
    c = dg.degrade(face, tf.constant([1, 3]))[0].numpy()
    np.testing.assert_array_equal(a, b)
    both = (a > 0) & (c > 0)
    assert both.sum() > 200 and np.mean(a[both] != c[both]) > 0.9   # other noise
    assert np.any((a > 0) != (c > 0))                                  # other holes


def _fmix32_py(x):
    """MurmurHash3's fmix32 in plain Python integers (the reference for the TF version)."""
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_hash_generator_matches_murmur3_and_a_python_reference():
    # SMHasher's MurmurHash3_x86_32 vectors for the empty key: the hash is fmix32(seed)
    assert _fmix32_py(1) == 0x514E28B7 and _fmix32_py(0xFFFFFFFF) == 0x81F16F39
    words = tf.constant([0, 1, 0xFFFFFFFF, 0x12345678, 2 ** 31], tf.uint32)
    np.testing.assert_array_equal(dg_seeds._fmix32(words).numpy(),
                                  [_fmix32_py(int(w)) for w in words.numpy()])
    rows = tf.constant([[5, 2 ** 40 + 3], [-1, 7]], tf.int64)
    keys = dg_seeds._part_keys(rows, dg.PART_NOISE).numpy()
    for r, (s0, s1) in enumerate([(5, 2 ** 40 + 3), (-1, 7)]):
        w = [s0 & 0xFFFFFFFF, (s0 >> 32) & 0xFFFFFFFF, s1 & 0xFFFFFFFF, (s1 >> 32) & 0xFFFFFFFF]
        for j, init in enumerate((3 * 0x01000193 ^ 0x6A09E667, 3 * 0x01000193 ^ 0xBB67AE85)):
            h = init & 0xFFFFFFFF
            for v in w:
                h = _fmix32_py(h ^ v)
            assert keys[r, j] == h
        u = dg_seeds._uniform(tf.constant(keys[r:r + 1]), [4]).numpy()[0]
        k1, k2 = int(keys[r, 0]), int(keys[r, 1])
        want = [(_fmix32_py(_fmix32_py((c * 0x9E3779B9 + k1) & 0xFFFFFFFF) ^ k2) >> 8) / 2 ** 24
                for c in range(4)]
        np.testing.assert_array_equal(u, np.float32(want))


def test_gaussian_noise_is_the_documented_transform_of_each_pixels_hash():
    # pixel n of a (H, W) image: w = fmix32(fmix32(n * golden + k1) ^ k2), hi/lo 16-bit halves,
    # z = sqrt(-2 ln((hi + 1/2) / 2^16)) * sin(pi ((lo + 1/2) / 2^16 - 1/2)), in float64 here
    keys = dg_seeds._part_keys(tf.constant([[4, 9], [-3, 2 ** 33]], tf.int64), dg.PART_NOISE)
    got = dg_noise._noise(keys, 3, 5, "gaussian").numpy()
    for r, (k1, k2) in enumerate(keys.numpy().tolist()):              # Python ints
        for n in range(15):
            w = _fmix32_py(_fmix32_py((n * 0x9E3779B9 + k1) & 0xFFFFFFFF) ^ k2)
            u1, u2 = ((w >> 16) + 0.5) / 65536, ((w & 0xFFFF) + 0.5) / 65536
            want = math.sqrt(-2 * math.log(u1)) * math.sin(math.pi * (u2 - 0.5))
            assert abs(got[r, n // 5, n % 5] - want) < 2e-6 * max(1.0, abs(want)), (r, n)


def test_gaussian_noise_tails_and_cdf_match_the_normal_law():
    keys = dg_seeds._part_keys(dg.index_seeds(11, tf.range(4)), dg.PART_NOISE)
    z = dg_noise._noise(keys, 256, 256, "gaussian").numpy().astype(np.float64).ravel()   # 262,144
    assert np.abs(z).max() <= math.sqrt(2 * math.log(2 ** 17)) + 1e-4             # 4.85
    from scipy import stats
    for t in (-2.0, -1.0, 0.0, 0.5, 1.5, 2.5):       # empirical CDF vs Phi, 5 binomial s.e.
        p = stats.norm.cdf(t)
        assert abs(np.mean(z <= t) - p) < 5 * math.sqrt(p * (1 - p) / z.size), t
    tail = np.mean(np.abs(z) > 3.0)                   # 0.0027: 708 +- 27 of 262,144
    assert abs(tail - 2 * stats.norm.sf(3.0)) < 5 * math.sqrt(tail / z.size)
    zz = z.reshape(4, -1)
    assert abs(np.mean(zz[:, :-1] * zz[:, 1:])) < 0.01                            # neighbours


def test_log_positive_matches_numpy():
    v = np.concatenate([(np.arange(65536, dtype=np.float64) + 0.5) / 65536,
                        np.geomspace(1e-30, 1e30, 20001)]).astype(np.float32)
    got = dg_noise._log_positive(tf.constant(v)).numpy().astype(np.float64)
    want = np.log(v.astype(np.float64))
    assert np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)) < 3e-7


def test_hash_uniforms_are_uniform_and_uncorrelated():
    keys = dg_seeds._part_keys(dg.index_seeds(3, tf.range(4)), dg.PART_NOISE)
    u = dg_seeds._uniform(keys, [2 ** 16]).numpy().astype(np.float64)     # 4 streams of 65,536
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    counts = np.histogram(u, bins=64, range=(0, 1))[0]               # chi-square, 63 d.o.f.
    chi2 = ((counts - u.size / 64) ** 2 / (u.size / 64)).sum()
    assert chi2 < 120                                                # p ~ 3e-5 under H0
    z = (u - 0.5) * math.sqrt(12)
    for lag in (1, 2, 256):                                          # neighbours, rows
        assert abs(np.mean(z[:, :-lag] * z[:, lag:])) < 0.02         # s.e. 1/256
    c = np.corrcoef(z)                                               # across examples
    assert np.abs(c[np.triu_indices(4, 1)]).max() < 0.02


def test_example_seeds_hash_the_seed_and_index_the_batch():
    seed = tf.constant([123, 456], tf.int64)
    got = dg.example_seeds(seed, 3).numpy()
    word = int(dg.seed_word(seed))
    assert word >= 0
    np.testing.assert_array_equal(got, [[word, 0], [word, 1], [word, 2]])
    others = {int(dg.seed_word(tf.constant(s, tf.int64))) for s in ([123, 457], [124, 456],
                                                                    [456, 123], [0, 0])}
    assert word not in others and len(others) == 4
    np.testing.assert_array_equal(dg.index_seeds(9, [4, 5]).numpy(), [[9, 4], [9, 5]])


@pytest.mark.parametrize("helper", ["none", "blurred"])
def test_batch_equals_single_calls_with_per_example_seeds(helper):
    faces = np.stack([disc_face(48, 16), disc_face(48, 19, center=(20, 26)),
                      disc_face(48, 14, near=900.0)])
    cfg = dg.DegradationConfig(helper=helper)
    seed = tf.constant([8, 8])
    batch, holes = dg.degrade(faces[..., None], seed, cfg)
    assert batch.shape == (3, 48, 48, 1) and holes.shape == (3, 48, 48, 1)
    per = dg.example_seeds(seed, 3)
    for i in range(3):
        single, single_holes = dg.degrade(faces[i], per[i], cfg)
        np.testing.assert_array_equal(batch.numpy()[i, ..., 0], single.numpy())
        np.testing.assert_array_equal(holes.numpy()[i, ..., 0], single_holes.numpy())
    again, _ = dg.degrade(faces, per, cfg)                  # explicit [B, 2] seeds
    np.testing.assert_array_equal(again.numpy(), batch.numpy()[..., 0])


def test_dataset_map_tf_function_and_batching_independence():
    faces = np.stack([disc_face(32, 10 + i) for i in range(4)])
    cfg = dg.DegradationConfig(outline_count_range=(2, 6), random_count_range=(1, 3))
    fn = dg.make_degradation_fn(cfg, jit_compile=False)
    want = dg.degrade(faces, dg.index_seeds(7, tf.range(4)), cfg)[0].numpy()

    def stream(batch):
        ds = tf.data.Dataset.from_tensor_slices(faces).batch(batch).enumerate()
        ds = ds.map(lambda i, d: fn(d, dg.index_seeds(7, i * batch + tf.range(tf.shape(d)[0],
                                                                                dtype=tf.int64))))
        return np.concatenate([d.numpy() for d, _ in ds])

    # graph rewrites (grappler) may reorder float ops: equal up to float32 rounding, same holes
    close = dict(rtol=1e-6, atol=1e-4)
    for got in (stream(2), stream(3)):                      # stream(3): a ragged last batch
        np.testing.assert_allclose(got, want, **close)
        np.testing.assert_array_equal(got == 0, want == 0)
    graph = tf.function(lambda d, s: dg.degrade(d, s, cfg))
    np.testing.assert_allclose(graph(faces, dg.index_seeds(7, tf.range(4)))[0].numpy(), want,
                               **close)


def test_xla_stages_match_the_plain_graph():
    faces = np.stack([disc_face(64, 22), disc_face(64, 18, near=900.0)])
    cfg = dg.DegradationConfig(helper="blurred")
    a, ha = dg.degrade(faces, tf.constant([3, 3]), cfg, jit_compile=False)
    b, hb = dg.degrade(faces, tf.constant([3, 3]), cfg, jit_compile=True)
    np.testing.assert_array_equal(ha.numpy(), hb.numpy())
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=2e-3)   # mm


def test_parts_can_be_switched_off():
    face = disc_face(32, 12)
    out, hole = dg.degrade(face, tf.constant([1, 1]),
                           dg.DegradationConfig(blur=False, **NO_HOLES_NOISE))
    np.testing.assert_array_equal(out.numpy(), face)
    np.testing.assert_array_equal(hole.numpy(), face == 0)


# ----------------------------------------------------------------------------------------------
# normalisation and the paper's 16-bit convention
# ----------------------------------------------------------------------------------------------
def test_normalize_face_depth_hand_worked_and_uint16_round_trip():
    d = np.array([[0.0, 600.0, 650.0], [800.0, 1000.0, 0.0]], np.float32)
    n, valid, near = dg.normalize_face_depth(d, range_mm=250.0)
    assert float(near) == 600.0
    want = np.array([[0.0, 0.0, 0.2], [0.8, 65534 / 65535, 0.0]], np.float32)
    np.testing.assert_allclose(n.numpy(), want, atol=1e-7)
    np.testing.assert_array_equal(valid.numpy(), d > 0)
    code = dg.to_uint16(n, valid).numpy()
    np.testing.assert_array_equal(code, [[65535, 0, 13107], [52428, 65534, 65535]])
    back, back_valid = dg.from_uint16(code)
    np.testing.assert_array_equal(back_valid.numpy(), d > 0)
    np.testing.assert_allclose(back.numpy(), want, atol=1e-5)
    mm = dg.denormalize_face_depth(back, near, back_valid).numpy()
    np.testing.assert_allclose(mm[d > 0][:3], [600.0, 650.0, 800.0], atol=0.01)  # 1000 clipped
    paper = dg.to_paper_convention(n, valid).numpy()
    np.testing.assert_array_equal(paper[d == 0], 1.0)
    undone, undone_valid = dg.from_paper_convention(paper)
    np.testing.assert_array_equal(undone.numpy(), n.numpy())
    np.testing.assert_array_equal(undone_valid.numpy(), d > 0)
    raw = np.array([0, 700, 0], np.uint16)                   # SDK millimetres
    np.testing.assert_array_equal(dg.to_paper_convention(raw).numpy(), [65535, 700, 65535])


def test_normalize_face_depth_shared_window_per_image():
    gt = np.stack([disc_face(32, 10, near=600.0), disc_face(32, 10, near=800.0)])
    _, _, near = dg.normalize_face_depth(gt)
    np.testing.assert_allclose(near.numpy(), [g[g > 0].min() for g in gt])   # 600 + 2 sqrt(.5)
    noisy = dg.add_noise(gt, tf.constant([1, 1])).numpy()
    n, _, _ = dg.normalize_face_depth(noisy, near_mm=near)
    expect = np.where(gt > 0, np.clip((noisy - near.numpy()[:, None, None]) / 250.0, 0,
                                      65534 / 65535), 0)
    np.testing.assert_allclose(n.numpy(), expect, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    seed = tf.constant([1, 2])
    with pytest.raises(TypeError, match=r"depth .*int32.*\[32, 32\]"):
        dg.degrade(np.zeros((32, 32), np.int32), seed)
    with pytest.raises(ValueError, match=r"depth must have shape .*\[2, 3, 32, 32, 1\]"):
        dg.degrade(np.zeros((2, 3, 32, 32, 1), np.float32), seed)
    with pytest.raises(ValueError, match=r"\[2, 32, 32, 3\]"):
        dg.blur_valid(np.ones((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"depth must have shape .*\[32\]"):
        dg.add_noise(np.ones((32,), np.float32), seed)
    with pytest.raises(ValueError, match=r"normalize_face_depth: depth_mm.*all-hole.*\[2, 8, 8\]"):
        dg.normalize_face_depth(np.stack([np.ones((8, 8)), np.zeros((8, 8))]).astype(np.float32))
    with pytest.raises(ValueError, match="randomize_hole_values: depth.*all-hole"):
        dg.randomize_hole_values(np.zeros((8, 8), np.float32), seed)
    with pytest.raises(ValueError, match="degrade: depth.*all-hole"):
        dg.degrade(np.zeros((8, 8), np.float32), seed, dg.DegradationConfig(helper="blurred"))
    with pytest.raises(ValueError, match=r"seed must have shape \[2\]"):
        dg.degrade(np.ones((8, 8), np.float32), tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match=r"one row per example.*\(3, 2\).*batch of 2"):
        dg.degrade(np.ones((2, 8, 8), np.float32), tf.zeros([3, 2], tf.int64))
    with pytest.raises(TypeError, match="seed must be an integer"):
        dg.degrade(np.ones((8, 8), np.float32), tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="blur_kernel_size must be an odd positive integer"):
        dg.DegradationConfig(blur_kernel_size=4)
    with pytest.raises(ValueError, match="outline_count_range"):
        dg.DegradationConfig(outline_count_range=(5, 2))
    with pytest.raises(ValueError, match="noise_distribution"):
        dg.DegradationConfig(noise_distribution="poisson")
    with pytest.raises(TypeError, match="from_uint16: code must be uint16"):
        dg.from_uint16(np.zeros((4, 4), np.float32))


def test_all_hole_image_in_a_graph_fails_at_run_time():
    fn = tf.function(lambda d: dg.normalize_face_depth(d)[0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="all-hole"):
        fn(tf.zeros([1, 8, 8]))
