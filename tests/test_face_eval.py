"""Face-enhancement evaluation measures (Schlett et al., Tables IV-VII) on hand-worked images."""

import math

import numpy as np
import pytest
from scipy import stats

from depthlab import face_eval as fe

T, F = True, False


# ----------------------------------------------------------------------------------------
# Table IV: face-area RMSE
# ----------------------------------------------------------------------------------------

GT = np.array([[0.5, 0.5], [0.2, 0.0]])
GT_VALID = np.array([[T, T], [T, F]])


def test_face_area_rmse_uses_gt_valid_pixels_only():
    pred = np.array([[0.6, 0.5], [0.2, 0.9]])
    # errors on gt-valid pixels: 0.1, 0, 0 (the 0.9 sits on a gt hole and is ignored); n = 3
    assert fe.face_area_rmse(pred, GT, GT_VALID) == pytest.approx(math.sqrt(0.01 / 3))


def test_face_area_rmse_pred_hole_policies():
    # pred has an unfilled hole at (1, 0) where gt = 0.2.
    paper = np.array([[0.6, 0.5], [1.0, 1.0]])        # paper convention: hole = 1.0 (65535)
    sdk = np.array([[0.6, 0.5], [0.0, 0.0]])          # SDK convention: hole = 0
    pred_valid = np.array([[T, T], [F, F]])
    # as_is with the paper's hole value: errors 0.1, 0, 0.8 -> sqrt((0.01 + 0.64) / 3)
    want = math.sqrt((0.01 + 0.64) / 3)
    assert fe.face_area_rmse(paper, GT, GT_VALID) == pytest.approx(want)
    # fill: the 0-hole is scored as the paper's 1.0
    assert fe.face_area_rmse(sdk, GT, GT_VALID, pred_valid=pred_valid,
                             pred_holes="fill") == pytest.approx(want)
    # as_is with 0-holes: error 0.2 there -> sqrt((0.01 + 0.04) / 3)
    assert fe.face_area_rmse(sdk, GT, GT_VALID) == pytest.approx(math.sqrt(0.05 / 3))
    # exclude: n = 2 -> sqrt(0.01 / 2)
    assert fe.face_area_rmse(sdk, GT, GT_VALID, pred_valid=pred_valid,
                             pred_holes="exclude") == pytest.approx(math.sqrt(0.01 / 2))


def test_face_area_rmse_uint16_and_channel_axis():
    gt = np.array([[1000, 2000], [3000, 65535]], np.uint16)
    pred = np.array([[1003, 1996], [3000, 7]], np.uint16)[..., None]
    valid = gt != 65535
    # errors 3, -4, 0 -> sqrt(25 / 3); computed in float, no uint16 wrap-around
    assert fe.face_area_rmse(pred, gt, valid) == pytest.approx(math.sqrt(25 / 3))


