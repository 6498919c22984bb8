"""depthlab.metrics against hand-worked values, closed forms and reference libraries."""

import logging
import math

import numpy as np
import pytest
import tensorflow as tf
import keras

from depthlab import metrics

# One 2x2 example used throughout. gt = 0 at (1, 1) is a hole, so the default mask keeps 3
# pixels; pred there (7) must be ignored.
#   pixel   gt   pred   diff   |diff|/gt   ratio max(p/g, g/p)
#   (0,0)   1    1.1    0.1    0.1         1.1
#   (0,1)   2    3      1      0.5         1.5
#   (1,0)   4    8      4      1.0         2.0
GT = np.array([[1.0, 2.0], [4.0, 0.0]])
PRED = np.array([[1.1, 3.0], [8.0, 7.0]])


def test_hand_worked_depth_errors():
    # squares 0.01 + 1 + 16 = 17.01; abs 0.1 + 1 + 4 = 5.1
    assert metrics.rmse(PRED, GT) == pytest.approx(math.sqrt(17.01 / 3))
    assert metrics.mae(PRED, GT) == pytest.approx(5.1 / 3)
    assert metrics.abs_diff(PRED, GT) == pytest.approx(5.1 / 3)
    assert metrics.l1_norm(PRED, GT) == pytest.approx(5.1)
    assert metrics.l2_norm(PRED, GT) == pytest.approx(math.sqrt(17.01))
    # (0.1 + 0.5 + 1.0) / 3
    assert metrics.abs_rel(PRED, GT) == pytest.approx(1.6 / 3)
    # (log10 1.1 + log10 1.5 + log10 2) / 3 = log10(3.3) / 3
    assert metrics.log10_error(PRED, GT) == pytest.approx(math.log10(3.3) / 3)


def test_delta_thresholds_hand_worked_and_strict():
    # ratios 1.1, 1.5, 2.0
    assert metrics.delta_accuracy(PRED, GT) == pytest.approx(1 / 3)               # < 1.25
    assert metrics.delta_accuracy(PRED, GT, 1.25 ** 2) == pytest.approx(2 / 3)    # < 1.5625
    assert metrics.delta_accuracy(PRED, GT, 1.25 ** 3) == pytest.approx(2 / 3)    # < 1.953125
    assert metrics.delta_accuracy(PRED, GT, 2.0) == pytest.approx(2 / 3)          # strict: 2.0 out
    assert metrics.delta_accuracy(PRED, GT, 2.01) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="threshold"):
        metrics.delta_accuracy(PRED, GT, 1.0)


def test_explicit_mask_and_input_forms():
    mask = np.array([[True, True], [False, False]])
    # (0.01 + 1) / 2
    assert metrics.rmse(PRED, GT, mask=mask) == pytest.approx(math.sqrt(1.01 / 2))
    # (H, W, 1) arrays and tensors give the same numbers
    assert metrics.rmse(PRED[..., None], GT[..., None]) == pytest.approx(metrics.rmse(PRED, GT))
    assert metrics.abs_rel(tf.constant(PRED, tf.float32), tf.constant(GT, tf.float32)) == \
        pytest.approx(1.6 / 3, rel=1e-6)
    assert isinstance(metrics.rmse(PRED, GT), float)


def test_non_positive_pred_is_clipped_for_log_and_ratio_metrics():
    gt, pred, mask = np.array([[1.0]]), np.array([[0.0]]), np.array([[True]])
    # pred clipped to EPS = 1e-6: |1e-6 - 1| / 1, |log10(1e-6) - 0| = 6, ratio 1e6 -> 0
    assert metrics.abs_rel(pred, gt, mask) == pytest.approx(1 - 1e-6)
    assert metrics.log10_error(pred, gt, mask) == pytest.approx(6.0)
    assert metrics.delta_accuracy(pred, gt, mask=mask) == 0.0
    assert metrics.log10_error(-np.ones((1, 1)), gt, mask) == pytest.approx(6.0)


