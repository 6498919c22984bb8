"""Issue 19, "no silent wrong answers": one regression test per input that used to be accepted
and give a wrong number without a word (each fails on the code before the fix).

Readers (Middlebury), library functions (handcrafted filters, metrics, face measures) and
exported signatures (DSRNet, depth generator, face enhancer) either raise a clear error naming
the file / argument / signature input, or return a documented result.
"""

import os
import shutil

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from data_pipelines import middlebury
from depthlab import export, face_eval, handcrafted as hc, metrics

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "middlebury")
U16 = np.uint16


# ----------------------------------------------------------------------------------------
# 1. Middlebury reader
# ----------------------------------------------------------------------------------------

def _copy(name, tmp_path):
    src = os.path.join(FIXTURES, name)
    dst = tmp_path / os.path.basename(name)
    shutil.copytree(src, dst)
    return dst


def test_middlebury_0506_16bit_disparity_is_refused_naming_the_file(tmp_path):
    scene = _copy("2006/Tiny", tmp_path)
    disp8 = cv2.imread(str(scene / "disp1.png"), cv2.IMREAD_UNCHANGED)
    assert disp8.dtype == np.uint8
    good = middlebury.read_scene(scene)                  # the 8-bit file still reads
    np.testing.assert_array_equal(np.nan_to_num(good.disparity), disp8.astype(np.float32))
    cv2.imwrite(str(scene / "disp1.png"), disp8.astype(U16) * 256)   # a 16-bit copy
    with pytest.raises(ValueError, match=r"disp1\.png: disparity PNG is 16-bit.*expected|"
                                         r"disp1\.png: disparity PNG is 16-bit.*8-bit") as e:
        middlebury.read_scene(scene)
    assert str(scene / "disp1.png") in str(e.value) and "8-bit" in str(e.value)
    with pytest.raises(ValueError, match="16-bit"):
        middlebury.read_all(tmp_path)


@pytest.mark.parametrize("edit, what", [
    (("baseline=50.0", "baseline=-50.0"), "baseline is -50.0"),
    (("baseline=50.0", "baseline=0"), "baseline is 0.0"),
    (("cam0=[100.0 0", "cam0=[-100.0 0"), "cam0 focal length"),
    (("cam0=[100.0 0", "cam0=[0 0"), "cam0 focal length"),
])
def test_middlebury_calib_with_non_positive_baseline_or_focal_is_refused(tmp_path, edit, what):
    scene = _copy("2014/Tiny-perfect", tmp_path)
    calib = scene / "calib.txt"
    text = calib.read_text()
    assert edit[0] in text
    calib.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ValueError, match="expected a finite value > 0") as e:
        middlebury.read_scene(scene)
    assert str(calib) in str(e.value) and what in str(e.value)


def test_middlebury_0506_calibration_arguments_must_be_positive():
    scene = os.path.join(FIXTURES, "2006", "Tiny")
    for kwargs, name in (({"baseline_mm": -160.0}, "baseline_mm"), ({"focal_px": 0.0}, "focal_px"),
                         ({"png_disparity_scale": float("nan")}, "png_disparity_scale")):
        with pytest.raises(ValueError, match=name):
            middlebury.read_scene_0506(scene, **kwargs)
    assert middlebury.read_scene_0506(scene).depth.max() > 0


# ----------------------------------------------------------------------------------------
# 2. DSRNet SavedModel
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dsr_export(tmp_path_factory):
    from depthlab.models.dsr_distill import build_dsrnet, dsr_config
    from depthlab.runners.dsr_distill import export_dsrnet

    net = build_dsrnet(dsr_config("demo", filters=8, n_blocks=1))
    net(np.ones((1, 8, 8, 1), np.float32))
    path = export_dsrnet(net, str(tmp_path_factory.mktemp("dsr") / "sm"))
    return tf.saved_model.load(path)


def _lr(value=None, where=(0, 3, 4, 0)):
    x = np.linspace(1.0, 2.0, 64, dtype=np.float32).reshape(1, 8, 8, 1)
    if value is not None:
        x[where] = value
    return x


@pytest.mark.parametrize("value, message", [
    (np.nan, "NaN or inf"), (np.inf, "NaN or inf"), (-1.0, "<= 0"), (0.0, "<= 0")])
def test_dsr_export_refuses_non_finite_and_non_positive_depth(dsr_export, value, message):
    serve = dsr_export.signatures["serving_default"]
    ok = serve(depth=tf.constant(_lr()))["depth"].numpy()
    assert ok.shape == (1, 32, 32, 1) and np.isfinite(ok).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match=message) as e:
        serve(depth=tf.constant(_lr(value)))
    assert "input depth" in str(e.value)


