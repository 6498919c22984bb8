"""Per-effect tests of the procedural faces' camera stage (issue 20): white balance and
exposure, defocus, vignetting, sensor noise, JPEG, their composition (``apply_camera``) and
the per-image ranges ``sample_params`` draws them from (data_pipelines.synthetic_faces)."""
import dataclasses
import math

import numpy as np
import pytest

from data_pipelines import synthetic_faces as sf


# ----------------------------------------------------------------- exposure, white balance
def test_exposure_and_white_balance_scale_linear_rgb_then_display_gamma():
    lin = np.array([[0.2, 0.3, 0.4]])
    out = sf.apply_exposure_white_balance(lin, 1.1, (1.05, 1.0, 0.9))
    # By hand: 0.2 x 1.1 x 1.05 = 0.231, 0.3 x 1.1 x 1.0 = 0.33, 0.4 x 1.1 x 0.9 = 0.396, each
    # then raised to 1/2.2 (the gamma comes after the scaling, not before).
    expect = [math.pow(v, 1.0 / 2.2) for v in (0.231, 0.33, 0.396)]
    np.testing.assert_allclose(out[0], expect, rtol=1e-12)
    # Linear values scaled past 1 (or below 0) clip before the gamma.
    np.testing.assert_allclose(sf.apply_exposure_white_balance(
        np.array([0.9, -0.1, 0.5]), 1.3, (1.0, 1.0, 1.0)), [1.0, 0.0, math.pow(0.65, 1 / 2.2)],
        rtol=1e-12)


def test_display_white_balance_equals_linearise_scale_regamma():
    # The background is display RGB: scaling it by wb ** (1/2.2) must equal linearising it,
    # applying the linear white balance and the gamma again (values that do not clip).
    disp = np.linspace(0.05, 0.8, 12 * 3).reshape(12, 3)
    wb = (1.08, 1.0, 0.93)
    np.testing.assert_allclose(sf.white_balance_display(disp, wb),
                               sf.apply_exposure_white_balance(disp ** 2.2, 1.0, wb), rtol=1e-12)


# ----------------------------------------------------------------- defocus
@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.049])
def test_defocus_below_005_px_is_the_identity(sigma):
    img = np.random.default_rng(0).uniform(size=(9, 9, 3))
    assert sf.gaussian_blur(img, sigma) is img


def _impulse_response(sigma, size=41):
    img = np.zeros((size, size))
    img[size // 2, size // 2] = 1.0
    return sf.gaussian_blur(img, sigma), np.arange(size) - size // 2


@pytest.mark.parametrize("sigma", [1.0, 1.7, 2.5])
def test_defocus_kernel_is_an_isotropic_gaussian_of_variance_sigma_squared(sigma):
    k, d = _impulse_response(sigma)
    assert abs(k.sum() - 1.0) < 1e-9                         # brightness preserved
    # Second moments along each axis, and no cross term. A Gaussian sampled at the integers
    # has the continuous variance up to ~exp(-2 pi^2 sigma^2) (Poisson summation, < 1e-8 for
    # sigma >= 1); OpenCV's 4-sigma truncation removes ~1e-3 of it: tolerance 0.5 %.
    var_x, var_y = (k.sum(0) * d ** 2).sum(), (k.sum(1) * d ** 2).sum()
    cov = (k * d[:, None] * d[None, :]).sum()
    np.testing.assert_allclose([var_x, var_y], sigma ** 2, rtol=5e-3)
    assert abs(cov) < 1e-9 and abs((k.sum(0) * d).sum()) < 1e-9
    # Radially symmetric, Gaussian profile: k(0, j) / k(0, 0) = exp(-j^2 / (2 sigma^2)).
    c = len(d) // 2
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k[c, c + 3], k[c + 3, c], atol=1e-15)
    np.testing.assert_allclose(k[c, c + 1:c + 3] / k[c, c],
                               np.exp(-np.array([1.0, 4.0]) / (2 * sigma ** 2)), rtol=1e-6)