def test_empty_mask_raises():
    with pytest.raises(ValueError, match="mask selects no pixels"):
        metrics.rmse(PRED, np.zeros((2, 2)))                        # default mask: no gt > 0
    for fn in (metrics.mae, metrics.abs_diff, metrics.l1_norm, metrics.l2_norm, metrics.abs_rel,
               metrics.log10_error, metrics.delta_accuracy):
        with pytest.raises(ValueError, match="mask selects no pixels"):
            fn(PRED, GT, mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="mask selects no pixels"):
        metrics.psnr(PRED, GT, 1.0, mask=np.zeros((2, 2), bool))


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(3, 3\)"):
        metrics.rmse(PRED, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\(2, 2, 3\)"):
        metrics.rmse(np.ones((2, 2, 3)), np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match="mask"):
        metrics.rmse(PRED, GT, mask=np.ones((3, 3), bool))


# --------------------------------------------------------------------------- PSNR / SSIM

def test_psnr_hand_worked_and_against_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    gt, pred = np.zeros((2, 2)), np.array([[0.1, 0.0], [0.0, 0.0]])
    # MSE = 0.01 / 4 = 0.0025; 10 log10(1 / 0.0025) = 10 log10(400)
    assert metrics.psnr(pred, gt, 1.0) == pytest.approx(10 * math.log10(400))
    assert metrics.psnr(gt, gt, 1.0) == float("inf")
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 255, (16, 20)), rng.uniform(0, 255, (16, 20))
    assert metrics.psnr(a, b, 255.0) == pytest.approx(
        peak_signal_noise_ratio(b, a, data_range=255.0), rel=1e-10)


def test_ssim_constant_images_hand_worked():
    # constant a = 0.5, b = 0.25: variances and covariance 0, so
    # SSIM = (2ab + C1) / (a^2 + b^2 + C1) * C2 / C2, C1 = (0.01 * 1)^2 = 1e-4
    #      = (0.25 + 1e-4) / (0.25 + 0.0625 + 1e-4) = 0.2501 / 0.3126
    a, b = np.full((16, 16), 0.5), np.full((16, 16), 0.25)
    assert metrics.ssim(a, b, 1.0) == pytest.approx(0.2501 / 0.3126)
    assert metrics.ssim(a, a, 1.0) == pytest.approx(1.0)


def test_ssim_matches_skimage_and_tf_image_ssim():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 1, (32, 40))
    pred = np.clip(gt + rng.normal(0, 0.1, gt.shape), 0, 1)
    ours = metrics.ssim(pred, gt, 1.0)
    sk = structural_similarity(pred, gt, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=1.0)
    tfv = float(tf.image.ssim(tf.constant(pred[..., None], tf.float32),
                              tf.constant(gt[..., None], tf.float32), max_val=1.0,
                              filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03))
    assert ours == pytest.approx(sk, abs=1e-9)          # both float64
    assert ours == pytest.approx(tfv, abs=1e-5)         # TF computes in float32
    assert 0.0 < ours < 1.0
    with pytest.raises(ValueError, match="smaller than the 11x11 window"):
        metrics.ssim(np.ones((8, 8)), np.ones((8, 8)), 1.0)


# --------------------------------------------------------------------------- batched

def _batch():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.2, 1.0, (3, 8, 8, 1)).astype(np.float32)
    gt[0, :2] = 0.0                       # holes
    gt[2] = 0.0                           # an image with no valid pixel
    pred = (gt + rng.normal(0, 0.15, gt.shape)).astype(np.float32)
    pred[1, 0, 0] = -0.3                  # clipped for the log/ratio metrics
    return pred, gt


def test_batch_metrics_equal_scalar_functions():
    pred, gt = _batch()
    out = metrics.batch_depth_metrics(tf.constant(pred), tf.constant(gt), tf.constant(gt > 0))
    assert set(metrics.BATCH_METRIC_KEYS) <= set(out)
    scalar = {"abs_diff": metrics.abs_diff, "l1": metrics.l1_norm, "l2": metrics.l2_norm,
              "rmse": metrics.rmse, "abs_rel": metrics.abs_rel, "log10": metrics.log10_error,
              "delta1": lambda p, g: metrics.delta_accuracy(p, g, 1.25),
              "delta2": lambda p, g: metrics.delta_accuracy(p, g, 1.25 ** 2),
              "delta3": lambda p, g: metrics.delta_accuracy(p, g, 1.25 ** 3)}
    for key, fn in scalar.items():
        values = out[key].numpy()
        assert values.shape == (3,) and out[key].dtype == tf.float32
        for i in (0, 1):
            assert values[i] == pytest.approx(fn(pred[i], gt[i]), rel=1e-5, abs=1e-6), key
        assert np.isnan(values[2]), key            # empty mask -> NaN
    np.testing.assert_array_equal(out["valid_pixels"].numpy(), [48, 64, 0])