def test_dsr_export_empty_batch_is_empty_and_hole_mm_a_clear_error(dsr_export):
    # issue 19: any batch, N = 0 included (tests/test_export.py checks every signature)
    empty = dsr_export.signatures["serving_default"](depth=tf.zeros((0, 8, 8, 1)))["depth"]
    assert empty.shape == (0, 32, 32, 1) and empty.dtype == tf.float32
    serve16 = dsr_export.signatures["serve_uint16"]
    mm = np.full((1, 8, 8, 1), 1500, U16)
    assert serve16(depth_mm=tf.constant(mm))["depth_mm"].numpy().min() > 0
    mm[0, 2, 2, 0] = 0
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"input depth_mm holds a value <= 0"):
        serve16(depth_mm=tf.constant(mm))
    empty = serve16(depth_mm=tf.zeros((0, 8, 8, 1), tf.uint16))["depth_mm"]
    assert empty.shape == (0, 32, 32, 1) and empty.dtype == tf.uint16


# ----------------------------------------------------------------------------------------
# 3. handcrafted (RealSense SDK filters)
# ----------------------------------------------------------------------------------------

def _depth(h=12, w=10, seed=0):
    img = np.random.default_rng(seed).integers(300, 900, (h, w)).astype(U16)
    img[2:4, 3:6] = 0
    return img


