"""Tests for the procedural faces (data_pipelines.synthetic_faces) and their TFDS builder."""
import dataclasses

import cv2
import numpy as np
import pytest

from data_pipelines import synthetic_faces as sf

FRONTAL = dict(yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0), shift_frac=0.0)
KEYS = ("rgb", "depth", "identity", "landmarks", "landmarks_visible", "pose")

# iBUG 68-point mirror pairs (left-right), from the published markup scheme.
MIRROR = ([(k, 16 - k) for k in range(8)] + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]
          + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
          + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)])
SELF_MIRROR = [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]


def _at(image, xy):
    """Values of ``image`` at the pixels containing points (x, y)."""
    xy = np.asarray(xy)
    return image[np.floor(xy[..., 1]).astype(int), np.floor(xy[..., 0]).astype(int)]


def test_deterministic_and_seed_dependent():
    cfg = sf.FaceConfig(image_size=64, seed=3)
    a, b = sf.generate_face(5, 2, cfg), sf.generate_face(5, 2, cfg)
    assert set(a) == set(KEYS)
    for k in KEYS:
        assert a[k].tobytes() == b[k].tobytes() and a[k].dtype == b[k].dtype
    other_seed = sf.generate_face(5, 2, dataclasses.replace(cfg, seed=4))
    other_sample = sf.generate_face(5, 3, cfg)
    other_identity = sf.generate_face(6, 2, cfg)
    for other in (other_seed, other_sample, other_identity):
        assert not np.array_equal(a["depth"], other["depth"])
        assert not np.array_equal(a["rgb"], other["rgb"])


def test_types_depth_range_and_fill():
    cfg = sf.FaceConfig(image_size=64)
    lo, hi = cfg.depth_bounds_mm
    for sample in range(4):
        ex = sf.generate_face(1, sample, cfg)
        assert ex["rgb"].dtype == np.uint8 and ex["rgb"].shape == (64, 64, 3)
        assert ex["depth"].dtype == np.uint16 and ex["depth"].shape == (64, 64)
        assert ex["landmarks"].dtype == np.float32 and ex["landmarks"].shape == (68, 2)
        assert ex["landmarks_visible"].dtype == bool and ex["landmarks_visible"].shape == (68,)
        assert ex["pose"].dtype == np.float32 and ex["pose"].shape == (3,)
        assert ex["identity"].dtype == np.int64 and ex["identity"] == 1
        fg = ex["depth"] > 0
        # Head centre 560..820 mm away; head points within 160 mm, shoulders within 260 mm.
        assert lo <= ex["depth"][fg].min() and ex["depth"][fg].max() <= hi
        assert 0.25 < fg.mean() < 0.9                 # head, neck, shoulders: most of the frame
        assert ex["rgb"].max() - ex["rgb"].min() > 100      # a real picture, not a flat tile
    far = sf.generate_face(1, 0, sf.FaceConfig(image_size=64, distance_mm=(2000.0, 2000.0),
                                               expression_scale=0.0, sensor_holes=False))
    d = far["depth"][far["depth"] > 0]
    assert 2000 - 160 <= d.min() and d.max() <= 2000 + 260
    # The nose tip is about head_c + nose_h (~105..130 mm) in front of the head centre (the
    # shape-space deformation moves it by a few mm).
    p = sf.identity_params(1)
    nose = _at(far["depth"], far["landmarks"][sf.NOSE_TIP])
    assert abs(nose - (2000 - p.head_c - p.nose_h)) < 25


NEUTRAL_COMPLETE = dict(expression_scale=0.0, sensor_holes=False)