def test_batch_metrics_under_tf_function_default_mask_low_precision():
    pred, gt = _batch()
    fn = tf.function(lambda p, g: metrics.batch_depth_metrics(p, g))
    out = fn(tf.constant(pred, tf.float16), tf.constant(gt[..., 0], tf.float16))
    assert out["rmse"].dtype == tf.float32 and out["rmse"].shape == (3,)
    p16 = pred.astype(np.float16).astype(np.float64)
    g16 = gt.astype(np.float16).astype(np.float64)
    assert float(out["rmse"][0]) == pytest.approx(metrics.rmse(p16[0], g16[0]), rel=1e-5)


# --------------------------------------------------------------------------- FID

def test_frechet_distance_identical_is_zero():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(50, 5))
    mu, sigma = metrics.activation_statistics(a)
    assert metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_diagonal_closed_form():
    # |mu1 - mu2|^2 = 1 + 4 = 5; sum(s1 + s2 - 2 sqrt(s1 s2)) = (1 + 4 - 4) + (4 + 9 - 12) = 2
    fd = metrics.frechet_distance([0, 1], np.diag([1.0, 4.0]), [1, 3], np.diag([4.0, 9.0]))
    assert fd == pytest.approx(7.0)


def test_frechet_distance_commuting_non_diagonal():
    # S1 = R diag(1, 4) R^T, S2 = R diag(9, 1) R^T share eigenvectors, so
    # tr sqrt(S1 S2) = sqrt(1 * 9) + sqrt(4 * 1) = 5; tr S1 = 5, tr S2 = 10 -> 5 + 10 - 10 = 5
    t = 0.3
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    s1, s2 = r @ np.diag([1.0, 4.0]) @ r.T, r @ np.diag([9.0, 1.0]) @ r.T
    assert metrics.frechet_distance([0, 0], s1, [0, 0], s2) == pytest.approx(5.0)


def test_frechet_distance_non_commuting_2x2_closed_form():
    # For 2x2, S1 S2 has eigenvalues l1, l2 >= 0 and tr sqrt(S1 S2) = sqrt(l1) + sqrt(l2)
    # = sqrt(tr(S1 S2) + 2 sqrt(det(S1 S2))).
    # S1 = [[2, 1], [1, 2]], S2 = diag(1, 4): S1 S2 = [[2, 4], [1, 8]], tr 10, det 12
    # FD = tr S1 + tr S2 - 2 sqrt(10 + 2 sqrt(12)) = 4 + 5 - 2 sqrt(10 + 4 sqrt(3))
    s1, s2 = np.array([[2.0, 1.0], [1.0, 2.0]]), np.diag([1.0, 4.0])
    expected = 9.0 - 2.0 * math.sqrt(10.0 + 4.0 * math.sqrt(3.0))
    assert metrics.frechet_distance([0, 0], s1, [0, 0], s2) == pytest.approx(expected, rel=1e-10)
    # and scipy's general matrix square root agrees
    from scipy import linalg

    covmean = linalg.sqrtm(s1 @ s2)
    assert 9.0 - 2.0 * np.trace(covmean).real == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_shape_error():
    with pytest.raises(ValueError, match="shapes"):
        metrics.frechet_distance([0, 0], np.eye(3), [0, 0], np.eye(2))


