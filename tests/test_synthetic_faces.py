"""Tests for the procedural faces (data_pipelines.synthetic_faces) and their TFDS builder."""
import dataclasses

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
        np.testing.assert_array_equal(a[k], b[k])
        assert a[k].dtype == b[k].dtype
    other_seed = sf.generate_face(5, 2, dataclasses.replace(cfg, seed=4))
    other_sample = sf.generate_face(5, 3, cfg)
    for other in (other_seed, other_sample):
        assert not np.array_equal(a["depth"], other["depth"])
        assert not np.array_equal(a["rgb"], other["rgb"])


def test_types_depth_range_and_fill():
    cfg = sf.FaceConfig(image_size=64)
    for sample in range(4):
        ex = sf.generate_face(1, sample, cfg)
        assert ex["rgb"].dtype == np.uint8 and ex["rgb"].shape == (64, 64, 3)
        assert ex["depth"].dtype == np.uint16 and ex["depth"].shape == (64, 64)
        assert ex["landmarks"].dtype == np.float32 and ex["landmarks"].shape == (68, 2)
        assert ex["landmarks_visible"].dtype == bool and ex["landmarks_visible"].shape == (68,)
        assert ex["pose"].dtype == np.float32 and ex["pose"].shape == (3,)
        assert ex["identity"].dtype == np.int64 and ex["identity"] == 1
        fg = ex["depth"] > 0
        # Head centre 620..720 mm from the camera; no surface point is > 160 mm from it.
        assert 460 <= ex["depth"][fg].min() and ex["depth"][fg].max() <= 880
        assert 0.3 < fg.mean() < 0.9                  # the face fills most of the frame
        assert ex["depth"][-1, 0] == 0 and ex["depth"][-1, -1] == 0   # background corners
    far = sf.generate_face(1, 0, sf.FaceConfig(image_size=64, distance_mm=(2000.0, 2000.0)))
    d = far["depth"][far["depth"] > 0]
    assert 2000 - 160 <= d.min() and d.max() <= 2000 + 160
    # The nose tip is about head_c + nose_h (~105..130 mm) in front of the head centre.
    p = sf.identity_params(1)
    nose = _at(far["depth"], far["landmarks"][sf.NOSE_TIP])
    assert abs(nose - (2000 - p.head_c - p.nose_h)) < 25


def test_frontal_face_symmetry_and_nose_is_nearest():
    cfg = sf.FaceConfig(image_size=96, **FRONTAL)
    ex = sf.generate_face(2, 0, cfg)
    lm, depth = ex["landmarks"].astype(np.float64), ex["depth"].astype(np.float64)
    assert ex["landmarks_visible"].all()
    # Mirror symmetry about the image centre line x = 48 (camera on the symmetry plane).
    for i, j in MIRROR:
        np.testing.assert_allclose(lm[i, 0] + lm[j, 0], 96.0, atol=1e-3)
        np.testing.assert_allclose(lm[i, 1], lm[j, 1], atol=1e-3)
    np.testing.assert_allclose(lm[SELF_MIRROR, 0], 48.0, atol=1e-3)
    both = (depth > 0) & (depth[:, ::-1] > 0)
    assert np.abs(depth - depth[:, ::-1])[both].max() <= 1.0
    # Vertical order of the features (y down): brows < eyes < nose tip < mouth < chin.
    assert lm[19, 1] < lm[37, 1] < lm[30, 1] < lm[33, 1] < lm[51, 1] < lm[57, 1] < lm[8, 1]
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0] and lm[48, 0] < lm[54, 0]
    nose = _at(depth, lm[sf.NOSE_TIP])
    cheeks = _at(depth, lm[[1, 2, 3, 13, 14, 15, 36, 45, 48, 54]])
    assert np.all(nose < cheeks - 10)
    assert nose <= depth[depth > 0].min() + 3        # the nearest region of the face


@pytest.mark.parametrize("yaw", [20.0, -20.0])
def test_yaw_sign_changes_nearer_cheek(yaw):
    cfg = sf.FaceConfig(image_size=96, **dict(FRONTAL, yaw_deg=(yaw, yaw)))
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


