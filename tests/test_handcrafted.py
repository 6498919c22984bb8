"""depthlab.handcrafted: hand-worked cases, and pixel-for-pixel equality with pyrealsense2.

The reference is the RealSense SDK itself (``pyrealsense2``, a test dependency), run offline on
frames fed through ``rs.software_device`` (depthlab.realsense_sdk).
"""

import numpy as np
import pytest
import tensorflow as tf

from depthlab import handcrafted as hc
from depthlab import realsense_sdk as sdk

U16 = np.uint16


# ------------------------------------------------------------------ hand-worked examples
def test_decimation_median_and_mean_by_hand():
    img = np.array([[10, 30, 0, 0, 7, 7, 7, 7],
                    [20, 0, 0, 0, 7, 7, 7, 7],
                    [5, 6, 0, 9, 7, 7, 7, 7],
                    [7, 8, 0, 0, 7, 7, 7, 7]], U16)
    # magnitude 2: blocks {10,30,20} -> 20; {} -> 0; {7x4} -> 7; {5,6,7,8} -> lower median 6;
    # {9} -> 9. Output 2x4 real, padded to 4x4.
    out = hc.decimation(img, 2)
    assert out.shape == (4, 4)
    np.testing.assert_array_equal(out[:2], [[20, 0, 7, 7], [6, 9, 7, 7]])
    assert not out[2:].any()
    # magnitude 4: mean of non-zero, truncated: (10+30+20+5+6+9+7+8)/8 = 95/8 -> 11
    out4 = hc.decimation(img, 4)
    assert out4.shape == (4, 4) and out4[0, 0] == 11 and out4[0, 1] == 7


def test_decimation_output_size_like_sdk():
    assert hc.decimation(np.ones((256, 256), U16), 3).shape == (88, 88)    # 85 -> 88
    assert hc.decimation(np.ones((256, 256), U16), 8).shape == (32, 32)
    assert hc.decimation(np.ones((3, 50, 70), U16), 5).shape == (3, 12, 16)   # 10x14 -> 12x16


def test_hole_filling_by_hand():
    img = np.array([[0, 0, 0, 0],
                    [5, 0, 0, 9],
                    [0, 4, 0, 2],
                    [1, 1, 1, 1]], U16)
    np.testing.assert_array_equal(hc.hole_filling(img, 0),
                                  [[0, 0, 0, 0], [5, 5, 5, 9], [0, 4, 4, 2], [1, 1, 1, 1]])
    # farest: row 1 col 1 = max(up 0, ul 0, left 5, dl 0, down 4) = 5; col 2 = max(0,0,5,4,0)=5
    # row 2 col 2 = max(up 5, ul 5, left 4, dl 1, down 1) = 5; first column / rows stay
    np.testing.assert_array_equal(hc.hole_filling(img, 1),
                                  [[0, 0, 0, 0], [5, 5, 5, 9], [0, 4, 5, 2], [1, 1, 1, 1]])
    # nearest: row 1 holes have a hole above -> stay 0; row 2 col 2: up 0 -> stays 0
    np.testing.assert_array_equal(hc.hole_filling(img, 2), img)
    img2 = np.array([[9, 8, 7, 6], [5, 0, 0, 0], [3, 2, 0, 1]], U16)
    # row 1: col1 = min(8, 9, 5, 3, 2) = 2; col2 = min(7, 8, left 2, 2, 0->skip) = 2;
    # col3 = min(6, 7, 2, 0 skip, 1) = 1
    np.testing.assert_array_equal(hc.hole_filling(img2, "nearest_from_around")[1], [5, 2, 2, 1])


def test_spatial_one_row_by_hand():
    # one iteration on a 2-row image whose rows differ by > delta (vertical passes do nothing).
    # Left to right (positions 1..W-2; the last column is not visited): 110 after 100 ->
    # int(105 + .5) = 105 | hole after 105 -> filled 105 (radius 2 fills one pixel) | next hole
    # stays 0 | 112 after a hole: unchanged.  Row: 100 105 105 0 112 130.
    # Right to left from 130: 112 -> int(121 + .5) = 121 | hole -> 121 | 105 vs 121 -> 113 |
    # 105 vs 113 -> 109 | 100 vs 109 -> int(104.5 + .5) = 105.
    row = np.array([100, 110, 0, 0, 112, 130], U16)
    img = np.stack([row, row + 1000])
    out = hc.spatial(img, magnitude=1, alpha=0.5, delta=20, holes_fill=1)
    np.testing.assert_array_equal(out[0], [105, 109, 113, 121, 121, 130])


