"""depthlab.losses against hand-worked values (arithmetic written out in the comments)."""

import numpy as np
import pytest
import tensorflow as tf

from depthlab import losses


def _t(x, dtype=tf.float32):
    return tf.constant(np.asarray(x, np.float32), dtype=dtype)


# --------------------------------------------------------------------------- LSGAN

def test_lsgan_generator_loss_hand_worked():
    # (0.5-1)^2 + (1-1)^2 + (2-1)^2 + (-1-1)^2 = 0.25 + 0 + 1 + 4 = 5.25; / 4 = 1.3125
    scores = _t([[0.5, 1.0], [2.0, -1.0]])
    assert float(losses.lsgan_generator_loss(scores)) == pytest.approx(1.3125)


def test_lsgan_discriminator_loss_sums_both_terms_without_half():
    # real: (1.5-1)^2 = 0.25, (0.5-1)^2 = 0.25 -> mean 0.25
    # fake: 0.5^2 = 0.25, (-1)^2 = 1 -> mean 0.625; total 0.875 (no 1/2 factor)
    real, fake = _t([1.5, 0.5]), _t([0.5, -1.0])
    assert float(losses.lsgan_discriminator_loss(real, fake)) == pytest.approx(0.875)


def test_low_precision_inputs_are_reduced_in_float32():
    scores = _t([[0.5, 1.0], [2.0, -1.0]], tf.bfloat16)     # all exactly representable
    out = losses.lsgan_generator_loss(scores)
    assert out.dtype == tf.float32
    assert float(out) == pytest.approx(1.3125)
    out = losses.l1_loss(_t([1, 2], tf.float16), _t([0, 0], tf.float16))
    assert out.dtype == tf.float32 and float(out) == pytest.approx(1.5)


# --------------------------------------------------------------------------- L1 / L2

def test_l1_unmasked_hand_worked():
    # |1-1| + |2-0| + |3-5| + |4-4| = 0 + 2 + 2 + 0 = 4; / 4 = 1.0
    assert float(losses.l1_loss(_t([[1, 2], [3, 4]]), _t([[1, 0], [5, 4]]))) == pytest.approx(1.0)


def test_l1_mask_broadcast_counts_every_channel():
    # pred (1,2,2,3) with channels 1,2,3 everywhere, target 0; mask (1,2,2,1) selects one pixel.
    # valid elements after broadcasting: 1 pixel x 3 channels = 3; sum = 1 + 2 + 3 = 6 -> 2.0
    pred = tf.tile(_t([1, 2, 3])[None, None, None, :], [1, 2, 2, 1])
    target = tf.zeros_like(pred)
    mask = tf.constant([[[[True], [False]], [[False], [False]]]])
    assert float(losses.l1_loss(pred, target, mask)) == pytest.approx(2.0)
    # the float 0/1 mask gives the same number
    assert float(losses.l1_loss(pred, target, tf.cast(mask, tf.float32))) == pytest.approx(2.0)


def test_l1_all_invalid_mask_is_zero_with_zero_gradient():
    pred = tf.Variable(_t([[1.0, 2.0], [3.0, 4.0]]))
    mask = tf.zeros((2, 2), tf.bool)
    with tf.GradientTape() as tape:
        loss = losses.l1_loss(pred, tf.zeros((2, 2)), mask)
    grad = tape.gradient(loss, pred)
    assert float(loss) == 0.0
    np.testing.assert_array_equal(grad.numpy(), np.zeros((2, 2)))


def test_masked_out_nan_does_not_leak():
    # target NaN at the masked-out pixel; valid: |1-0| + |2-0| = 3 over 2 -> 1.5
    target = _t([[0.0, np.nan], [0.0, 0.0]])
    pred = _t([[1.0, 5.0], [2.0, 0.0]])
    mask = tf.constant([[True, False], [True, False]])
    assert float(losses.l1_loss(pred, target, mask)) == pytest.approx(1.5)


def test_l2_hand_worked_with_and_without_mask():
    # diffs 1, 2, 0, -2 -> squares 1, 4, 0, 4 -> 9 / 4 = 2.25; first row only: (1 + 4) / 2 = 2.5
    pred, target = _t([[1, 2], [3, 4]]), _t([[0, 0], [3, 6]])
    assert float(losses.l2_loss(pred, target)) == pytest.approx(2.25)
    mask = tf.constant([[True, True], [False, False]])
    assert float(losses.l2_loss(pred, target, mask)) == pytest.approx(2.5)
    assert float(losses.l2_loss(pred, target, tf.zeros((2, 2), tf.bool))) == 0.0