def test_frontal_face_symmetry_and_nose_is_nearest():
    cfg = sf.FaceConfig(image_size=96, **FRONTAL, **NEUTRAL_COMPLETE)
    ex = sf.generate_face(2, 0, cfg)
    lm, depth = ex["landmarks"].astype(np.float64), ex["depth"].astype(np.float64)
    assert ex["landmarks_visible"].all()
    # Mirror symmetry about the image centre line x = 48 (camera on the symmetry plane; the
    # shape space is symmetric, the expression neutral).
    for i, j in MIRROR:
        np.testing.assert_allclose(lm[i, 0] + lm[j, 0], 96.0, atol=1e-3)
        np.testing.assert_allclose(lm[i, 1], lm[j, 1], atol=1e-3)
    np.testing.assert_allclose(lm[SELF_MIRROR, 0], 48.0, atol=1e-3)
    # Inner face (eye corners to mouth corners): the depth is mirror symmetric too (hair,
    # ears and the body, which turns a little on its own, are outside this box).
    r0, r1 = int(lm[37, 1]), int(lm[57, 1])
    c0, c1 = int(np.ceil(lm[36, 0])) + 1, int(lm[45, 0]) - 1
    box = depth[r0:r1, c0:c1 + 1]
    mirrored = depth[r0:r1, 96 - c1 - 1:96 - c0][:, ::-1]
    assert np.abs(box - mirrored).max() <= 1.0
    # Vertical order of the features (y down): brows < eyes < nose tip < mouth < chin.
    assert lm[19, 1] < lm[37, 1] < lm[30, 1] < lm[33, 1] < lm[51, 1] < lm[57, 1] < lm[8, 1]
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0] and lm[48, 0] < lm[54, 0]
    nose = _at(depth, lm[sf.NOSE_TIP])
    cheeks = _at(depth, lm[[1, 2, 3, 13, 14, 15, 36, 45, 48, 54]])
    assert np.all(nose < cheeks - 10)
    assert nose <= depth[depth > 0].min() + 3        # the nearest region of the face


@pytest.mark.parametrize("yaw", [20.0, -20.0])
def test_yaw_sign_changes_nearer_cheek(yaw):
    cfg = sf.FaceConfig(image_size=96, **dict(FRONTAL, yaw_deg=(yaw, yaw)), **NEUTRAL_COMPLETE)
    ex = sf.generate_face(0, 0, cfg)
    np.testing.assert_allclose(ex["pose"], [yaw, 0, 0], atol=1e-6)
    d, lm = ex["depth"].astype(np.float64), ex["landmarks"]
    # Cheek centres: halfway between a jaw point and the nostril wing on the same side.
    left, right = _at(d, (lm[2] + lm[31]) / 2), _at(d, (lm[14] + lm[35]) / 2)
    assert left > 0 and right > 0
    # render.pose_matrix: yaw > 0 brings the image-right cheek nearer, nose to image left.
    if yaw > 0:
        assert right < left - 5 and lm[30, 0] < lm[27, 0]
    else:
        assert left < right - 5 and lm[30, 0] > lm[27, 0]


def test_far_side_landmarks_hidden_at_large_yaw():
    cfg = sf.FaceConfig(image_size=96, domain="target", **dict(FRONTAL, yaw_deg=(30.0, 30.0)))
    vis = sf.generate_face(4, 0, cfg)["landmarks_visible"]
    # yaw > 0 turns the image-left side (jaw 0..) away from the camera.
    assert not vis[0] and vis[16] and vis[30] and vis[45]
    assert vis[:8].sum() < vis[9:].sum()


def _shape_signature(ex, cfg, focal):
    """Pose-invariant identity signature: pairwise 3D distances (mm) between landmarks,
    back-projected with the depth map and the pinhole camera."""
    k = [27, 30, 33, 36, 39, 42, 45, 48, 54, 57]
    s = cfg.image_size
    lm = ex["landmarks"][k].astype(np.float64)
    z = _at(ex["depth"], lm).astype(np.float64)
    assert np.all(z > 0)
    pts = np.stack([(lm[:, 0] - s / 2) * z / focal, (lm[:, 1] - s / 2) * z / focal, z], 1)
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    return dist[np.triu_indices(len(k), 1)]