# ------------------------------------------------------------------ equality with the SDK
def _random_frames(rng, n, h, w):
    frames = []
    for kind in range(n):
        if kind % 3 == 0:
            img = rng.integers(0, 3000, (h, w))
        elif kind % 3 == 1:
            yy, xx = np.mgrid[0:h, 0:w]
            img = 500 + 3 * xx + 2 * yy + rng.integers(-15, 16, (h, w))
        else:
            img = rng.integers(0, 4, (h, w))            # tiny values, incl. the SDK's "1" quirk
        img = img.astype(U16)
        img[rng.random((h, w)) < 0.3] = 0
        frames.append(img)
    return frames


@pytest.fixture(scope="module")
def face_frames():
    """Degraded synthetic faces at 256x256, uint16 mm, 0 = hole (the paper's test inputs)."""
    from data_pipelines import degradation as deg
    from data_pipelines import face_enhancement as fe

    gt = fe.synthetic_ground_truth(2, seed=7, image_size=256)
    degraded, _ = deg.degrade(tf.constant(gt.depth_mm, tf.float32), deg.example_seeds(tf.constant([3, 7], tf.int64), 2),
                              deg.DegradationConfig(helper="none"))
    return list(np.round(degraded.numpy()).clip(0, 65534).astype(U16))


@pytest.fixture(scope="module")
def frames(face_frames):
    return _random_frames(np.random.default_rng(0), 3, 37, 50) + face_frames


def _check(name, frames, ours, **options):
    cams = {}
    for img in frames:
        cam = cams.setdefault(img.shape, sdk.SoftwareDepthCamera(*img.shape))
        want = sdk.apply(name, img, cam, **options)
        got = ours(img)
        assert got.shape == want.shape, (name, options, img.shape)
        mismatch = int(np.sum(got != want))
        assert mismatch == 0, f"{name} {options}: {mismatch} pixels differ on a {img.shape} frame"


@pytest.mark.parametrize("magnitude", range(1, 9))
def test_decimation_equals_sdk(frames, magnitude):
    _check("decimation", frames, lambda d: hc.decimation(d, magnitude), magnitude=magnitude)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_hole_filling_equals_sdk(frames, mode):
    _check("hole_filling", frames, lambda d: hc.hole_filling(d, mode), mode=mode)


@pytest.mark.parametrize("holes_fill", range(6))
def test_spatial_hole_fill_settings_equal_sdk(frames, holes_fill):
    _check("spatial", frames, lambda d: hc.spatial(d, holes_fill=holes_fill),
           holes_fill=holes_fill)


@pytest.mark.parametrize("magnitude,alpha,delta", [(1, 0.25, 1), (3, 0.37, 7), (4, 0.5, 50),
                                                   (5, 1.0, 20)])
def test_spatial_options_equal_sdk(frames, magnitude, alpha, delta):
    small = frames[:3]
    for holes_fill in (0, 3):
        _check("spatial", small,
               lambda d: hc.spatial(d, magnitude, alpha, delta, holes_fill),
               magnitude=magnitude, alpha=alpha, delta=delta, holes_fill=holes_fill)


# ------------------------------------------------------------------ batch, wrappers, errors
def test_batch_equals_single_images(face_frames):
    batch = np.stack(face_frames)
    for fn in (lambda d: hc.decimation(d, 3), lambda d: hc.hole_filling(d, 2),
               lambda d: hc.spatial(d, holes_fill=4)):
        out = fn(batch)
        for i, img in enumerate(face_frames):
            np.testing.assert_array_equal(out[i], fn(img))


def test_paper_enhancers(face_frames):
    batch = np.stack(face_frames)
    assert sorted(hc.PAPER_ENHANCERS) == sorted(
        ["De-M2", "De-M8", "Hf-FFA", "Hf-NFA", "Hf-L", "Sp-Hf16", "Sp-HfU"])
    for name, fn in hc.PAPER_ENHANCERS.items():
        out = fn(batch)
        assert out.shape == batch.shape and out.dtype == U16, name
    holes_in = (batch == 0).mean()
    assert (hc.PAPER_ENHANCERS["Sp-HfU"](batch) == 0).mean() < holes_in
    # De-M8: decimate to 32x32 then bilinear: a constant image stays constant
    const = np.full((1, 256, 256), 700, U16)
    np.testing.assert_array_equal(hc.PAPER_ENHANCERS["De-M8"](const), const)
    np.testing.assert_array_equal(hc.PAPER_ENHANCERS["Hf-L"](batch), hc.hole_filling(batch, 0))


def test_hole_conventions():
    paper = np.array([[65535, 10], [0, 65534]], U16)
    sdk_img = hc.paper_holes_to_sdk(paper)
    np.testing.assert_array_equal(sdk_img, [[0, 10], [0, 65534]])
    np.testing.assert_array_equal(hc.sdk_holes_to_paper(sdk_img), [[65535, 10], [65535, 65534]])