def _shape_signature(ex, cfg):
    """Pose-invariant identity signature: pairwise 3D distances (mm) between landmarks,
    back-projected with the depth map and the pinhole camera."""
    k = [27, 30, 33, 36, 39, 42, 45, 48, 54, 57]
    s = cfg.image_size
    lm = ex["landmarks"][k].astype(np.float64)
    z = _at(ex["depth"], lm).astype(np.float64)
    assert np.all(z > 0)
    pts = np.stack([(lm[:, 0] - s / 2) * z / cfg.focal_px, (lm[:, 1] - s / 2) * z / cfg.focal_px,
                    z], 1)
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    return dist[np.triu_indices(len(k), 1)]


def test_identity_is_constant_across_samples_and_differs_across_identities():
    assert sf.identity_params(3, 0) == sf.identity_params(3, 0)
    assert sf.identity_params(3, 0) != sf.identity_params(4, 0)
    assert sf.identity_params(3, 0) != sf.identity_params(3, 1)
    src, tgt = sf.FaceConfig(), sf.FaceConfig(domain="target")
    assert sf.sample_params(3, 0, src) != sf.sample_params(3, 1, src)
    assert sf.sample_params(3, 0, src) != sf.sample_params(3, 0, tgt)
    # Through the images: same-identity signatures agree, different identities do not.
    cfg = sf.FaceConfig(image_size=96)
    sig = {(i, s): _shape_signature(sf.generate_face(i, s, cfg), cfg)
           for i in range(5) for s in range(3)}
    keys = list(sig)
    gap = lambda a, b: np.abs(sig[a] - sig[b]).mean()  # noqa: E731
    within = max(gap(a, b) for a in keys for b in keys if a != b and a[0] == b[0])
    between = min(gap(a, b) for a in keys for b in keys if a[0] != b[0])
    assert within < between


def test_source_and_target_distributions_differ():
    stats = {}
    for dom in sf.DOMAINS:
        cfg = sf.FaceConfig(image_size=48, domain=dom)
        yaw, warm, asym, bright = [], [], [], []
        for i in range(20):
            ex = sf.generate_face(i % 5, i, cfg)
            fg = ex["depth"] > 0
            rgb = ex["rgb"].astype(np.float64)
            yaw.append(abs(ex["pose"][0]))
            warm.append(rgb[fg, 0].mean() / max(rgb[fg, 2].mean(), 1.0))
            grey = rgb.mean(-1)
            cols = np.nonzero(fg.any(0))[0]
            mid = (cols.min() + cols.max()) // 2
            left, right = grey[:, :mid][fg[:, :mid]], grey[:, mid:][fg[:, mid:]]
            asym.append(abs(left.mean() - right.mean()))
            bright.append(grey[fg].mean())
        stats[dom] = dict(yaw=np.array(yaw), warm=np.mean(warm), asym=np.mean(asym),
                          bright=np.mean(bright))
    s, t = stats["source"], stats["target"]
    assert s["yaw"].max() <= 15.0 and t["yaw"].max() <= 30.0
    assert t["yaw"].mean() > s["yaw"].mean() + 3.0
    assert t["warm"] > s["warm"] * 1.15                  # warmer light, redder albedo
    assert t["asym"] > s["asym"] * 1.5                   # lateral vs frontal light
    assert abs(t["bright"] - s["bright"]) > 10.0


@pytest.mark.parametrize("domain", sf.DOMAINS)
def test_rgb_foreground_matches_depth_silhouette(domain):
    cfg = sf.FaceConfig(image_size=64, domain=domain)
    for sample in range(3):
        ex = sf.generate_face(7, sample, cfg)
        sp = sf.sample_params(7, sample, cfg)
        rows = (np.arange(64) + 0.5) / 64 - 0.5
        bg_lin = np.array(sp.background) * (1 + sp.background_gradient * rows)[:, None, None]
        bg = 255.0 * np.clip(bg_lin, 0, 1) ** (1 / 2.2) * np.ones((64, 64, 3))
        tol = 5 * sp.noise_std * 255 + 1
        close = np.all(np.abs(ex["rgb"] - bg) <= tol, axis=-1)
        fg = ex["depth"] > 0
        assert close[~fg].all()                        # background pixels: background colour
        assert close[fg].mean() < 0.02                 # face pixels: not background colour


def test_256_pixels():
    ex = sf.generate_face(0, 0, sf.FaceConfig(image_size=256))
    small = sf.generate_face(0, 0, sf.FaceConfig(image_size=64))
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