def test_face_area_rmse_errors():
    with pytest.raises(ValueError, match="selects no pixels"):
        fe.face_area_rmse(GT, GT, np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        fe.face_area_rmse(np.zeros((3, 2)), GT, GT_VALID)
    with pytest.raises(TypeError, match="gt_valid must be a boolean"):
        fe.face_area_rmse(GT, GT, GT_VALID.astype(np.uint8))
    with pytest.raises(ValueError, match="needs pred_valid"):
        fe.face_area_rmse(GT, GT, GT_VALID, pred_holes="fill")
    with pytest.raises(ValueError, match="pred_holes"):
        fe.face_area_rmse(GT, GT, GT_VALID, pred_holes="drop")
    with pytest.raises(ValueError, match="one image"):
        fe.face_area_rmse(np.zeros((2, 2, 2)), GT, GT_VALID)


# ----------------------------------------------------------------------------------------
# Table IV columns: moments
# ----------------------------------------------------------------------------------------

def test_distribution_stats_hand_worked():
    # [0, 0, 0, 4]: mean 1, deviations -1, -1, -1, 3
    # m2 = (1+1+1+9)/4 = 3, m3 = (-1-1-1+27)/4 = 6, m4 = (1+1+1+81)/4 = 21
    s = fe.distribution_stats([0, 0, 0, 4])
    assert s["mean"] == pytest.approx(1.0)
    assert s["std"] == pytest.approx(math.sqrt(3))
    assert s["skewness"] == pytest.approx(6 / 3 ** 1.5)
    assert s["excess_kurtosis"] == pytest.approx(21 / 9 - 3)


def test_distribution_stats_matches_scipy():
    x = np.random.default_rng(3).gamma(2.0, 0.02, size=500)
    s = fe.distribution_stats(x)
    assert s["mean"] == pytest.approx(np.mean(x))
    assert s["std"] == pytest.approx(np.std(x, ddof=0))
    assert s["skewness"] == pytest.approx(stats.skew(x, bias=True))
    assert s["excess_kurtosis"] == pytest.approx(stats.kurtosis(x, fisher=True, bias=True))


def test_distribution_stats_degenerate_and_errors():
    s = fe.distribution_stats([0.3, 0.3, 0.3])
    assert s["std"] == 0.0 and math.isnan(s["skewness"]) and math.isnan(s["excess_kurtosis"])
    with pytest.raises(ValueError, match="empty"):
        fe.distribution_stats([])
    with pytest.raises(ValueError, match="non-finite"):
        fe.distribution_stats([0.1, float("nan")])


# ----------------------------------------------------------------------------------------
# Table V: roughness and hole percentage
# ----------------------------------------------------------------------------------------

def test_roughness_map_single_bump_3x3():
    d = np.zeros((3, 3))
    d[1, 1] = 1.0
    r = fe.roughness_map(d, np.ones((3, 3), bool))
    # centre: 1 - mean(8 zeros) = 1; every border pixel lacks a full 3x3 block -> NaN
    assert r[1, 1] == pytest.approx(1.0)
    assert np.isnan(r).sum() == 8


def _bump5():
    d = np.zeros((5, 5))
    d[2, 2] = 8.0
    return d


def test_roughness_bump_5x5():
    d = _bump5()
    ones = np.ones((5, 5), bool)
    r = fe.roughness_map(d, ones)
    # (2,2): 8 - 0 = 8; each of its 8 neighbours: 0 - (8 + 7*0)/8 = -1
    assert r[2, 2] == pytest.approx(8.0)
    assert r[1, 1] == pytest.approx(-1.0) and r[1, 2] == pytest.approx(-1.0)
    assert np.isnan(r[0]).all() and np.isnan(r[:, 4]).all()
    # mean |r| over the 9 interior pixels = (8 + 8 * 1) / 9
    assert fe.roughness(d, ones, ones) == pytest.approx(16 / 9)
    # a face mask with only the bump's pixel
    only = np.zeros((5, 5), bool)
    only[2, 2] = True
    assert fe.roughness(d, only, ones) == pytest.approx(8.0)


def test_roughness_skips_blocks_with_holes_whatever_the_hole_value():
    ones = np.ones((5, 5), bool)
    valid = ones.copy()
    valid[0, 0] = False                 # only (1,1)'s 3x3 block contains (0,0)
    for hole_value in (0.0, 1000.0):
        d = _bump5()
        d[0, 0] = hole_value
        # 8 interior pixels left: 8 and seven |-1| -> (8 + 7) / 8
        assert fe.roughness(d, ones, valid) == pytest.approx(15 / 8)


def test_roughness_of_a_plane_is_zero():
    y, x = np.mgrid[0:6, 0:7].astype(float)
    d = 0.3 + 0.02 * x - 0.05 * y       # the neighbours' mean equals the centre on a plane
    ones = np.ones(d.shape, bool)
    assert fe.roughness(d, ones, ones) == pytest.approx(0.0, abs=1e-12)


def test_roughness_errors():
    d = _bump5()
    ones = np.ones((5, 5), bool)
    with pytest.raises(ValueError, match="no face_mask pixel"):
        fe.roughness(d, np.zeros((5, 5), bool), ones)
    edge = np.zeros((5, 5), bool)
    edge[0, :] = True                   # border pixels never have a full 3x3 block
    with pytest.raises(ValueError, match="no face_mask pixel"):
        fe.roughness(d, edge, ones)
    with pytest.raises(ValueError, match="expected"):
        fe.roughness(d, np.ones((4, 5), bool), ones)


def test_hole_percentage():
    d = np.full((4, 4), 0.4)
    d[0, 0] = d[1, 1] = d[3, 3] = 1.0   # paper holes
    mask = np.zeros((4, 4), bool)
    mask[:2, :3] = True                 # 6 pixels, holes among them: (0,0), (1,1)
    assert fe.hole_percentage(d, mask, 1.0) == pytest.approx(2 / 6)
    assert fe.hole_percentage(d, mask, valid=d != 1.0) == pytest.approx(2 / 6)
    d2 = d.copy()
    d2[0, 1] = np.nan                   # non-finite counts as a hole too
    assert fe.hole_percentage(d2, mask, 1.0) == pytest.approx(3 / 6)
    u16 = np.where(d == 1.0, 0, 700).astype(np.uint16)
    assert fe.hole_percentage(u16, mask, 0) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="exactly one"):
        fe.hole_percentage(d, mask)
    with pytest.raises(ValueError, match="exactly one"):
        fe.hole_percentage(d, mask, 1.0, valid=d != 1.0)
    with pytest.raises(ValueError, match="selects no pixels"):
        fe.hole_percentage(d, np.zeros((4, 4), bool), 1.0)