def test_activation_statistics_hand_worked():
    # rows (1, 2), (3, 6): mean (2, 4); deviations (-1, -2), (1, 2); with N - 1 = 1:
    # var x = 2, var y = 8, cov = 2 + 2 = 4
    mu, sigma = metrics.activation_statistics(np.array([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, [[2.0, 4.0], [4.0, 8.0]])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.activation_statistics(np.ones((1, 3)))


def test_fid_calculator_with_injected_extractor_1d_closed_form():
    # feature = image mean (1-D). real values {0.1, 0.3}: mean 0.2, sample var 0.02;
    # fake {0.5, 0.9}: mean 0.7, var 0.08. 1-D FD = (0.2-0.7)^2 + (sqrt(.02) - sqrt(.08))^2
    # = 0.25 + (sqrt(.02) - 2 sqrt(.02))^2 = 0.25 + 0.02 = 0.27
    def extractor(x):
        return tf.reduce_mean(x, axis=[1, 2, 3])[:, None]

    real = np.stack([np.full((4, 4, 3), v) for v in (0.1, 0.3)])
    fake = np.stack([np.full((4, 4, 3), v) for v in (0.5, 0.9)])
    fid = metrics.FIDCalculator(extractor, batch_size=1)
    assert fid.distance(real, fake) == pytest.approx(0.27, rel=1e-6)
    with pytest.raises(TypeError, match="callable"):
        metrics.FIDCalculator("not a function")


def test_load_fid_feature_extractor_missing_warns_and_returns_none(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert metrics.load_fid_feature_extractor(None) is None
        missing = str(tmp_path / "inception.keras")
        assert metrics.load_fid_feature_extractor(missing) is None
    text = caplog.text
    assert "FID skipped" in text and "Inception-v3" in text and missing in text


def test_load_fid_feature_extractor_keras_file(tmp_path):
    inp = keras.Input((8, 8, 3))
    out = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inp))
    model = keras.Model(inp, out)
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    extractor = metrics.load_fid_feature_extractor(path)
    images = np.random.default_rng(5).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    # the wrapper resizes to the model's 8x8 input and maps [0, 1] -> [-1, 1]
    expected = model(tf.image.resize(images, (8, 8)) * 2.0 - 1.0).numpy()
    np.testing.assert_allclose(np.asarray(extractor(images)), expected, rtol=1e-5, atol=1e-6)


def test_load_fid_feature_extractor_savedmodel(tmp_path):
    class Features(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 6, 6, 3], tf.float32)])
        def __call__(self, x):
            return {"pool": tf.reduce_mean(x, axis=[1, 2])}

    path = str(tmp_path / "features")
    module = Features()
    tf.saved_model.save(module, path, signatures=module.__call__)
    extractor = metrics.load_fid_feature_extractor(path)
    images = np.random.default_rng(6).uniform(0, 1, (3, 12, 12, 3)).astype(np.float32)
    expected = tf.reduce_mean(tf.image.resize(images, (6, 6)) * 2.0 - 1.0, axis=[1, 2]).numpy()
    np.testing.assert_allclose(np.asarray(extractor(images)), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not a SavedModel"):
        bad = tmp_path / "weights.bin"
        bad.write_bytes(b"x")
        metrics.load_fid_feature_extractor(str(bad))


# ----------------------------------------------------------------------------------------
# TS-GAN Table 1 on the paper's scale (issue 16, section 2)
# ----------------------------------------------------------------------------------------
# Hand-worked 2x2 example on [0, 1] depth (binary-exact values). gt = 0 at (0, 0) is
# background: used by every error metric, left out of delta (ratio undefined).
#   pixel   gt     pred    e = p - g   |e|     e^2        ratio max(p/g, g/p)
#   (0,0)   0      0.125   0.125       0.125   0.015625   -
#   (0,1)   0.5    0.625   0.125       0.125   0.015625   1.25 (not < 1.25: strict)
#   (1,0)   1      0.5     -0.5        0.5     0.25       2.0
#   (1,1)   0.25   0.25    0           0       0          1.0
PAPER_GT = np.array([[0.0, 0.5], [1.0, 0.25]])
PAPER_PRED = np.array([[0.125, 0.625], [0.5, 0.25]])


def test_paper_table1_hand_worked_single_image():
    # L1 norm: (0.125 + 0.125 + 0.5 + 0) / 4 = 0.1875 (a mean over all 4 pixels, not a sum)
    assert metrics.paper_l1_norm(PAPER_PRED, PAPER_GT) == pytest.approx(0.1875)
    # Abs. Diff.: |mean p - mean g| = |1.5/4 - 1.75/4| = 0.0625 (not the MAE 0.1875)
    assert metrics.paper_abs_diff(PAPER_PRED, PAPER_GT) == pytest.approx(0.0625)
    # RMSE: sqrt(0.28125 / 4)
    assert metrics.paper_rmse(PAPER_PRED, PAPER_GT) == pytest.approx(math.sqrt(0.0703125))
    # delta over the 3 pixels with gt > 0, in percent: ratios 1.25, 2.0, 1.0
    assert metrics.paper_delta(PAPER_PRED, PAPER_GT, 1.25) == pytest.approx(100 / 3)
    assert metrics.paper_delta(PAPER_PRED, PAPER_GT, 1.25 ** 2) == pytest.approx(200 / 3)
    assert metrics.paper_delta(PAPER_PRED, PAPER_GT, 1.25 ** 3) == pytest.approx(200 / 3)
    assert metrics.paper_delta(PAPER_PRED, PAPER_GT, 2.0001) == pytest.approx(100.0)
    # one image: pooled RMSE = its RMSE, so L2 norm = 255 * RMSE exactly
    assert metrics.paper_l2_norm([PAPER_PRED], [PAPER_GT]) == pytest.approx(
        255 * math.sqrt(0.0703125))


def test_paper_table1_pooled_l2_norm_over_two_images():
    """Second image exact (error 0): per-image RMSEs 0.265165 and 0; pooled over 8 pixels
    sqrt(0.28125 / 8) = 0.1875, so L2 norm = 255 * 0.1875 = 47.8125 while mean RMSE =
    0.132583: the ratio (360.6) is >= 255 (Jensen), = 255 only for equal per-image RMSEs."""
    preds = np.stack([PAPER_PRED, np.full((2, 2), 0.5)])[..., None]     # (2, 2, 2, 1)
    gts = np.stack([PAPER_GT, np.full((2, 2), 0.5)])[..., None]
    out = metrics.paper_table1_metrics(preds, gts)
    assert set(metrics.PAPER_TABLE1_KEYS) <= set(out)
    assert out["l2_norm"] == pytest.approx(47.8125)
    assert out["rmse"] == pytest.approx(math.sqrt(0.0703125) / 2)
    assert out["l1_norm"] == pytest.approx(0.1875 / 2)
    assert out["abs_diff"] == pytest.approx(0.0625 / 2)
    assert out["delta_1.25"] == pytest.approx((100 / 3 + 100) / 2)
    assert out["delta_1.25^2"] == pytest.approx((200 / 3 + 100) / 2)
    assert out["delta_1.25^3"] == pytest.approx((200 / 3 + 100) / 2)
    # [5]'s abs relative difference over gt > 0: (0.25 + 0.5 + 0) / 3, then 0 for image 2
    assert out["abs_rel"] == pytest.approx(0.25 / 2)
    assert out["num_images"] == 2 and out["num_pixels"] == 8
    # streaming in two batches gives the same numbers
    acc = metrics.PaperTable1Accumulator()
    acc.update(preds[:1], gts[:1])
    acc.update(tf.constant(preds[1:]), tf.constant(gts[1:]))
    assert acc.result() == pytest.approx(out)


def test_paper_table1_matches_independent_numpy_on_random_images():
    rng = np.random.default_rng(7)
    gts = rng.uniform(0, 1, (5, 16, 16))
    gts[gts < 0.3] = 0.0                                  # background
    preds = np.clip(gts + rng.normal(0, 0.2, gts.shape) + rng.normal(0, 0.1, (5, 1, 1)), 0, 1)
    out = metrics.paper_table1_metrics(preds, gts)
    e = preds - gts
    per_rmse = np.sqrt((e ** 2).mean(axis=(1, 2)))
    assert out["rmse"] == pytest.approx(per_rmse.mean())
    assert out["l1_norm"] == pytest.approx(np.abs(e).mean())
    bias = preds.mean(axis=(1, 2)) - gts.mean(axis=(1, 2))
    assert out["abs_diff"] == pytest.approx(np.abs(bias).mean())
    assert out["l2_norm"] == pytest.approx(255 * np.sqrt((e ** 2).mean()))
    for key, thr in (("delta_1.25", 1.25), ("delta_1.25^2", 1.5625), ("delta_1.25^3", 1.953125)):
        want = []
        for p, g in zip(preds, gts):
            v = g > 0
            with np.errstate(divide="ignore"):
                r = np.where(p[v] > 0, np.maximum(p[v] / g[v], g[v] / np.where(p[v] > 0, p[v], 1)),
                             np.inf)
            want.append(100 * np.mean(r < thr))
        assert out[key] == pytest.approx(np.mean(want)), key
    # Table 1's relations hold by construction
    assert out["l2_norm"] / out["rmse"] >= 255
    assert np.abs(e).min() <= out["l1_norm"] <= min(out["rmse"], np.abs(e).max())
    assert out["abs_diff"] <= out["l1_norm"]


def test_paper_delta_zero_depth_rules():
    gt = np.array([[0.0, 0.5], [0.5, 0.5]])
    # gt 0 pixel left out even where pred is 0 too; pred 0 (or < 0) on gt > 0 is a failure
    pred = np.array([[0.0, 0.0], [-0.5, 0.5]])
    assert metrics.paper_delta(pred, gt, 1.25) == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="no pixel > 0"):
        metrics.paper_delta(np.ones((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="threshold must be > 1"):
        metrics.paper_delta(pred, gt, 1.0)


def test_paper_table1_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        metrics.paper_rmse(np.array([[np.nan, 0.5]]), np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="image 1"):
        metrics.paper_table1_metrics(np.ones((2, 3, 3)), np.stack([np.ones((3, 3)),
                                                                   np.zeros((3, 3))]))
    with pytest.raises(ValueError, match="matching"):
        metrics.paper_table1_metrics(np.ones((2, 3, 3)), np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="no images"):
        metrics.PaperTable1Accumulator().result()