FILTERS = {
    "decimation": lambda d, **k: hc.decimation(d, 2, **k),
    "hole_filling": lambda d, **k: hc.hole_filling(d, 1, **k),
    "spatial": lambda d, **k: hc.spatial(d, holes_fill=2, **k),
    "decimate_and_upscale": lambda d, **k: hc.decimate_and_upscale(d, 2, **k),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_handcrafted_hw3_depth_is_not_a_batch_of_h_images(name):
    fn = FILTERS[name]
    img = _depth()
    rgb_like = np.repeat(img[:, :, None], 3, axis=2)
    with pytest.raises(ValueError, match=r"looks like one channel-last image \(H, W, 3\)") as e:
        fn(rgb_like)
    assert f"handcrafted.{name}" in str(e.value)
    # the caller can say it is a batch of 12 images 10 x 3 (old reading, now explicit)
    batch = np.random.default_rng(1).integers(1, 900, (6, 12, 3)).astype(U16)
    if name not in ("decimation", "decimate_and_upscale"):
        out = fn(batch, layout="NHW")
        np.testing.assert_array_equal(out[2], fn(batch[2]))


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_handcrafted_hw1_gets_a_correct_message_or_the_hw1_layout(name):
    fn = FILTERS[name]
    img = _depth()
    with pytest.raises(ValueError, match=r"channel-last image \(H, W, 1\)") as e:
        fn(img[:, :, None])
    assert "too small" not in str(e.value)
    out = fn(img[:, :, None], layout="HW1")
    want = fn(img)
    assert out.shape == want.shape + (1,)
    np.testing.assert_array_equal(out[..., 0], want)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_handcrafted_65535_holes_fed_as_0_holes_are_detected(name):
    fn = FILTERS[name]
    img = _depth()
    paper = hc.sdk_holes_to_paper(img)
    with pytest.raises(ValueError, match=r"paper_holes_to_sdk") as e:
        fn(paper)
    assert "6 pixel(s) at 65535" in str(e.value)
    np.testing.assert_array_equal(fn(hc.paper_holes_to_sdk(paper)), fn(img))
    fn(paper, allow_max_code=True)                        # accepted when the caller says so


# ----------------------------------------------------------------------------------------
# 4. Metrics NaN policy
# ----------------------------------------------------------------------------------------

SCALAR_METRICS = {
    "rmse": metrics.rmse, "mae": metrics.mae, "abs_diff": metrics.abs_diff,
    "l1_norm": metrics.l1_norm, "l2_norm": metrics.l2_norm, "abs_rel": metrics.abs_rel,
    "log10_error": metrics.log10_error, "delta_accuracy": metrics.delta_accuracy,
    "psnr": lambda p, g, mask=None: metrics.psnr(p, g, 1.0, mask=mask),
    "ssim": lambda p, g, mask=None: metrics.ssim(p, g, 1.0),
}


@pytest.mark.parametrize("name", sorted(SCALAR_METRICS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_metrics_raise_on_non_finite_evaluated_pixels(name, bad):
    fn = SCALAR_METRICS[name]
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.2, 0.9, (16, 16))
    pred = gt + rng.normal(0, 0.01, gt.shape)
    assert np.isfinite(fn(pred, gt))
    p = pred.copy()
    p[3, 4] = bad
    p[7, 7] = bad
    with pytest.raises(ValueError, match=r"pred \(prediction\) holds 2 non-finite value"):
        fn(p, gt)
    g = gt.copy()
    g[5, 5] = bad
    mask = np.ones(gt.shape, bool)                # the mask selects the non-finite target
    with pytest.raises(ValueError, match=r"gt \(target\) holds 1 non-finite value"):
        fn(pred, g, mask=mask) if name != "ssim" else fn(pred, g)


def test_delta_accuracy_no_longer_counts_nan_as_a_miss_and_batch_metrics_agree():
    gt = np.full((4, 4), 0.5)
    pred = gt.copy()
    pred[0, 0] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        metrics.delta_accuracy(pred, gt)
    # outside the mask a NaN is not looked at
    mask = np.ones((4, 4), bool)
    mask[0, 0] = False
    assert metrics.delta_accuracy(pred, gt, mask=mask) == 1.0
    out = metrics.batch_depth_metrics(np.stack([pred, gt]), np.stack([gt, gt]))
    for key in metrics.BATCH_METRIC_KEYS:
        assert np.isnan(out[key][0].numpy()), key        # NaN everywhere, not a 15/16 delta
        assert np.isfinite(out[key][1].numpy()), key
    with pytest.raises(ValueError, match="image 0: rmse: pred"):
        metrics.mean_depth_metrics([pred, gt], [gt, gt])


def test_face_rmses_raise_on_non_finite_evaluated_pixels():
    gt = np.full((8, 8), 0.5)
    valid = np.ones((8, 8), bool)
    pred = gt.copy()
    pred[1, 1] = np.nan
    with pytest.raises(ValueError, match="face_area_rmse: pred holds 1 non-finite"):
        face_eval.face_area_rmse(pred, gt, valid)
    with pytest.raises(ValueError, match="falsification_rmse: output_depth holds 1 non-finite"):
        face_eval.falsification_rmse(gt, pred, valid, valid)


# ----------------------------------------------------------------------------------------
# 5. Exported generator / enhancer signatures
# ----------------------------------------------------------------------------------------

def _tiny_enhancer(size=32):
    inp = keras.Input((size, size, 1))
    out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inp)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def enhancer_export(tmp_path_factory):
    model = _tiny_enhancer()
    path = export.export_enhancer(model, str(tmp_path_factory.mktemp("enh") / "sm"))
    return model, tf.saved_model.load(path).signatures["serving_default"]


def test_enhancer_export_refuses_other_sizes_and_channels(enhancer_export):
    _, serve = enhancer_export
    ok = serve(depth_uint16=tf.constant(np.full((2, 32, 32, 1), 30000, U16)))
    assert ok["depth"].shape == (2, 32, 32, 1)
    for x, message in (
            (np.zeros((1, 16, 16, 1), U16), r"expected 32x32 images"),
            (np.zeros((1, 32, 32, 3), U16), r"expected 1 channel"),
            (np.zeros((32, 32, 1), U16), r"expected a 4-D batch"),
            (np.zeros((1, 0, 32, 1), U16), r"zero-size image")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message) as e:
            serve(depth_uint16=tf.constant(x))
        assert "input depth_uint16:" in str(e.value) and "got shape" in str(e.value)


def test_enhancer_export_all_hole_image_gives_documented_output_and_warning(enhancer_export,
                                                                           capfd):
    model, serve = enhancer_export
    x = np.full((2, 32, 32, 1), 65535, U16)
    x[1] = np.random.default_rng(0).integers(0, 65535, (32, 32, 1)).astype(U16)
    out = serve(depth_uint16=tf.constant(x))
    np.testing.assert_array_equal(out["depth_uint16"].numpy()[0], 65535)
    np.testing.assert_array_equal(out["depth"].numpy()[0], 1.0)
    want = model(x[1:].astype(np.float32) / 65535.0).numpy()
    np.testing.assert_allclose(out["depth"].numpy()[1:], want, atol=1e-6)
    err = capfd.readouterr().err
    assert "input depth_uint16: image(s) [0] are all holes" in err


@pytest.fixture(scope="module")
def generator_export(tmp_path_factory):
    from depthlab.configs import tsgan_config
    from depthlab.models.tsgan import build_generator

    gen = build_generator(tsgan_config("demo", image_size=32, gen_filters=8, gen_blocks=2))
    path = export.export_depth_generator(gen, str(tmp_path_factory.mktemp("gen") / "sm"), 32)
    return tf.saved_model.load(path).signatures["serving_default"]


def test_generator_export_wrong_channels_zero_size_are_named(generator_export):
    ok = generator_export(rgb=tf.zeros((2, 20, 24, 3), tf.uint8))
    assert ok["depth"].shape == (2, 20, 24, 1)          # the input's size (issue 20)
    for shape, message in (((1, 32, 32, 1), "expected 3 channel"),
                           ((1, 0, 32, 3), "zero-size image"), ((32, 32, 3), "expected a 4-D")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message) as e:
            generator_export(rgb=tf.zeros(shape, tf.uint8))
        assert "input rgb:" in str(e.value) and "got shape" in str(e.value)