# ----------------------------------------------------------------------------------------
# Table VI: falsification
# ----------------------------------------------------------------------------------------

def test_falsification_rmse():
    inp = np.array([[0.50, 1.00], [0.30, 0.40]])
    out = np.array([[0.52, 0.90], [0.30, 0.46]])
    face = np.array([[T, T], [T, F]])
    inp_valid = np.array([[T, F], [T, T]])
    # used: face & input valid = (0,0), (1,0): errors 0.02, 0 -> sqrt(0.0004 / 2)
    assert fe.falsification_rmse(inp, out, face, inp_valid) == pytest.approx(
        math.sqrt(0.0004 / 2))
    with pytest.raises(ValueError, match="selects no pixels"):
        fe.falsification_rmse(inp, out, np.array([[F, T], [F, F]]), inp_valid)
    with pytest.raises(ValueError, match="output_depth"):
        fe.falsification_rmse(inp, out[:1], face, inp_valid)


# ----------------------------------------------------------------------------------------
# Table VII: landmark holes and PAD
# ----------------------------------------------------------------------------------------

def test_landmark_hole_rate():
    d = np.full((5, 5), 600, np.uint16)
    d[4, 2] = 0
    lms = np.array([[1.0, 1.0],          # valid
                    [2.4, 3.6],          # nearest pixel col 2, row 4: a hole
                    [-0.6, 2.0],         # col floor(-0.6 + 0.5) = -1: outside -> hole
                    [4.49, 0.0],         # col 4, row 0: valid
                    [np.nan, 1.0]])      # non-finite -> hole
    assert fe.landmark_hole_rate(d, lms, 0) == pytest.approx(3 / 5)
    assert fe.landmark_hole_rate(d, lms, valid=d > 0) == pytest.approx(3 / 5)
    # pixel centres at i + 0.5: (2.9, 4.2) -> col 2, row 4 (the hole); (0.1, 0.1) -> (0, 0)
    assert fe.landmark_hole_rate(d, [[2.9, 4.2], [0.1, 0.1]], 0,
                                 pixel_centre=0.5) == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="no landmarks"):
        fe.landmark_hole_rate(d, np.zeros((0, 2)), 0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        fe.landmark_hole_rate(d, np.zeros((4, 3)), 0)


def _pad_profile():
    """A 1 x 68 depth row with landmark k on pixel (row 0, col k) and a bona fide profile:
    jaw depth 100 at the chin centre (8) growing by 5 per step outward, nose tip (30) at 90,
    every other landmark at 110."""
    z = np.full(68, 110.0)
    for j in range(9):
        z[8 - j] = z[8 + j] = 100.0 + 5.0 * j
    z[30] = 90.0
    lms = np.stack([np.arange(68.0), np.zeros(68)], 1)
    return z, lms


def _pad(z, lms, valid=None, **kw):
    d = z[None, :]
    v = np.ones_like(d, bool) if valid is None else valid[None, :]
    return fe.pad_error(d, lms, v, **kw), fe.pad_landmark_validity(d, lms, v, **kw)


def test_pad_bona_fide_profile_is_valid():
    z, lms = _pad_profile()
    err, flags = _pad(z, lms)
    assert err == 0.0 and not flags["invalid"].any()


def test_pad_one_jaw_landmark_nearer_than_predecessor():
    z, lms = _pad_profile()
    z[5] = 108.0     # walk 8 -> 0: z6 = 110, z5 = 108 < 110 -> invalid; z4 = 120 >= 108 -> fine
    err, flags = _pad(z, lms)
    assert err == pytest.approx(1 / 68)
    assert flags["jaw_order"].nonzero()[0].tolist() == [5]
    z, lms = _pad_profile()
    z[12] = 114.0    # walk 8 -> 16: z11 = 115, z12 = 114 < 115 -> invalid; z13 = 125 fine
    err, flags = _pad(z, lms)
    assert err == pytest.approx(1 / 68) and flags["jaw_order"][12]
    z, lms = _pad_profile()
    z[5], z[4] = 108.0, 109.0   # 4 is farther than its predecessor 5 (108) though nearer than
    err, flags = _pad(z, lms)   # 6 (110): neighbours are compared, not a running maximum
    assert flags["jaw_order"].nonzero()[0].tolist() == [5]
    z, lms = _pad_profile()
    z[5] = 110.0     # equal to its predecessor: "at least as far" holds -> still valid
    assert _pad(z, lms)[0] == 0.0


def test_pad_one_hole():
    z, lms = _pad_profile()
    valid = np.ones(68, bool)
    valid[40] = False
    err, flags = _pad(z, lms, valid)
    assert err == pytest.approx(1 / 68) and flags["hole"][40]
    # a jaw hole: the next landmark compares with the last non-hole one (z7 = 105 < z5 = 115)
    valid = np.ones(68, bool)
    valid[6] = False
    err, flags = _pad(z, lms, valid)
    assert err == pytest.approx(1 / 68) and flags["hole"][6] and not flags["jaw_order"].any()
    # a landmark outside the image is a hole
    lms2 = lms.copy()
    lms2[50] = [-3.0, 0.0]
    assert _pad(z, lms2)[0] == pytest.approx(1 / 68)


def test_pad_nearer_than_nose_tip():
    z, lms = _pad_profile()
    z[50] = 85.0                         # nearer than the nose tip (90)
    err, flags = _pad(z, lms)
    assert err == pytest.approx(1 / 68) and flags["nearer_than_nose"][50]
    z, lms = _pad_profile()
    z[0] = 80.0      # nearer than the nose AND than its jaw predecessor (z1 = 135): counted once
    err, flags = _pad(z, lms)
    assert err == pytest.approx(1 / 68)
    assert flags["nearer_than_nose"][0] and flags["jaw_order"][0]
    # the nose tip a hole: the nose rule is skipped, only the hole counts
    z, lms = _pad_profile()
    z[50] = 85.0
    valid = np.ones(68, bool)
    valid[30] = False
    assert _pad(z, lms, valid)[0] == pytest.approx(1 / 68)


def test_pad_near_is_bright():
    z, lms = _pad_profile()
    # near-is-bright image: larger = nearer; the same face is valid with near_is_small=False
    assert _pad(1000.0 - z, lms, near_is_small=False)[0] == 0.0
    # and read with the wrong convention the nose tip becomes the farthest point: every other
    # non-hole landmark is "nearer", 67 of 68
    assert _pad(1000.0 - z, lms)[0] >= 67 / 68


def test_pad_bad_inputs():
    z, lms = _pad_profile()
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        fe.pad_error(z[None], lms[:67], np.ones((1, 68), bool))
    with pytest.raises(TypeError, match="valid must be a boolean"):
        fe.pad_error(z[None], lms, np.ones((1, 68)))


# ----------------------------------------------------------------------------------------
# face mask
# ----------------------------------------------------------------------------------------

def _outline_landmarks():
    """Jaw 0-16 down the left side (x=2), along the bottom (y=8), up the right side (x=10);
    brows 17-26 along the top (y=2); every other landmark inside at (6, 5)."""
    lm = np.full((68, 2), [6.0, 5.0])
    jaw = [(2, 2), (2, 4), (2, 6), (2, 8), (3, 8), (4, 8), (5, 8), (5.5, 8), (6, 8), (6.5, 8),
           (7, 8), (8, 8), (9, 8), (10, 8), (10, 6), (10, 4), (10, 2)]
    lm[:17] = jaw
    lm[17:27] = np.stack([np.linspace(2, 10, 10), np.full(10, 2.0)], 1)
    return lm


def test_face_mask_hull_is_the_rectangle():
    lm = _outline_landmarks()
    want = np.zeros((11, 13), bool)
    want[2:9, 2:11] = True                       # rows 2..8, cols 2..10: 7 x 9 = 63 pixels
    m = fe.face_mask_from_landmarks(lm, (11, 13))
    assert m.dtype == bool and np.array_equal(m, want)
    assert np.array_equal(fe.face_mask_from_landmarks(lm, (11, 13), method="jaw_brows"), want)
    # same points in the i + 0.5 pixel-centre convention give the same mask
    assert np.array_equal(fe.face_mask_from_landmarks(lm + 0.5, (11, 13), pixel_centre=0.5),
                          want)


def test_face_mask_jaw_brows_follows_a_concave_outline():
    lm = _outline_landmarks()
    # a triangular notch (4,8)-(6,4)-(8,8) cut into the bottom edge; at row 7 its inside
    # spans x in (4.5, 7.5), so pixel (row 7, col 6) is outside the polygon
    lm[6] = lm[7] = [4.0, 8.0]
    lm[8] = [6.0, 4.0]
    lm[9] = lm[10] = [8.0, 8.0]
    hull = fe.face_mask_from_landmarks(lm, (11, 13))
    poly = fe.face_mask_from_landmarks(lm, (11, 13), method="jaw_brows")
    assert hull.sum() == 63                      # the hull ignores the notch
    assert poly.sum() < 63 and not (poly & ~hull).any()
    assert not poly[7, 6] and poly[7, 2] and poly[7, 10]


def test_face_mask_errors():
    lm = _outline_landmarks()
    lm[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fe.face_mask_from_landmarks(lm, (11, 13))
    with pytest.raises(ValueError, match="method"):
        fe.face_mask_from_landmarks(_outline_landmarks(), (11, 13), method="ellipse")


# ----------------------------------------------------------------------------------------
# The hand-worked cases that tested the former depthlab.metrics copies (roughness,
# hole_fraction, falsification_rmse with a hole_value); face_eval is now their one owner.
# ----------------------------------------------------------------------------------------

def _plane_with_bump():
    # d = 10 + x + y (the kernel annihilates linear functions), plus 8 at (1, 1):
    # response (1,1) = 8; its neighbours (1,2), (2,1), (2,2) see -8/8 = -1.
    y, x = np.mgrid[0:4, 0:4]
    d = 10.0 + x + y
    d[1, 1] += 8.0
    return d


def test_roughness_hand_worked_with_either_hole_convention():
    d = _plane_with_bump()
    full = np.ones((4, 4), bool)
    # interior pixels (1,1), (1,2), (2,1), (2,2): (8 + 1 + 1 + 1) / 4 = 2.75
    assert fe.roughness(d, full, full) == pytest.approx(2.75)
    only = np.zeros((4, 4), bool)
    only[1, 1] = True
    assert fe.roughness(d, only, full) == pytest.approx(8.0)
    # a hole at (3, 3) removes (2, 2), whose 3x3 block contains it: (8 + 1 + 1) / 3
    d[3, 3] = 0.0
    assert fe.roughness(d, full, d != 0) == pytest.approx(10.0 / 3)
    # the paper's 65535 hole convention
    d[3, 3] = 65535.0
    assert fe.roughness(d, full, d != 65535) == pytest.approx(10.0 / 3)
    with pytest.raises(ValueError, match="no face_mask pixel"):
        fe.roughness(d, np.zeros((4, 4), bool), full)


def test_hole_percentage_hand_worked():
    d = np.array([[0.0, 1.0], [2.0, 0.0]])
    all_px = np.ones((2, 2), bool)
    assert fe.hole_percentage(d, all_px, 0) == pytest.approx(0.5)                 # 2 of 4
    mask = np.array([[True, True], [True, False]])
    assert fe.hole_percentage(d, mask, 0) == pytest.approx(1 / 3)                 # 1 of 3
    d16 = np.array([[65535, 1], [2, 3]], np.uint16)
    assert fe.hole_percentage(d16, all_px, 65535) == pytest.approx(0.25)
    assert fe.hole_percentage(np.array([[np.nan, 1.0]]), np.ones((1, 2), bool), 0) == \
        pytest.approx(0.5)
    with pytest.raises(ValueError, match="selects no pixels"):
        fe.hole_percentage(d, np.zeros((2, 2), bool), 0)


def test_falsification_rmse_ignores_input_holes():
    inp = np.array([[1.0, 0.0], [3.0, 4.0]])
    enhanced = np.array([[2.0, 5.0], [3.0, 2.0]])
    # input hole at (0, 1) ignored: diffs 1, 0, -2 -> sqrt(5 / 3)
    assert fe.falsification_rmse(inp, enhanced, np.ones((2, 2), bool), inp != 0) == \
        pytest.approx(math.sqrt(5 / 3))


# ----------------------------------------------------------------------------------------
# Tables V-VII summaries and Table VII's selection (issue 18)
# ----------------------------------------------------------------------------------------

def test_sample_stats_by_hand():
    # [0, 1/6, 1/6, 1/3]: mean 1/6; squared deviations (1/6)^2, 0, 0, (1/6)^2 -> sample
    # variance (2/36) / 3 = 1/54
    got = fe.sample_stats([0.0, 1 / 6, 1 / 6, 1 / 3])
    assert got == pytest.approx({"mean": 1 / 6, "sd": math.sqrt(1 / 54), "min": 0.0,
                                 "max": 1 / 3})
    assert fe.sample_stats([0.25])["sd"] == 0.0
    with pytest.raises(ValueError, match="empty"):
        fe.sample_stats([])
    with pytest.raises(ValueError, match="non-finite"):
        fe.sample_stats([0.1, float("nan")])


def test_table7_subset_rule_on_a_hand_made_example():
    """Three 4x4 inputs (hole = 1.0), two landmarks at pixels (0, 0) and (3, 3). Input 0 has
    no landmark hole, input 1 one (rate 1/2), input 2 two (rate 1): the subset is images 1 and
    2. An enhancer's outputs have rates 1/2 (image 0: excluded, though it has a hole), 0 and
    1/2: on the subset [0, 1/2] -> mean 1/4, sample sd sqrt(2 * (1/4)^2 / 1) = 0.35355, min 0,
    max 1/2; the inputs themselves [1/2, 1] -> mean 3/4, the same sd, min 1/2, max 1."""
    marks = np.array([[0.0, 0.0], [3.0, 3.0]])
    inputs = np.full((3, 4, 4), 0.5)
    inputs[1, 0, 0] = 1.0
    inputs[2, 0, 0] = inputs[2, 3, 3] = 1.0
    outputs = np.full((3, 4, 4), 0.5)
    outputs[0, 3, 3] = 1.0
    outputs[2, 0, 0] = 1.0
    rate = lambda x: fe.landmark_hole_rate(x, marks, hole_value=1.0)   # noqa: E731
    in_rates = [rate(x) for x in inputs]
    assert in_rates == [0.0, 0.5, 1.0]
    subset = fe.landmark_hole_subset(in_rates)
    np.testing.assert_array_equal(subset, [1, 2])
    out = fe.subset_stats([rate(x) for x in outputs], subset)
    assert out == pytest.approx({"mean": 0.25, "sd": math.sqrt(0.125), "min": 0.0, "max": 0.5})
    none = fe.subset_stats(in_rates, subset)
    assert none == pytest.approx({"mean": 0.75, "sd": math.sqrt(0.125), "min": 0.5, "max": 1.0})
    assert fe.subset_stats(in_rates, fe.landmark_hole_subset([0.0, 0.0])) is None
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\]"):
        fe.landmark_hole_subset([0.5, 2.0])


def test_manual_landmarks_from_dlib_by_hand():
    xy = np.zeros((68, 2))
    xy[36:42] = [[0, 0], [2, 0], [4, 0], [6, 0], [4, 2], [2, 2]]     # left eye: centre (3, 2/3)
    xy[42:48] = [[10, 10]] * 6
    xy[30], xy[48], xy[54], xy[8] = [5, 5], [3, 8], [7, 8], [5, 12]
    got = fe.manual_landmarks_from_dlib(xy)
    np.testing.assert_allclose(got, [[3, 2 / 3], [10, 10], [5, 5], [3, 8], [7, 8], [5, 12]])
    with pytest.raises(ValueError, match="\\(68, 2\\)"):
        fe.manual_landmarks_from_dlib(np.zeros((6, 2)))