def test_identity_is_constant_across_samples_and_differs_across_identities():
    assert sf.identity_params(3, 0) == sf.identity_params(3, 0)
    assert sf.identity_params(3, 0) != sf.identity_params(4, 0)
    assert sf.identity_params(3, 0) != sf.identity_params(3, 1)
    src, tgt = sf.FaceConfig(), sf.FaceConfig(domain="target")
    assert sf.sample_params(3, 0, src) != sf.sample_params(3, 1, src)
    assert sf.sample_params(3, 0, src) != sf.sample_params(3, 0, tgt)
    # Through the images (neutral expression, every camera of the default range): same-
    # identity signatures agree, different identities do not.
    cfg = sf.FaceConfig(image_size=96, **NEUTRAL_COMPLETE)
    sig = {(i, s): _shape_signature(sf.generate_face(i, s, cfg), cfg,
                                    sf.sample_params(i, s, cfg).focal_px)
           for i in range(5) for s in range(3)}
    keys = list(sig)
    gap = lambda a, b: np.abs(sig[a] - sig[b]).mean()  # noqa: E731
    within = max(gap(a, b) for a in keys for b in keys if a != b and a[0] == b[0])
    between = min(gap(a, b) for a in keys for b in keys if a[0] != b[0])
    assert within < between


def test_shape_basis_is_orthonormal_smooth_symmetric_with_decreasing_variance():
    # The inner product is the mean over the face box; a fine midpoint grid (independent of
    # the 64x64 grid the basis was built on) approximates the same integral.
    n = 301
    t = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    uu, vv = np.meshgrid(t, t)
    x, y = uu.ravel() * sf._U_SCALE, vv.ravel() * sf._V_SCALE + sf._V_CENTRE
    b = sf.shape_basis(x, y)
    assert b.shape == (n * n, sf.SHAPE_DIM)
    np.testing.assert_allclose(b.T @ b / len(b), np.eye(sf.SHAPE_DIM), atol=0.02)
    np.testing.assert_allclose(sf.shape_basis(-x, y), b, atol=1e-12)        # symmetric
    assert all(a > c for a, c in zip(sf.SHAPE_STD_MM, sf.SHAPE_STD_MM[1:]))
    # An identity's deformation has RMS sqrt(sum_k (std_k c_k)^2) (orthonormality).
    p = sf.identity_params(9)
    rms = np.sqrt(np.mean(sf.shape_displacement(x, y, p) ** 2))
    expect = np.sqrt(np.sum((np.array(sf.SHAPE_STD_MM) * np.array(p.shape)) ** 2))
    assert abs(rms - expect) < 0.02 * expect + 0.05
    # Smooth: unit-RMS deformations whose neighbouring grid points (0.5 mm across, 0.8 mm
    # down) differ by < 0.5 mm -- slopes below ~1, no creases.
    grid = b.reshape(n, n, -1)
    assert np.abs(np.diff(grid, axis=0)).max() < 0.5 and np.abs(np.diff(grid, axis=1)).max() < 0.5


