"""depthlab.face_relief: issue 20's face-shape numbers, against hand-worked examples."""

import numpy as np
import pytest

from depthlab import face_relief as fr


def test_face_front_mask_keeps_valid_pixels_within_front_mm_of_the_nearest():
    # nearest valid = 0.9; 60 mm of the 250 mm window = 0.24 -> keep >= 0.66
    gt = np.array([[0.9, 0.7, 0.66], [0.65, 0.95, 0.2]])
    valid = np.array([[True, True, True], [True, False, True]])   # 0.95 is a hole
    want = np.array([[True, True, True], [False, False, False]])
    np.testing.assert_array_equal(fr.face_front_mask(gt, valid), want)
    assert not fr.face_front_mask(gt, np.zeros_like(valid)).any()
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        fr.face_front_mask(gt, valid.T)


def test_relief_errors_hand_worked():
    gt = np.array([0.8, 0.9, 1.0, 0.9])        # mean 0.9, std sqrt(0.005)
    pred = np.array([0.7, 0.8, 0.9, 0.9])      # errors -0.1, -0.1, -0.1, 0
    region = np.ones(4, bool)
    out = fr.relief_errors(pred, gt, region, face_range_mm=100.0)
    assert out["rmse_mm"] == pytest.approx(np.sqrt(0.03 / 4) * 100)
    assert out["rmse_flat_mm"] == pytest.approx(np.sqrt(0.005) * 100)
    # pred - mean(pred) = (-0.125, -0.025, 0.075, 0.075); gt - 0.9 = (-0.1, 0, 0.1, 0)
    # differences (-0.025, -0.025, -0.025, 0.075) -> mean square 0.0075 / 4
    assert out["rmse_shape_mm"] == pytest.approx(np.sqrt(0.0075 / 4) * 100)
    # covariance 0.0125 + 0 + 0.0075 + 0 = 0.02; |p|^2 = 0.0275, |g|^2 = 0.02
    assert out["pearson_r"] == pytest.approx(0.02 / np.sqrt(0.0275 * 0.02))


def test_no_flat_face_beats_the_best_flat_face():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.7, 1.0, (6, 6))
    region = np.ones((6, 6), bool)
    best = fr.relief_errors(gt * 0, gt, region)["rmse_flat_mm"]
    for c in np.linspace(0.6, 1.0, 41):
        assert fr.relief_errors(np.full_like(gt, c), gt, region)["rmse_mm"] >= best - 1e-9
    assert fr.relief_errors(gt, gt, region)["rmse_mm"] == 0.0
    with pytest.raises(ValueError, match="1 pixel"):
        fr.relief_errors(gt, gt, np.eye(6, dtype=bool) & (np.arange(6) == 0))


def test_points_from_68():
    lm = np.zeros((68, 2))
    lm[36:42] = [[10, 20]] * 3 + [[12, 22]] * 3      # eye centre (11, 21)
    lm[42:48] = [30, 20]
    lm[30], lm[8] = [20, 30], [20, 50]               # nose tip, chin
    lm[1], lm[31], lm[15], lm[35] = [0, 26], [16, 32], [40, 26], [24, 32]
    pts = fr.points_from_68(lm)
    np.testing.assert_allclose(pts["left_eye"], [11, 21])
    np.testing.assert_allclose(pts["right_eye"], [30, 20])
    np.testing.assert_allclose(pts["left_cheek"], [8, 29])
    np.testing.assert_allclose(pts["right_cheek"], [32, 29])
    np.testing.assert_allclose(pts["neck"], [20, 50 + fr.NECK_BELOW_CHIN * 20])
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        fr.points_from_68(lm[:5])