@pytest.mark.parametrize("sigma", [0.3, 0.6])
def test_small_defocus_is_the_sampled_gaussian(sigma):
    # Below ~1 px the sampled kernel's variance falls short of sigma^2 (0.085 sigma^2 at 0.3);
    # independently: the variance of exp(-j^2 / 2 sigma^2) over the integers j.
    k, d = _impulse_response(sigma)
    w = np.exp(-d.astype(np.float64) ** 2 / (2 * sigma ** 2))
    np.testing.assert_allclose((k.sum(0) * d ** 2).sum(), (w * d ** 2).sum() / w.sum(), rtol=1e-6)


# ----------------------------------------------------------------- vignetting
def test_vignette_gain_centre_corners_and_radial_symmetry():
    v = 0.3
    for h, w in ((64, 64), (48, 80)):
        assert sf.vignette_gain(h / 2, w / 2, h, w, v) == 1.0
        corners = sf.vignette_gain(np.array([0.0, 0.0, h, h]), np.array([0.0, w, 0.0, w]), h, w, v)
        np.testing.assert_allclose(corners, 1.0 - v, rtol=1e-12)
        # Radially symmetric: the same distance from the centre in any direction, the same gain
        # (the normaliser is the half diagonal, so 1 - v at that distance along any ray).
        half_diag = math.hypot(h, w) / 2
        ang = np.linspace(0.0, 2 * np.pi, 13)
        for rad, g in ((0.4 * half_diag, 1.0 - v * 0.16), (half_diag, 1.0 - v)):
            gain = sf.vignette_gain(h / 2 + rad * np.sin(ang), w / 2 + rad * np.cos(ang), h, w, v)
            np.testing.assert_allclose(gain, g, rtol=1e-12)