def test_identities_differ_in_depth():
    # Same camera and pose (one sample's parameters), two identities: the face depth differs.
    cfg = sf.FaceConfig(image_size=64, **FRONTAL, **NEUTRAL_COMPLETE)
    sp = sf.sample_params(0, 0, cfg)
    d = [sf.render_face(i, sf.identity_params(i), sp, cfg)["depth"].astype(np.float64)
         for i in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            both = (d[i] > 0) & (d[j] > 0)
            # Near-is-bright [0, 1] TS-GAN depth (250 mm window) changes by > 0.02 on average.
            rel_i = d[i][both] - d[i][both].min()
            rel_j = d[j][both] - d[j][both].min()
            assert np.abs(rel_i - rel_j).mean() > 5.0


def test_pose_ranges():
    for dom in sf.DOMAINS:
        cfg = sf.FaceConfig(image_size=32, domain=dom)
        poses = np.array([[getattr(sf.sample_params(i, s, cfg), k) for k in ("yaw", "pitch", "roll")]
                          for i in range(20) for s in range(10)])
        for axis, (lo, hi) in enumerate(sf.DOMAIN_POSE_RANGES[dom]):
            assert lo <= poses[:, axis].min() < lo + 0.1 * (hi - lo)      # covered, end to end
            assert hi - 0.1 * (hi - lo) < poses[:, axis].max() <= hi
    assert sf.DOMAIN_POSE_RANGES["target"][0][1] > sf.DOMAIN_POSE_RANGES["source"][0][1]
    ex = sf.generate_face(2, 3, sf.FaceConfig(image_size=32, domain="target"))
    sp = sf.sample_params(2, 3, sf.FaceConfig(image_size=32, domain="target"))
    np.testing.assert_allclose(ex["pose"], [sp.yaw, sp.pitch, sp.roll], atol=1e-5)


def test_mouth_opening_moves_the_lower_lip_by_its_projection():
    cfg = sf.FaceConfig(image_size=128, **FRONTAL, **NEUTRAL_COMPLETE)
    p = sf.identity_params(1)
    sp = sf.sample_params(1, 0, cfg)
    closed = sf.render_face(1, p, sp, cfg)
    opened = sf.render_face(1, p, dataclasses.replace(sp, mouth_open=10.0), cfg)
    gap = lambda ex: ex["landmarks"][57, 1] - ex["landmarks"][51, 1]  # noqa: E731
    # The lower lip drops 10 mm at about the lip's depth: 10 * f / z pixels.
    z = float(_at(closed["depth"], closed["landmarks"][57]))
    np.testing.assert_allclose(gap(opened) - gap(closed), 10.0 * sp.focal_px / z, rtol=0.1)
    # ... and the mouth interior shows: darker pixels between the lips.
    mid = ((opened["landmarks"][62] + opened["landmarks"][66]) / 2).astype(int)
    assert opened["rgb"][mid[1], mid[0]].mean() < closed["rgb"][mid[1], mid[0]].mean() - 20


def test_source_and_target_distributions_differ():
    stats = {}
    for dom in sf.DOMAINS:
        cfg = sf.FaceConfig(image_size=48, domain=dom)
        yaw, warm, asym = [], [], []
        for i in range(20):
            ex = sf.generate_face(i % 5, i, cfg, extras=True)
            skin = ex["parts"] == sf.SKIN
            rgb = ex["rgb"].astype(np.float64)
            yaw.append(abs(ex["pose"][0]))
            warm.append(rgb[skin, 0].mean() / max(rgb[skin, 2].mean(), 1.0))
            grey = rgb.mean(-1)
            cols = np.nonzero(skin.any(0))[0]
            mid = (cols.min() + cols.max()) // 2
            left, right = grey[:, :mid][skin[:, :mid]], grey[:, mid:][skin[:, mid:]]
            asym.append(abs(left.mean() - right.mean()))
        stats[dom] = dict(yaw=np.array(yaw), warm=np.mean(warm), asym=np.mean(asym))
    s, t = stats["source"], stats["target"]
    assert s["yaw"].max() <= 20.0 and t["yaw"].max() <= 35.0
    assert t["yaw"].mean() > s["yaw"].mean() + 3.0
    assert t["warm"] > s["warm"] * 1.1                   # warmer light, redder albedo
    assert t["asym"] > s["asym"] * 1.5                   # lateral vs frontal key light


def test_backgrounds_vary_from_black_to_bright():
    means = []
    for i in range(30):
        ex = sf.generate_face(i, 0, sf.FaceConfig(image_size=32, domain=sf.DOMAINS[i % 2]),
                              extras=True)
        bg = ex["parts"] < 0
        means.append(ex["rgb"][bg].mean())
    means = np.array(means)
    assert means.min() < 25 and means.max() > 110 and means.std() > 20


@pytest.mark.parametrize("domain", sf.DOMAINS)
def test_depth_silhouette_is_the_rgb_silhouette(domain):
    """The same sample on a black and on a white background: the pixels that do not change
    are the RGB foreground; it must be the depth's (hole-free) silhouette.

    Bound: defocus (sigma <= 0.6 px at 64 px) and JPEG's 8x8 / 16x16 chroma blocks mix the
    background into the pixels next to the outline, so the masks may disagree on a band about
    1-2 px wide along it; with an outline of <= ~260 px around >= ~1500 foreground pixels at
    64 px that bounds the IoU loss by roughly 0.1 -- a misregistration by even 2 px over the
    outline would fail both checks below."""
    cfg = sf.FaceConfig(image_size=64, domain=domain, sensor_holes=False)
    for sample in range(3):
        black = sf.generate_face(7, sample, dataclasses.replace(cfg, background=(0, 0, 0)))
        white = sf.generate_face(7, sample, dataclasses.replace(cfg, background=(1, 1, 1)))
        ref = sf.generate_face(7, sample, cfg)
        np.testing.assert_array_equal(black["depth"], ref["depth"])   # background: RGB only
        np.testing.assert_array_equal(white["depth"], ref["depth"])
        diff = np.abs(black["rgb"].astype(int) - white["rgb"].astype(int)).max(-1)
        rgb_fg = diff < 128
        depth_fg = ref["depth"] > 0
        iou = (rgb_fg & depth_fg).sum() / (rgb_fg | depth_fg).sum()
        assert iou > 0.9
        edge = depth_fg ^ cv2.erode(depth_fg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        near_edge = cv2.dilate(edge.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (rgb_fg ^ depth_fg)[~near_edge].mean() < 0.003    # disagreements hug the edge


def test_sensor_holes_hit_hair_and_steep_silhouettes():
    frac, hair, skin, rim = [], [], [], []
    for dom in sf.DOMAINS:
        cfg = sf.FaceConfig(image_size=48, domain=dom)
        for i in range(12):
            ex = sf.generate_face(i, i, cfg, extras=True)
            complete, holes, parts = ex["depth_complete"], ex["holes"], ex["parts"]
            fg = complete > 0
            # holes only remove readings; everything else is the complete z-buffer
            assert not (holes & ~fg).any()
            np.testing.assert_array_equal(ex["depth"], np.where(holes, 0, complete))
            frac.append(holes[fg].mean())
            if (parts == sf.HAIR).any():
                hair.append(holes[parts == sf.HAIR].mean())
            inner = cv2.erode(fg.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            skin.append(holes[(parts == sf.SKIN) & inner].mean())
            outline = fg & ~cv2.erode(fg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            rim.append(holes[outline].mean())
    frac = np.array(frac)
    # Kinect-like face crops: a few to about a third of the readings missing per image.
    assert 0.02 < frac.min() and frac.max() < 0.4 and 0.08 < frac.mean() < 0.25
    assert np.mean(hair) > 4 * np.mean(skin)             # hair scatters the sensor's light
    assert np.mean(rim) > 4 * np.mean(skin)              # steep silhouettes drop out
    assert np.mean(skin) < 0.08
    off = sf.generate_face(0, 0, sf.FaceConfig(image_size=48, sensor_holes=False), extras=True)
    assert not off["holes"].any()
    np.testing.assert_array_equal(off["depth"], off["depth_complete"])


def test_256_pixels():
    big = sf.FaceConfig(image_size=256, **NEUTRAL_COMPLETE)
    ex = sf.generate_face(0, 0, big)
    small = sf.generate_face(0, 0, dataclasses.replace(big, image_size=64))
    assert ex["depth"].shape == (256, 256)
    # Same face and camera angle: silhouette fraction and landmarks scale with the size.
    assert abs((ex["depth"] > 0).mean() - (small["depth"] > 0).mean()) < 0.02
    np.testing.assert_allclose(ex["landmarks"], small["landmarks"] * 4, atol=1e-3)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="domain"):
        sf.FaceConfig(domain="other")
    with pytest.raises(ValueError, match="image_size"):
        sf.FaceConfig(image_size=8)
    with pytest.raises(ValueError, match="yaw_deg"):
        sf.FaceConfig(yaw_deg=(10.0, -10.0))
    with pytest.raises(ValueError, match="distance_mm"):
        sf.FaceConfig(distance_mm=(100.0, 200.0))
    with pytest.raises(ValueError, match="expression_scale"):
        sf.FaceConfig(expression_scale=-1.0)
    with pytest.raises(ValueError, match="background"):
        sf.FaceConfig(background=(0.0, 2.0, 0.0))
    with pytest.raises(ValueError, match="identity"):
        sf.generate_face(-1, 0)
    with pytest.raises(ValueError, match="num_identities"):
        sf.SyntheticFaces(0, 3)


def test_sequence_and_tf_dataset():
    cfg = sf.FaceConfig(image_size=32, domain="target")
    seq = sf.SyntheticFaces(2, 3, cfg, identity_offset=10, sample_offset=5)
    assert len(seq) == 6 and seq.index(4) == (11, 6)
    with pytest.raises(IndexError):
        seq.index(6)
    ref = sf.generate_face(11, 6, cfg)
    for k in KEYS:
        np.testing.assert_array_equal(seq[4][k], ref[k])
    ds = seq.as_tf_dataset()
    assert ds.element_spec["depth"].shape == (32, 32)
    items = list(ds.as_numpy_iterator())
    assert len(items) == 6 and [int(x["identity"]) for x in items] == [10, 10, 10, 11, 11, 11]
    for k in KEYS:
        np.testing.assert_array_equal(items[4][k], ref[k])


def test_tfds_tiny_build_round_trip(tmp_path):
    import tensorflow_datasets as tfds

    from data_pipelines.datasets.synthetic_faces import SyntheticFaces

    builder = SyntheticFaces(config="tiny", data_dir=str(tmp_path))
    assert builder.name == "synthetic_faces"
    builder.download_and_prepare()
    assert builder.info.splits["train"].num_examples == 8 * 3
    assert builder.info.splits["test"].num_examples == 8 * 1
    train = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    test = list(tfds.as_numpy(builder.as_dataset(split="test", shuffle_files=False)))
    seen = {(int(e["identity"]), int(e["sample"])) for e in train}
    held = {(int(e["identity"]), int(e["sample"])) for e in test}
    assert seen == {(i, s) for i in range(8) for s in range(3)}
    assert held == {(i, 3) for i in range(8)}
    ex = next(e for e in test if e["identity"] == 5)
    ref = sf.generate_face(5, 3, sf.FaceConfig(image_size=64))
    for k in KEYS:
        np.testing.assert_array_equal(ex[k], ref[k])
    assert ex["depth"].dtype == np.uint16


def test_monochrome_camera_fraction_and_grey_pixels():
    """``MONOCHROME_FRACTION`` of the images come from a monochrome camera: R = G = B up to
    JPEG's colour rounding; the draw has its own stream (pose etc. unchanged)."""
    cfg = sf.FaceConfig(image_size=32)
    n = 400
    mono = np.array([sf.sample_params(i, 0, cfg).monochrome for i in range(n)])
    p = sf.MONOCHROME_FRACTION
    assert abs(mono.mean() - p) < 4.0 * np.sqrt(p * (1 - p) / n)
    grey = [i for i in range(40) if mono[i]][:2]
    colour = [i for i in range(40) if not mono[i]][:2]
    for i in grey + colour:
        rgb = sf.generate_face(i, 0, cfg)["rgb"].astype(int)
        spread = np.abs(rgb - rgb.mean(-1, keepdims=True)).max()
        assert (spread <= 3) if i in grey else (spread > 20), (i, spread)
    # BT.601 luma by hand: pure red -> 0.299, (0.2, 0.4, 0.6) -> 0.0598 + 0.2348 + 0.0684
    np.testing.assert_allclose(sf.monochrome(np.array([[1.0, 0.0, 0.0], [0.2, 0.4, 0.6]])),
                               [[0.299] * 3, [0.363] * 3], atol=1e-12)


def test_side_lights_on_source_images(monkeypatch):
    """Faces v4: ``SIDE_LIGHT_FRACTION`` of the source images have the key light from the side
    (|x| >= 0.6 / 0.9 |z|; the frontal key has |x| <= 0.5 |z|); the draw has its own stream, so
    the depth and every other draw are those of faces v3; the lit side of the face is the
    brighter one; target images are never flagged (their key is always lateral)."""
    cfg = sf.FaceConfig(image_size=64)
    n = 400
    params = [sf.sample_params(i, 1, cfg) for i in range(n)]
    side = np.array([sp.side_light for sp in params])
    p = sf.SIDE_LIGHT_FRACTION
    assert abs(side.mean() - p) < 4.0 * np.sqrt(p * (1 - p) / n)
    ratio = np.array([abs(sp.lights[0][0]) / abs(sp.lights[0][2]) for sp in params])
    assert np.all(ratio[side] >= 0.6 / 0.9 - 1e-9) and np.all(ratio[~side] <= 0.5 + 1e-9)
    target = sf.FaceConfig(image_size=64, domain="target")
    assert not any(sf.sample_params(i, 1, target).side_light for i in range(40))
    monkeypatch.setattr(sf, "SIDE_LIGHT_FRACTION", 0.0)
    frontal = [sf.sample_params(i, 1, cfg) for i in range(n)]
    for a, b in zip(params, frontal):
        assert dataclasses.replace(a, lights=b.lights, side_light=False) == b
    lit = [i for i in range(n) if side[i]][:3]
    for i in lit:
        with_side = sf.render_face(i, sf.identity_params(i), params[i], cfg, extras=True)
        without = sf.render_face(i, sf.identity_params(i), frontal[i], cfg, extras=True)
        np.testing.assert_array_equal(with_side["depth"], without["depth"])
        skin = with_side["parts"] == sf.PARTS.index("skin")
        cols = np.nonzero(skin.any(0))[0]
        mid = (cols.min() + cols.max()) / 2.0
        lum = with_side["rgb"].astype(float).mean(-1)
        xs = np.arange(lum.shape[1])[None, :].repeat(lum.shape[0], 0)
        right = lum[skin & (xs > mid)].mean() - lum[skin & (xs < mid)].mean()
        assert np.sign(right) == np.sign(params[i].lights[0][0]), (i, right)


def test_lid_and_socket_darkening_hand_worked():
    """Below the eye opening, outside brow, lashes and iris, the albedo with ``socket_dark``
    s is the albedo without it times 1 - s exp(-ex^2 / 2(1.15 w)^2 - (y + 1.5)^2 / 2 6^2)."""
    p0 = sf.identity_params(3)
    ex_mm, y = 1.3 * p0.eye_w, 3.0               # lash only above y = 1; eye mask ~1e-6 here
    x = np.array([p0.eye_x + ex_mm, -(p0.eye_x + ex_mm)])
    ys = np.full(2, y)
    tex = sf._textures(p0.texture_seed)
    out = {}
    for s in (0.0, 0.3):
        p = dataclasses.replace(p0, socket_dark=s)
        a = sf._skin_albedo(x, ys, p, tex, np.ones(2, bool))
        part = np.zeros(2, np.int8)
        sf._face_details(x, ys, a, part, p, tex)
        out[s] = a
    lid = np.exp(-0.5 * (ex_mm / (1.15 * p0.eye_w)) ** 2 - 0.5 * ((y + 1.5) / 6.0) ** 2)
    np.testing.assert_allclose(out[0.3] / out[0.0], 1.0 - 0.3 * lid, rtol=1e-4)


def test_brows_and_eyes_read_darker_than_the_skin_around_them():
    """A camera sees brows (hair colour, a band at least ~6 mm tall) and the eye opening
    (shaded sclera, iris, lashes) darker than the forehead and cheek skin of a light-skinned
    face with dark hair; means over points along the brow average out the strand texture."""
    lum = lambda a: a @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    checked = 0
    for identity in range(60):
        p = sf.identity_params(identity)
        if lum(np.array(p.skin)) < 0.45 or lum(np.array(p.hair)) > 0.1:
            continue
        tex = sf._textures(p.texture_seed)
        ex = np.arange(-8.0, 8.5, 2.0)
        curve = p.brow_y - 3.0 * np.exp(-0.5 * ((ex - 2.0) / 9.0) ** 2)
        rows = {"brow": curve, "brow_top": curve - 2.9, "brow_bottom": curve + 2.9,
                "forehead": curve - 15.0}
        means = {}
        for name, yy in rows.items():
            x = p.eye_x + ex
            a = sf._skin_albedo(x, yy, p, tex, np.ones(len(x), bool))
            sf._face_details(x, yy, a, np.zeros(len(x), np.int8), p, tex)
            means[name] = lum(a).mean()
        for name, (xx, yy) in {"eye": (p.eye_x + 8.0, 0.5), "cheek": (p.eye_x, 20.0)}.items():
            a = sf._skin_albedo(np.array([xx]), np.array([yy]), p, tex, np.ones(1, bool))
            sf._face_details(np.array([xx]), np.array([yy]), a, np.zeros(1, np.int8), p, tex)
            means[name] = lum(a)[0]
        for name in ("brow", "brow_top", "brow_bottom"):
            assert means[name] < 0.75 * means["forehead"], (identity, name, means)
        assert means["eye"] < means["cheek"], (identity, means)
        checked += 1
    assert checked >= 5


def test_diffuse_light_on_source_images():
    """``FaceConfig.diffuse_light_fraction`` of the source images are lit by ambient light only
    (no key, fill or rim light, no sheen, ambient 0.6-1.0 x a cool tint); the draw has its own
    stream, so the other draws are those of the default (0: none, faces v4) and the depth is
    the same; target images never are. The rendered face is then ambient x albedo x occlusion:
    doubling the ambient light and halving the exposure gives the same image."""
    lit_cfg = sf.FaceConfig(image_size=64)
    cfg = dataclasses.replace(lit_cfg, diffuse_light_fraction=0.3)
    n = 400
    params = [sf.sample_params(i, 2, cfg) for i in range(n)]
    diffuse = np.array([sp.diffuse_light for sp in params])
    p = cfg.diffuse_light_fraction
    assert abs(diffuse.mean() - p) < 4.0 * np.sqrt(p * (1 - p) / n)
    for sp, d in zip(params, diffuse):
        if d:
            assert sp.lights == () and sp.specular == 0.0 and not sp.side_light
            tint = np.array(sp.ambient) / np.array([0.95, 0.98, 1.05])
            assert np.all(tint >= 0.6 * 0.97 - 1e-9) and np.all(tint <= 1.0 * 1.03 + 1e-9)
        else:
            assert len(sp.lights) >= 2 and sp.specular > 0.0
    target = dataclasses.replace(cfg, domain="target")
    assert not any(sf.sample_params(i, 2, target).diffuse_light for i in range(40))
    lit = [sf.sample_params(i, 2, lit_cfg) for i in range(n)]
    assert not any(sp.diffuse_light for sp in lit)
    for a, b in zip(params, lit):
        if not a.diffuse_light:
            assert a == b
        else:
            assert dataclasses.replace(a, lights=b.lights, specular=b.specular,
                                       ambient=b.ambient, side_light=b.side_light,
                                       diffuse_light=False) == b
    i = int(np.nonzero(diffuse)[0][0])
    ident = sf.identity_params(i)
    with_diffuse = sf.render_face(i, ident, params[i], cfg)
    np.testing.assert_array_equal(with_diffuse["depth"],
                                  sf.render_face(i, ident, lit[i], lit_cfg)["depth"])
    brighter = dataclasses.replace(params[i], ambient=tuple(2.0 * a for a in params[i].ambient),
                                   exposure=params[i].exposure / 2.0)
    np.testing.assert_array_equal(sf.render_face(i, ident, brighter, cfg)["rgb"],
                                  with_diffuse["rgb"])
    with pytest.raises(ValueError, match="diffuse_light_fraction"):
        sf.FaceConfig(diffuse_light_fraction=1.5)