def test_disc_mean_counts_pixel_centres_within_the_radius():
    d = np.arange(25, dtype=float).reshape(5, 5)
    # centre (2.5, 2.5) = pixel (2, 2); radius 1 takes it and its 4 neighbours
    assert fr.disc_mean(d, (2.5, 2.5), 1.0) == pytest.approx((12 + 7 + 17 + 11 + 13) / 5)
    valid = np.ones((5, 5), bool)
    valid[1, 2] = False
    assert fr.disc_mean(d, (2.5, 2.5), 1.0, valid) == pytest.approx((12 + 17 + 11 + 13) / 4)
    assert np.isnan(fr.disc_mean(d, (40.0, 40.0), 1.0))


def test_point_radius_is_a_tenth_of_the_eye_distance_and_at_least_one_pixel():
    assert fr.point_radius({"left_eye": (10, 12), "right_eye": (30, 12)}) == pytest.approx(2.0)
    assert fr.point_radius({"left_eye": (0, 0), "right_eye": (30, 40)}) == pytest.approx(5.0)
    assert fr.point_radius({"left_eye": (10, 12), "right_eye": (14, 12)}) == 1.0


def test_relief_contrasts_of_a_hand_built_face():
    # a 40x40 depth image, far (0.5) except: a nose at 0.9 around (20, 20), eyes at 0.7,
    # cheeks at 0.8, chin at 0.75, neck 0.6; window 250 mm
    d = np.full((40, 40), 0.5)
    d[18:22, 18:22] = 0.9
    d[10:14, 8:12] = d[10:14, 28:32] = 0.7
    d[20:24, 6:10] = d[20:24, 30:34] = 0.8
    d[30:34, 18:22] = 0.75
    d[36:40, 18:22] = 0.6
    pts = {"nose_tip": (20, 20), "left_eye": (10, 12), "right_eye": (30, 12),
           "left_cheek": (8, 22), "right_cheek": (32, 22), "chin": (20, 32), "neck": (20, 38)}
    out = fr.relief_contrasts(d, pts, radius=1.5)
    assert out == pytest.approx({"nose_vs_eyes": 0.2 * 250, "nose_vs_cheeks": 0.1 * 250,
                                 "chin_vs_neck": 0.15 * 250})
    # default radius: a tenth of the 20 px inter-eye distance = 2 px, still inside each patch
    assert fr.relief_contrasts(d, pts) == pytest.approx(out)
    # a tight crop without chin and neck: only the nose contrasts
    no_chin = {k: v for k, v in pts.items() if k not in ("chin", "neck")}
    assert set(fr.relief_contrasts(d, no_chin)) == {"nose_vs_eyes", "nose_vs_cheeks"}
    with pytest.raises(ValueError, match="unknown point names.*'forehead'"):
        fr.relief_contrasts(d, dict(pts, forehead=(20, 5)))
    with pytest.raises(ValueError, match="none of the contrasts"):
        fr.relief_contrasts(d, {"nose_tip": (20, 20)}, radius=1.0)


def test_procedural_face_ground_truth_has_a_nose_eye_sockets_and_a_chin():
    """The check itself, on the generator's own ground truth: the nose tip is nearer than
    the eyes and the cheeks, the chin nearer than the neck (independent of any model)."""
    from data_pipelines import synthetic_faces as sf
    from data_pipelines.paired import tsgan_depth_to_unit

    cfg = sf.FaceConfig(image_size=96, yaw_deg=(-5.0, 5.0), pitch_deg=(-5.0, 5.0),
                        sensor_holes=False)
    face = sf.generate_face(3, 0, cfg)
    unit, valid = [a.numpy() for a in tsgan_depth_to_unit(face["depth"], 16)]
    out = fr.relief_contrasts(unit, fr.points_from_68(face["landmarks"]), valid=valid)
    # anthropometric orders of magnitude: nose tip 15-40 mm in front of the eyes and cheeks
    assert 15.0 < out["nose_vs_eyes"] < 40.0
    assert 10.0 < out["nose_vs_cheeks"] < 40.0
    assert out["chin_vs_neck"] > 0.0
    region = fr.face_front_mask(unit, valid)
    errors = fr.relief_errors(unit, unit, region)
    assert errors["rmse_mm"] == 0.0 and errors["rmse_flat_mm"] > 5.0