def test_bad_input_errors():
    with pytest.raises(TypeError, match="uint16.*float32.*np.round"):
        hc.spatial(np.zeros((8, 8), np.float32))
    float_depth = np.full((16, 16), 600.5)                      # float64 millimetres
    for fn in (lambda d: hc.decimation(d, 2), lambda d: hc.hole_filling(d, 0),
               hc.PAPER_ENHANCERS["De-M8"], hc.PAPER_ENHANCERS["Sp-HfU"]):
        with pytest.raises(TypeError, match="uint16.*float64"):
            fn(float_depth)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(N, H, W\).*\(2, 2, 2, 2\)"):
        hc.hole_filling(np.zeros((2, 2, 2, 2), U16))
    with pytest.raises(ValueError, match="decimation magnitude.*\\[1, 8\\]"):
        hc.decimation(np.zeros((8, 8), U16), 9)
    with pytest.raises(ValueError, match="hole_filling mode"):
        hc.hole_filling(np.zeros((8, 8), U16), 3)
    with pytest.raises(ValueError, match="alpha"):
        hc.spatial(np.zeros((8, 8), U16), alpha=0.1)
    with pytest.raises(ValueError, match="too small"):
        hc.decimation(np.zeros((3, 3), U16), 4)
    # an all-hole image is valid SDK input: the filters leave it empty
    empty = np.zeros((16, 16), U16)
    for fn in hc.PAPER_ENHANCERS.values():
        assert not fn(empty).any()


# ------------------------------------------------------- the paper's input convention (issue 18)
def test_paper_codes_shift_round_trip_by_hand():
    codes = np.array([[65535, 0, 5, 65533, 65534]], U16)
    # holes -> 0; valid + 2 saturated at 65535 (65533 and 65534 both reach it)
    np.testing.assert_array_equal(hc.paper_codes_to_sdk(codes), [[0, 2, 7, 65535, 65535]])
    # back: 0 -> 65535, v -> v - 2 clipped to 0 .. 65534 (1, next to a hole, -> 0)
    np.testing.assert_array_equal(hc.sdk_to_paper_codes(np.array([[0, 1, 2, 7, 65535]], U16)),
                                  [[65535, 0, 0, 5, 65533]])


def test_spatial_delta_20_means_codes_by_default_millimetres_as_option():
    """Sp-Hf16 (SDK defaults: 2 iterations, alpha 0.5, delta 20) on two equal rows, so the
    vertical passes keep them (a blend of equal values v is int(v + 0.5) = v).

    Millimetres [600, 610, 620] (10 mm steps <= delta 20): iteration 1, left to right (column
    1 only): int(0.5*610 + 0.5*600 + 0.5) = 605; right to left: column 1 int(0.5*605 +
    0.5*620 + 0.5) = 613, column 0 int(0.5*600 + 0.5*613 + 0.5) = 607. Iteration 2: column 1
    int(0.5*613 + 0.5*607 + 0.5) = 610, then int(0.5*610 + 0.5*620 + 0.5) = 615, column 0
    int(0.5*607 + 0.5*615 + 0.5) = 611 -> [611, 615, 620].

    The same face in the paper's codes over a 250 mm window from 600 mm: 10 mm = 2621.4 codes,
    [0, 2621, 5243] (+2 inside: [2, 2623, 5245]): every step is far above delta 20, so the
    filter preserves them as edges and the output equals the input. Codes 10 apart, [100, 110,
    120], are smoothed exactly like the millimetres: [111, 115, 120] (the shift cancels)."""
    mm = np.array([[600, 610, 620]] * 2, U16)
    np.testing.assert_array_equal(hc.paper_enhancer("Sp-Hf16", "millimetres")(mm),
                                  [[611, 615, 620]] * 2)
    hole_row = [[65535] * 3]
    codes = np.array([[0, 2621, 5243]] * 2 + hole_row, U16)
    assert round(10 / 250 * 65535) == 2621 and round(20 / 250 * 65535) == 5243
    out = hc.paper_enhancer("Sp-Hf16")(codes)                    # the default: paper codes
    np.testing.assert_array_equal(out[:2], codes[:2])
    near = np.array([[100, 110, 120]] * 2 + hole_row, U16)
    np.testing.assert_array_equal(hc.paper_enhancer("Sp-Hf16")(near)[:2], [[111, 115, 120]] * 2)
    # the hole row stays holes (65535) in the paper's convention
    np.testing.assert_array_equal(hc.paper_enhancer("Sp-Hf16")(near)[2], [65535] * 3)