def test_paper_aliases_are_l1():
    a, b = _t([[0.0, 1.0]]), _t([[1.0, -1.0]])           # |.| = 1, 2 -> 1.5
    for fn in (losses.pixel_loss, losses.cycle_loss, losses.identity_loss):
        assert float(fn(a, b)) == pytest.approx(1.5)


def test_bad_mask_and_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match="broadcast"):
        losses.l1_loss(tf.zeros((1, 4, 4, 3)), tf.zeros((1, 4, 4, 3)), tf.ones((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="pred shape"):
        losses.l1_loss(tf.zeros((2, 2)), tf.zeros((3, 3)))


def test_masked_l1_under_tf_function():
    fn = tf.function(losses.l1_loss)
    pred = tf.ones((2, 4, 4, 3))
    mask = tf.concat([tf.ones((1, 4, 4, 1)), tf.zeros((1, 4, 4, 1))], axis=0)
    # image 0: all 48 elements valid with |1 - 0| = 1 -> mean 1.0
    assert float(fn(pred, tf.zeros_like(pred), mask)) == pytest.approx(1.0)


# --------------------------------------------------------------------------- berHu

def test_berhu_hand_worked():
    # x = [0.5, -1, 2, 5]; c = 0.2 * 5 = 1
    # B: 0.5 (<= c), 1 (= c, linear), (4 + 1) / 2 = 2.5, (25 + 1) / 2 = 13 -> sum 17, mean 4.25
    pred, target = _t([[0.5, -1.0], [2.0, 5.0]]), tf.zeros((2, 2))
    assert float(losses.berhu_loss(pred, target)) == pytest.approx(4.25)


def test_berhu_threshold_uses_valid_pixels_only():
    # mask drops the 5.0 pixel: c = 0.2 * max(0.5, 1, 2) = 0.4, c^2 = 0.16, 2c = 0.8
    # B: (0.25 + 0.16) / 0.8 = 0.5125, (1 + 0.16) / 0.8 = 1.45, (4 + 0.16) / 0.8 = 5.2
    # mean over 3 valid = 7.1625 / 3 = 2.3875
    pred, target = _t([[0.5, -1.0], [2.0, 5.0]]), tf.zeros((2, 2))
    mask = tf.constant([[True, True], [True, False]])
    assert float(losses.berhu_loss(pred, target, mask)) == pytest.approx(2.3875)
    assert float(losses.berhu_loss(pred, target, tf.zeros((2, 2), tf.bool))) == 0.0


def test_berhu_continuous_at_c():
    # x = [x0, 10] -> c = 2; B(10) = (100 + 4) / 4 = 26; loss = (B(x0) + 26) / 2
    def loss(x0):
        return float(losses.berhu_loss(_t([x0, 10.0]), tf.zeros(2)))

    assert loss(2.0) == pytest.approx((2.0 + 26.0) / 2)
    delta = 1e-3
    # both one-sided limits approach B(c) = c = 2; |B(c+d) - B(c-d)| ~ 2d / 2 (the mean)
    assert abs(loss(2.0 + delta) - loss(2.0 - delta)) < 2 * delta
    assert loss(2.0 + delta) == pytest.approx(((2.001 ** 2 + 4) / 4 + 26) / 2, rel=1e-6)


def test_berhu_gradient_sign_inside_x_over_c_outside():
    # x = [0.5, -1.5, 3, -10]; c = 2 (constant); dB/dx = sign(x) inside, x / c outside:
    # [1, -1, 1.5, -5] / N (N = 4) = [0.25, -0.25, 0.375, -1.25]
    x = tf.Variable(_t([0.5, -1.5, 3.0, -10.0]))
    with tf.GradientTape() as tape:
        loss = losses.berhu_loss(x, tf.zeros(4))
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(grad, [0.25, -0.25, 0.375, -1.25], rtol=1e-6)


def test_berhu_perfect_prediction_is_zero_with_finite_gradient():
    x = tf.Variable(tf.ones((2, 3)))
    with tf.GradientTape() as tape:
        loss = losses.berhu_loss(x, tf.ones((2, 3)))
    grad = tape.gradient(loss, x).numpy()
    assert float(loss) == 0.0
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_berhu_rejects_bad_c_factor():
    with pytest.raises(ValueError, match="c_factor"):
        losses.berhu_loss(tf.zeros(2), tf.zeros(2), c_factor=0.0)


# --------------------------------------------------------------------------- FaceAreaLoss

def test_face_area_loss_averages_each_image_over_its_face_pixels():
    # image 0: target [0.2, 0.4, 1.0(hole), 0.6], pred [0.3, 0.4, 0.0, 0.2]
    #   face errors^2: 0.01, 0, 0.16 -> sum 0.17 / 3 = 0.056667; the hole's error (1.0) is ignored
    # image 1: every target pixel a hole -> 0 (not NaN)
    y = _t([[[0.2], [0.4], [1.0], [0.6]], [[1.0], [1.0], [1.0], [1.0]]])[:, :, None, :]
    p = _t([[[0.3], [0.4], [0.0], [0.2]], [[0.5], [0.5], [0.5], [0.5]]])[:, :, None, :]
    per_image = losses.FaceAreaLoss("mse", reduction=None)(y, p).numpy()
    np.testing.assert_allclose(per_image, [0.17 / 3, 0.0], rtol=1e-6)
    # l1: 0.1 + 0 + 0.4 = 0.5 / 3; Keras' default reduction averages the batch: (0.5/3 + 0) / 2
    assert float(losses.FaceAreaLoss("l1")(y, p)) == pytest.approx(0.5 / 3 / 2, rel=1e-6)


def test_face_area_loss_config_round_trip_and_bad_kind():
    import keras

    loss = losses.FaceAreaLoss("l1", hole_value=0.9)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert (again.kind, again.hole_value) == ("l1", 0.9)
    with pytest.raises(ValueError, match="kind"):
        losses.FaceAreaLoss("huber")


def test_hole_tolerant_mask_skips_only_holes_inside_the_subject():
    """A 9x9 image: a 5x5 subject (rows/cols 2-6) with a one-pixel hole at its centre and a
    notch on its edge; closing by 3x3 fills both, so the mask is 1 everywhere except those
    two holes (the background outside stays supervised). close_px 0: the valid mask itself."""
    from depthlab.losses import hole_tolerant_mask

    valid = np.zeros((1, 9, 9, 1), np.float32)
    valid[0, 2:7, 2:7] = 1.0
    valid[0, 4, 4] = 0.0          # a hole inside
    valid[0, 2, 4] = 0.0          # a notch on the top edge
    np.testing.assert_array_equal(hole_tolerant_mask(valid, 0).numpy(), valid)
    want = np.ones((1, 9, 9, 1), np.float32)
    want[0, 4, 4] = want[0, 2, 4] = 0.0
    np.testing.assert_array_equal(hole_tolerant_mask(valid, 3).numpy(), want)
    # a background gap wider than the square stays supervised: two blocks 4 px apart
    two = np.zeros((1, 9, 12, 1), np.float32)
    two[0, 2:7, 1:4] = two[0, 2:7, 8:11] = 1.0
    np.testing.assert_array_equal(hole_tolerant_mask(two, 3).numpy(), np.ones_like(two))


def test_mask_close_px_needs_the_masked_loss():
    from depthlab.configs import ConfigError, tsgan_config

    assert all(tsgan_config(p).mask_close_px == 0 for p in ("code", "paper", "demo"))
    assert tsgan_config("demo", mask_close_px=7).mask_close_px == 7
    with pytest.raises(ConfigError, match="mask_close_px=3 needs mask_pixel_loss"):
        tsgan_config("code", mask_close_px=3)
    with pytest.raises(ConfigError, match="mask_close_px must be >= 0"):
        tsgan_config("demo", mask_close_px=-1)


# --------------------------------------------------------------------------- gradient L1

def _bump():
    """A 2 x 3 prediction with one 1 at row 0, column 1; the target is 0 everywhere."""
    pred = np.zeros((1, 2, 3, 1), np.float32)
    pred[0, 0, 1, 0] = 1.0
    return pred, np.zeros_like(pred)


def test_gradient_l1_hand_worked():
    pred, target = _bump()
    # horizontal differences: row 0: |1-0|, |0-1| = 1, 1; row 1: 0, 0  -> 2 over 4 pairs
    # vertical differences: columns 0, 1, 2: 0, |0-1| = 1, 0          -> 1 over 3 pairs
    # (1 + 1 + 0 + 0 + 0 + 1 + 0) / 7 = 3 / 7
    assert float(losses.gradient_l1_loss(_t(pred), _t(target))) == pytest.approx(3 / 7)


def test_gradient_l1_counts_only_pairs_with_both_pixels_valid():
    pred, target = _bump()
    mask = np.ones_like(pred)
    mask[0, 0, 2, 0] = 0.0            # row 0, column 2 invalid
    # horizontal: row 0 keeps (0,1) -> 1, drops (1,2); row 1 keeps two 0s -> 1 over 3 pairs
    # vertical: column 2's pair dropped; columns 0, 1 -> 0 + 1 over 2 pairs; (1 + 1) / 5
    loss = losses.gradient_l1_loss(_t(pred), _t(target), _t(mask))
    assert float(loss) == pytest.approx(2 / 5)
    # an offset between prediction and target has no gradient: the loss ignores it
    assert float(losses.gradient_l1_loss(_t(pred + 5.0), _t(target), _t(mask))) == \
        pytest.approx(2 / 5)


def test_gradient_l1_second_scale_hand_worked():
    # 4 x 4 prediction = a 2 x 2 block pattern [[0, 2], [0, 0]] of 2 x 2 blocks; target 0.
    pred = np.zeros((1, 4, 4, 1), np.float32)
    pred[0, :2, 2:, 0] = 2.0
    # scale 1: horizontal pairs across column 1|2 in rows 0-1: |2| twice -> 4 over 12 pairs;
    # vertical pairs across row 1|2 in columns 2-3: |2| twice -> 4 over 12 pairs: 8 / 24 = 1/3
    # scale 2 (2 x 2 means): [[0, 2], [0, 0]]: horizontal row 0: 2, row 1: 0; vertical column
    # 0: 0, column 1: 2 -> 4 / 4 = 1. Mean of the scales: (1/3 + 1) / 2 = 2/3
    one = losses.gradient_l1_loss(_t(pred), _t(np.zeros_like(pred)))
    two = losses.gradient_l1_loss(_t(pred), _t(np.zeros_like(pred)), scales=2)
    assert float(one) == pytest.approx(1 / 3)
    assert float(two) == pytest.approx(2 / 3)
    # a pooled pixel is valid only when its four pixels are: one hole in the top-right block
    # drops that block at scale 2 (no pair left there but the bottom-left one: 0 over 2 pairs)
    mask = np.ones_like(pred)
    mask[0, 0, 3, 0] = 0.0
    masked = losses.gradient_l1_loss(_t(pred), _t(np.zeros_like(pred)), _t(mask), scales=2)
    # scale 1: horizontal drops (0,2)-(0,3) (a 0 difference), vertical drops (0,3)-(1,3) (0):
    # 4 / 11 + 4 / 11 -> 8 / 22; scale 2: 0 over 2 pairs -> 0
    assert float(masked) == pytest.approx((8 / 22 + 0.0) / 2)


def test_gradient_l1_rejects_bad_scales_and_shapes():
    pred, target = _bump()
    with pytest.raises(ValueError, match="scales must be >= 1"):
        losses.gradient_l1_loss(_t(pred), _t(target), scales=0)
    with pytest.raises(ValueError, match="gradient_l1_loss"):
        losses.gradient_l1_loss(_t(pred), _t(target[:, :1]))


def test_heatmap_loss_foreground_weight_hand_worked():
    """heatmap_loss: target heights h = (t + 1) / 2 = (0, 1, 0.5), pred errors^2 (1, 0.25, 0.04);
    weight 3 -> w = (1, 4, 2.5): (1 + 1 + 0.1) / 7.5 = 0.28; weight 0 is the plain mean 1.29 / 3."""
    target = tf.constant([-1.0, 1.0, 0.0], shape=(1, 1, 3, 1))
    pred = tf.constant([0.0, 0.5, 0.2], shape=(1, 1, 3, 1))
    assert float(losses.heatmap_loss(pred, target, 3.0)) == pytest.approx(2.1 / 7.5)
    assert float(losses.heatmap_loss(pred, target)) == pytest.approx(1.29 / 3.0)
    assert float(losses.heatmap_loss(pred, target, 0.0)) == pytest.approx(1.29 / 3.0)
    with pytest.raises(ValueError, match="foreground_weight"):
        losses.heatmap_loss(pred, target, -1.0)