def test_vignette_at_hand_computed_pixels():
    img = np.ones((4, 4, 3))
    out = sf.apply_vignette(img, 0.2)
    # Pixel (0, 0) has its centre at (0.5, 0.5), the image centre is (2, 2): r^2 = 1.5^2 +
    # 1.5^2 = 4.5; half diagonal^2 = (4^2 + 4^2) / 4 = 8, so the gain is 1 - 0.2 x 4.5 / 8.
    np.testing.assert_allclose(out[0, 0], 0.8875, rtol=1e-12)
    # Pixel (1, 2): centre (1.5, 2.5), r^2 = 0.5, gain 1 - 0.2 x 0.5 / 8.
    np.testing.assert_allclose(out[1, 2], 0.9875, rtol=1e-12)
    np.testing.assert_allclose(out, out[::-1, ::-1], rtol=1e-12)        # point symmetric
    # Not square, 2 x 4: pixel (0, 0) at (0.5, 0.5), centre (1, 2): r^2 = 2.5, half diag^2 = 5.
    np.testing.assert_allclose(sf.apply_vignette(np.ones((2, 4, 1)), 0.2)[0, 0], 0.9, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(H, W, C\).*\(4, 4\)"):
        sf.apply_vignette(np.ones((4, 4)), 0.2)


# ----------------------------------------------------------------- sensor noise
# 8-bit levels (read, shot) and the flat value I; I = 1.4 checks that the shot term uses I
# clipped to 1.
@pytest.mark.parametrize("read,shot,level", [(2.0, 0.0, 0.5), (0.0, 2.0, 0.8), (1.5, 3.0, 0.3),
                                             (1.0, 1.0, 1.4)])
def test_sensor_noise_std_and_mean_on_a_flat_image(read, shot, level):
    img = np.full((64, 64, 3), level)
    noise = sf.add_sensor_noise(img, read / 255.0, shot / 255.0, noise_seed=11) - img
    n = noise.size
    expect = math.sqrt((read / 255.0) ** 2 + shot / 255.0 * min(level, 1.0) * 4.0 / 255.0)
    # Gaussian samples: the sample std has relative standard error 1 / sqrt(2 (n - 1)) (0.64 %
    # for n = 12288) and the sample mean standard error std / sqrt(n); 4 standard errors each
    # (a 6e-5 chance per check of failing for a random seed; the seed here is fixed).
    se_rel = 1.0 / math.sqrt(2 * (n - 1))
    assert abs(noise.std() / expect - 1.0) < 4 * se_rel
    assert abs(noise.mean()) < 4 * expect / math.sqrt(n)
    # Independent from pixel to pixel: the lag-1 correlation along rows is ~N(0, 1/n).
    corr = np.mean(noise[:, 1:] * noise[:, :-1]) / noise.var()
    assert abs(corr) < 4 / math.sqrt(n)


def test_sensor_noise_seed_decides_the_draw():
    img = np.full((16, 16, 3), 0.4)
    a = sf.add_sensor_noise(img, 2 / 255, 1 / 255, noise_seed=5)
    np.testing.assert_array_equal(a, sf.add_sensor_noise(img, 2 / 255, 1 / 255, noise_seed=5))
    assert not np.array_equal(a, sf.add_sensor_noise(img, 2 / 255, 1 / 255, noise_seed=6))
    # Read noise alone: one standard-normal field x read_noise, whatever the image.
    other = np.full((16, 16, 3), 0.9)
    np.testing.assert_allclose(sf.add_sensor_noise(img, 2 / 255, 0.0, 5) - img,
                               sf.add_sensor_noise(other, 2 / 255, 0.0, 5) - other, atol=1e-15)


# ----------------------------------------------------------------- JPEG
def _checker(h=64, w=64, cell=4):
    """Grey 4-px checks, 40 / 200: OpenCV's JPEG keeps chroma at half resolution, so a
    coloured texture would carry a chroma error that no quality removes; grey has none."""
    yy, xx = np.mgrid[0:h, 0:w]
    grey = ((xx // cell + yy // cell) % 2) * 160 + 40
    return np.repeat(grey[..., None], 3, -1).astype(np.uint8)


def test_jpeg_error_falls_with_quality():
    img = _checker()
    rms = {}
    for q in (35, 55, 75, 95):
        out = sf.jpeg_roundtrip(img, q)
        assert out.dtype == np.uint8 and out.shape == img.shape
        rms[q] = np.sqrt(np.mean((out.astype(np.float64) - img) ** 2))
    # libjpeg's quantisation tables scale with 5000 / q (q < 50) or 200 - 2q: coarser steps,
    # larger error, on a texture with energy at many DCT frequencies (4 px checks).
    assert rms[35] > rms[55] > rms[75] > rms[95] > 0.0
    assert rms[95] < 0.25 * rms[35]
    odd = sf.jpeg_roundtrip(_checker(20, 28), 60)                 # not a multiple of 8 or 16
    assert odd.dtype == np.uint8 and odd.shape == (20, 28, 3)


@pytest.mark.parametrize("quality,tol", [(95, 2), (35, 5)])
def test_jpeg_keeps_a_flat_colour_and_the_channel_order(quality, tol):
    img = np.empty((24, 40, 3), np.uint8)
    img[:] = (100, 150, 200)
    out = sf.jpeg_roundtrip(img, quality)
    # A flat block has only its DC coefficient; its quantisation error is <= half the DC step
    # / 8 per Y, Cb, Cr (libjpeg DC steps 16 / 17 x scale: 2 / 2 at q95, 23 / 24 at q35), i.e.
    # <= 0.13 / 1.5 levels in Y and chroma; back in RGB (B = Y + 1.772 Cb) at most ~0.4 / 4.1,
    # plus about 1 level of colour-conversion rounding. Swapped R/B would be off by 100.
    assert np.abs(out.astype(int) - img).max() <= tol


def test_jpeg_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8 \\(H, W, 3\\).*float64"):
        sf.jpeg_roundtrip(np.zeros((8, 8, 3)), 90)
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        sf.jpeg_roundtrip(np.zeros((8, 8), np.uint8), 90)
    with pytest.raises(ValueError, match="quality.*150"):
        sf.jpeg_roundtrip(np.zeros((8, 8, 3), np.uint8), 150)


# ----------------------------------------------------------------- the chain
def test_apply_camera_composites_white_balanced_background_then_vignettes():
    s = 32
    sp = dataclasses.replace(
        sf.sample_params(0, 0, sf.FaceConfig(image_size=s)), background_defocus_px=0.0,
        defocus_px=0.0, vignette=0.3, read_noise=0.0, shot_noise=0.0, jpeg_quality=100,
        white_balance=(1.1, 1.0, 0.9))
    fg = np.zeros((s, s), bool)
    fg[:, s // 2:] = True
    face = np.broadcast_to([0.6, 0.5, 0.4], (s, s, 3))
    bg = np.broadcast_to([0.2, 0.3, 0.4], (s, s, 3))
    out = sf.apply_camera(face, fg, bg, sp).astype(np.float64)
    # Pixels (3, 3) (background) and (3, 28) (face), centres 12.5 px from the centre along
    # both axes: r^2 / half diag^2 = 2 x 12.5^2 / 512 = 0.6103515625, gain 1 - 0.3 x that. The
    # background carries wb ** (1/2.2), the face (white balanced upstream) does not.
    # Tolerance: JPEG at quality 100 with half-resolution chroma (~1-2 levels), 8-bit rounding.
    gain = 1.0 - 0.3 * 0.6103515625
    wb_disp = np.array([1.1, 1.0, 0.9]) ** (1 / 2.2)
    np.testing.assert_allclose(out[3, 3], 255 * gain * np.array([0.2, 0.3, 0.4]) * wb_disp,
                               atol=2.0)
    np.testing.assert_allclose(out[3, 28], 255 * gain * np.array([0.6, 0.5, 0.4]), atol=2.0)


# ----------------------------------------------------------------- sampled ranges
# The ranges the module docstring states (8-bit levels for the noise).
DOC_RANGES = {"exposure": (0.8, 1.3), "vignette": (0.0, 0.35), "defocus_px": (0.0, 0.6),
              "background_defocus_px": (0.3, 2.0)}
DOC_NOISE = {
    "source": {"read_noise": (0.5, 3.0), "shot_noise": (0.2, 2.0), "jpeg_quality": (55, 95)},
    "target": {"read_noise": (1.5, 5.0), "shot_noise": (0.5, 3.0), "jpeg_quality": (35, 85)}}


@pytest.mark.parametrize("domain", sf.DOMAINS)
def test_sample_params_camera_ranges_are_the_documented_ones(domain):
    cfg = sf.FaceConfig(image_size=64, domain=domain)
    draws = [sf.sample_params(i, k, cfg) for i in range(40) for k in range(5)]
    values = {name: np.array([getattr(sp, name) for sp in draws], np.float64)
              for name in list(DOC_RANGES) + list(DOC_NOISE[domain])}
    values["read_noise"] *= 255.0
    values["shot_noise"] *= 255.0
    for name, (lo, hi) in {**DOC_RANGES, **DOC_NOISE[domain]}.items():
        v = values[name]
        # Inside the range and covering it end to end (200 uniform draws leave a gap of 10 %
        # of the range at one end with probability 2 x 0.9^200 ~ 1e-9).
        assert lo <= v.min() < lo + 0.1 * (hi - lo), name
        assert hi - 0.1 * (hi - lo) < v.max() <= hi, name
    assert np.all(values["jpeg_quality"] == np.round(values["jpeg_quality"]))
    # White balance exp(N(0, 0.06)) per channel: log-gains with mean 0 and std 0.06 (600
    # values: 4 standard errors are 0.0098 for the mean and 11.5 % for the std).
    log_wb = np.log(np.array([sp.white_balance for sp in draws])).ravel()
    assert abs(log_wb.mean()) < 4 * 0.06 / math.sqrt(log_wb.size)
    assert abs(log_wb.std() / 0.06 - 1.0) < 4 / math.sqrt(2 * (log_wb.size - 1))


def test_defocus_scales_with_image_size_and_nothing_else_does():
    small, large = sf.FaceConfig(image_size=32), sf.FaceConfig(image_size=128)
    same = ("exposure", "white_balance", "vignette", "read_noise", "shot_noise", "jpeg_quality",
            "noise_seed", "background_seed")
    for i, k in ((0, 0), (3, 1), (7, 4)):
        a, b = sf.sample_params(i, k, small), sf.sample_params(i, k, large)
        # S / 64 = 0.5 and 2: the blur covers the same fraction of the image at any size.
        np.testing.assert_allclose(b.defocus_px, 4 * a.defocus_px, rtol=1e-12)
        np.testing.assert_allclose(b.background_defocus_px, 4 * a.background_defocus_px,
                                   rtol=1e-12)
        for name in same:
            assert getattr(a, name) == getattr(b, name), name