def test_paper_enhancer_holes_in_and_out_are_65535():
    codes = np.array([[300, 65535, 65535, 340],
                      [300, 65535, 65535, 340],
                      [300, 65535, 65535, 340]], U16)
    # Hf-L fills from the left: 300 + 2 inside, - 2 outside
    np.testing.assert_array_equal(hc.paper_enhancer("Hf-L")(codes),
                                  [[300, 300, 300, 340]] * 3)
    # every Table II label runs in both conventions and keeps the shape and dtype
    codes = np.tile(codes, (3, 2))                              # 9 x 8: De-M8 needs 8 x 8
    mm = hc.paper_holes_to_sdk(codes)
    for label in hc.PAPER_ENHANCERS:
        for conv, x in (("paper_codes", codes), ("millimetres", mm)):
            out = hc.paper_enhancer(label, conv)(x)
            assert out.shape == x.shape and out.dtype == U16, (label, conv)


def test_wrong_hole_convention_is_refused_by_name():
    mm = np.full((8, 8), 600, U16)
    mm[:, :2] = 0                                                 # 25 % holes at 0, no 65535
    with pytest.raises(ValueError, match=r"paper_codes_to_sdk: image\(s\) \[0\].*25\.0 %.*"
                                         r"0 = hole depth where 65535 = hole") as e:
        hc.paper_enhancer("Sp-HfU")(mm)
    assert "convention='millimetres'" in str(e.value)
    # batches name the offending images
    batch = np.stack([hc.sdk_holes_to_paper(mm), mm, mm])
    with pytest.raises(ValueError, match=r"image\(s\) \[1, 2\]"):
        hc.paper_enhancer("Hf-FFA")(batch)
    # the window's nearest code 0 on a few pixels is fine; allow_zero_code accepts more
    ok = np.full((16, 16), 600, U16)
    ok[0, 0] = 0                                                  # 1 of 256 = 0.4 % < 1 %
    assert hc.paper_enhancer("Hf-L")(ok).shape == (16, 16)
    ok[0, :3] = 0                                                 # 3 of 256 = 1.2 % >= 1 %
    with pytest.raises(ValueError, match=r"1\.2 %"):
        hc.paper_enhancer("Hf-L")(ok)
    assert hc.paper_enhancer("Hf-L", allow_zero_code=True)(mm).shape == (8, 8)
    # the other direction: 65535 holes fed where 0 = hole (millimetres) is expected
    with pytest.raises(ValueError, match=r"handcrafted.decimate_and_upscale: depth holds 16 "
                                         r"pixel\(s\) at 65535.*paper_enhancer"):
        hc.paper_enhancer("De-M8", "millimetres")(batch[0][None].repeat(1, 0))
    with pytest.raises(ValueError, match="unknown input convention 'mm'"):
        hc.paper_enhancer("Sp-HfU", "mm")
    with pytest.raises(ValueError, match="unknown Table II enhancer 'Sp-X'"):
        hc.paper_enhancer("Sp-X")


@pytest.fixture(scope="module")
def code_frames(face_frames):
    """The degraded faces as the paper's codes: 250 mm window from each image's nearest valid
    pixel, valid round(x * 65535) capped at 65534, holes 65535 (section IV-J)."""
    out = []
    for mm in face_frames:
        d = mm.astype(np.float64)
        near = d[mm > 0].min()
        code = np.clip(np.round((d - near) / 250.0 * 65535), 0, 65534)
        out.append(np.where(mm > 0, code, 65535).astype(U16))
    assert all((c == 0).any() and (c == 65535).any() for c in out)
    return out


@pytest.mark.parametrize("label,name,options", [
    ("Hf-FFA", "hole_filling", {"mode": 1}), ("Hf-NFA", "hole_filling", {"mode": 2}),
    ("Hf-L", "hole_filling", {"mode": 0}), ("Sp-Hf16", "spatial", {"holes_fill": 4}),
    ("Sp-HfU", "spatial", {"holes_fill": 5})])
def test_paper_enhancers_on_codes_equal_the_sdk_on_codes(code_frames, label, name, options):
    """Our Table II baseline on the paper's codes == pyrealsense2's filter fed the same
    shifted frame (codes up to 65535 reach the SDK)."""
    cam = sdk.SoftwareDepthCamera(256, 256)
    for codes in code_frames:
        want = sdk.apply_paper_codes(name, codes, cam, **options)
        np.testing.assert_array_equal(hc.paper_enhancer(label)(codes), want)


def test_decimation_on_codes_equals_the_sdk_on_codes(code_frames):
    cam = sdk.SoftwareDepthCamera(256, 256)
    for magnitude in (2, 8):
        for codes in code_frames:
            want = sdk.apply_paper_codes("decimation", codes, cam, magnitude=magnitude)
            got = hc.sdk_to_paper_codes(hc.decimation(hc.paper_codes_to_sdk(codes), magnitude,
                                                      allow_max_code=True))
            np.testing.assert_array_equal(got, want)
