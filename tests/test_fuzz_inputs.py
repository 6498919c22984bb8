"""Issue 19: a fuzz suite of generated bad inputs at every edge (Hypothesis).

Targets: the readers (``data_pipelines.image_io``, ``data_pipelines.middlebury``), the public
library functions (``depthlab.metrics``, ``depthlab.face_eval``, ``depthlab.handcrafted``, the
degradation entry points) and the exported signatures (depth generator, face enhancer,
DSRNet; tiny networks exported once per module).

The contract checked for every case: either a clear error of a documented type (ValueError,
TypeError, FileNotFoundError, tf.errors.InvalidArgumentError) whose message names the input
(the file, the argument or the signature input), or a documented, correct result (compared
with an independent reference). Any other exception, or a result that is not the documented
one, fails the test: never a raw unrelated traceback, never a silently wrong value.

Counts: every generated case increments ``COUNTS[target]``; each test asserts its target tried
at least ``MINIMUM[target]`` cases (their sum is >= 200) and prints the count (visible with
``-s``); ``test_zz_summary`` prints the table of this process. Examples are derandomised, so
the counts and cases are the same on every run.

The degradation stages refuse NaN/inf and negative depth and zero-size images in eager calls
(``test_degradation_refuses_bad_values_and_zero_sizes``).
"""

import collections
import itertools
import os
import shutil

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_pipelines import degradation as deg
from data_pipelines import image_io, middlebury
from depthlab import export, face_eval, handcrafted as hc, metrics

COUNTS = collections.Counter()
MINIMUM = {"metrics": 60, "batch_metrics": 10, "face_eval": 30, "handcrafted": 40, "degradation": 20,
           "image_io": 30, "middlebury": 30, "export_enhancer": 15, "export_generator": 10,
           "export_dsr": 15}
assert sum(MINIMUM.values()) >= 200

FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=True,
            suppress_health_check=list(HealthCheck))
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "middlebury")
_unique = itertools.count()


def _run(target, examples, strategy, check):
    """Runs ``check`` on ``examples`` generated cases, counting them under ``target``."""
    start = COUNTS[target]

    @settings(max_examples=examples, **FUZZ)
    @given(strategy)
    def inner(case):
        COUNTS[target] += 1
        check(case)

    inner()
    tried = COUNTS[target] - start
    print(f"\n[fuzz] {target}: {tried} generated bad inputs")
    assert tried >= MINIMUM[target], (target, tried)


def _expect(fn, types, *names):
    """``fn()`` must raise one of ``types`` with every string of ``names`` in the message (a
    tuple in ``names``: any one of its strings)."""
    try:
        fn()
    except types as e:
        msg = str(e)
        for name in names:
            alternatives = name if isinstance(name, tuple) else (name,)
            assert any(a in msg for a in alternatives), \
                f"error does not name {name!r}: {type(e).__name__}: {msg[:500]}"
        return e
    except Exception as e:          # a raw, undocumented error type is a failure
        raise AssertionError(f"undocumented error {type(e).__name__}: {str(e)[:500]}") from e
    raise AssertionError(f"no error; expected {types} naming {names}")


# ----------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------

METRIC_FNS = {
    "rmse": lambda p, g, m=None: metrics.rmse(p, g, m),
    "mae": lambda p, g, m=None: metrics.mae(p, g, m),
    "abs_rel": lambda p, g, m=None: metrics.abs_rel(p, g, m),
    "log10_error": lambda p, g, m=None: metrics.log10_error(p, g, m),
    "delta_accuracy": lambda p, g, m=None: metrics.delta_accuracy(p, g, 1.25, mask=m),
    "psnr": lambda p, g, m=None: metrics.psnr(p, g, 1.0, mask=m),
    "ssim": lambda p, g, m=None: metrics.ssim(p, g, 1.0),
    "l1_norm": lambda p, g, m=None: metrics.l1_norm(p, g, m),
}


def _reference(name, p, g, m):
    """Independent float64 formulas of the documented results (module docstring table)."""
    if m is None:
        m = np.ones(g.shape, bool) if name == "psnr" else (np.isfinite(g) & (g > 0))
    p, g = p[m].astype(np.float64), g[m].astype(np.float64)
    e = p - g
    pc, gc = np.maximum(p, metrics.EPS), np.maximum(g, metrics.EPS)
    return {"rmse": lambda: np.sqrt(np.mean(e * e)), "mae": lambda: np.mean(np.abs(e)),
            "abs_rel": lambda: np.mean(np.abs(pc - gc) / gc),
            "log10_error": lambda: np.mean(np.abs(np.log10(pc) - np.log10(gc))),
            "delta_accuracy": lambda: np.mean(np.maximum(pc / gc, gc / pc) < 1.25),
            "psnr": lambda: (np.inf if np.mean(e * e) == 0
                             else 10 * np.log10(1.0 / np.mean(e * e))),
            "l1_norm": lambda: np.sum(np.abs(e))}[name]()


@st.composite
def metric_cases(draw):
    name = draw(st.sampled_from(sorted(METRIC_FNS)))
    kind = draw(st.sampled_from(["nan_pred", "nan_gt_masked", "dtype", "rank", "shape_mismatch",
                                 "empty", "all_hole", "negative", "mask_shape", "scalar_arg"]))
    h = draw(st.integers(11, 14))
    w = draw(st.integers(11, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    gt = rng.uniform(0.1, 1.0, (h, w))
    pred = gt + rng.normal(0, 0.05, (h, w))
    count = draw(st.integers(1, 5))
    bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return name, kind, pred, gt, count, bad, rng, draw(st.integers(0, 5))


def _check_metric(case):
    name, kind, pred, gt, count, bad, rng, pick = case
    fn = METRIC_FNS[name]
    if kind == "nan_pred":
        idx = rng.choice(pred.size, count, replace=False)
        pred.flat[idx] = bad
        _expect(lambda: fn(pred, gt), ValueError, name, "pred (prediction)",
                f"holds {count} non-finite")
    elif kind == "nan_gt_masked":
        idx = rng.choice(gt.size, count, replace=False)
        gt.flat[idx] = bad
        mask = np.ones(gt.shape, bool)
        _expect(lambda: fn(pred, gt, mask) if name != "ssim" else fn(pred, gt), ValueError,
                name, "gt (target)", f"holds {count} non-finite")
    elif kind == "dtype":
        weird = [pred.astype(str), pred.astype(np.complex128), np.array(pred, dtype=object)][pick % 3]
        _expect(lambda: fn(weird, gt), TypeError, "pred", "dtype")
    elif kind == "rank":
        shapes = [(pred.size,), (2,) + pred.shape, pred.shape + (3,), (1, 1) + pred.shape]
        _expect(lambda: fn(pred.reshape(-1)[:1].repeat(int(np.prod(shapes[pick % 4])))
                           .reshape(shapes[pick % 4]), gt), ValueError, name, "shape")
    elif kind == "shape_mismatch":
        _expect(lambda: fn(pred[:-1], gt), ValueError, name, "shape")
    elif kind == "empty":
        z = np.zeros((0, gt.shape[1]))
        _expect(lambda: fn(z, z), ValueError, name)
    elif kind == "all_hole":                       # documented: default mask selects nothing
        zeros = np.zeros_like(gt)
        if name == "psnr":                         # psnr's default mask is every pixel
            assert fn(pred, zeros) == pytest.approx(_reference(name, pred, zeros, None))
        elif name == "ssim":
            assert -1.0 <= fn(pred, zeros) <= 1.0
        else:
            _expect(lambda: fn(pred, zeros), ValueError, name, "mask selects no pixels")
    elif kind == "negative":                       # documented: clipped to EPS / used as is
        pred = -np.abs(pred)
        got = fn(pred, gt)
        if name == "ssim":
            assert np.isfinite(got) and -1.0 <= got <= 1.0
        else:
            assert got == pytest.approx(_reference(name, pred, gt, None), rel=1e-9, abs=1e-12)
    elif kind == "mask_shape":
        if name == "ssim":
            _expect(lambda: metrics.ssim(pred, gt, 1.0, win_size=2 * pick + 2), ValueError,
                    "ssim: win_size")
        else:
            _expect(lambda: fn(pred, gt, np.ones((2, 2), bool)), ValueError, name, "mask")
    elif kind == "scalar_arg":
        value = [0.0, -1.0, np.nan, np.inf, "1", None][pick]
        if name in ("psnr", "ssim"):
            f = getattr(metrics, name)
            _expect(lambda: f(pred, gt, value), (ValueError, TypeError), f"{name}: max_val")
        else:
            thr = [1.0, 0.5, np.nan, np.inf, "1.25", None][pick]
            _expect(lambda: metrics.delta_accuracy(pred, gt, thr), (ValueError, TypeError),
                    "delta_accuracy: threshold")


def test_fuzz_metrics():
    _run("metrics", 70, metric_cases(), _check_metric)


def test_fuzz_batch_depth_metrics_nan_policy():
    """The graph version: an image with a non-finite evaluated value is NaN in every key."""
    def check(case):
        b, bad_i, bad, seed = case
        rng = np.random.default_rng(seed)
        gt = rng.uniform(0.5, 1.0, (b, 6, 7)).astype(np.float32)
        pred = (gt + rng.normal(0, 0.05, gt.shape)).astype(np.float32)
        pred[bad_i % b, rng.integers(6), rng.integers(7)] = bad
        out = metrics.batch_depth_metrics(pred, gt)
        for key in metrics.BATCH_METRIC_KEYS:
            v = out[key].numpy()
            assert np.isnan(v[bad_i % b]), key
            assert np.isfinite(np.delete(v, bad_i % b)).all(), key
    _run("batch_metrics", 10, st.tuples(st.integers(1, 3), st.integers(0, 2),
                                  st.sampled_from([np.nan, np.inf, -np.inf]),
                                  st.integers(0, 999)), check)


# ----------------------------------------------------------------------------------------
# face_eval
# ----------------------------------------------------------------------------------------

@st.composite
def face_cases(draw):
    kind = draw(st.sampled_from(["nan_pred", "nan_output", "mask_dtype", "depth_dtype",
                                 "shape", "empty_mask", "hole_args", "nan_is_hole", "empty"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    h, w = draw(st.integers(4, 9)), draw(st.integers(4, 9))
    return kind, rng, h, w, draw(st.integers(1, 4)), draw(st.sampled_from([np.nan, np.inf]))


def _check_face(case):
    kind, rng, h, w, count, bad = case
    gt = rng.uniform(0.2, 0.8, (h, w))
    pred = gt + rng.normal(0, 0.02, (h, w))
    valid = np.ones((h, w), bool)
    idx = rng.choice(h * w, count, replace=False)
    if kind == "nan_pred":
        pred.flat[idx] = bad
        _expect(lambda: face_eval.face_area_rmse(pred, gt, valid), ValueError,
                "face_area_rmse", "pred", f"holds {count} non-finite")
    elif kind == "nan_output":
        pred.flat[idx] = bad
        _expect(lambda: face_eval.falsification_rmse(gt, pred, valid, valid), ValueError,
                "falsification_rmse", "output_depth", f"holds {count} non-finite")
    elif kind == "mask_dtype":
        _expect(lambda: face_eval.face_area_rmse(pred, gt, valid.astype(np.uint8)), TypeError,
                "face_area_rmse", "gt_valid", "boolean")
    elif kind == "depth_dtype":
        _expect(lambda: face_eval.roughness(valid, valid, valid), TypeError, "roughness",
                "depth")
    elif kind == "shape":
        _expect(lambda: face_eval.falsification_rmse(gt, pred[:, :-1], valid, valid),
                ValueError, "falsification_rmse", "shape")
    elif kind == "empty_mask":
        _expect(lambda: face_eval.hole_percentage(gt, np.zeros((h, w), bool), hole_value=0),
                ValueError, "hole_percentage", "face_mask")
    elif kind == "hole_args":
        _expect(lambda: face_eval.hole_percentage(gt, valid), ValueError, "hole_percentage",
                "hole_value", "valid")
    elif kind == "nan_is_hole":                      # documented: non-finite depth is a hole
        gt.flat[idx] = bad
        got = face_eval.hole_percentage(gt, valid, hole_value=0.0)
        assert got == pytest.approx(count / (h * w))
    elif kind == "empty":
        _expect(lambda: face_eval.face_area_rmse(np.zeros((0, w)), np.zeros((0, w)),
                                                 np.zeros((0, w), bool)), ValueError,
                "face_area_rmse", "pred")


def test_fuzz_face_eval():
    _run("face_eval", 35, face_cases(), _check_face)


# ----------------------------------------------------------------------------------------
# handcrafted (RealSense SDK filters)
# ----------------------------------------------------------------------------------------

HC = {"decimation": lambda d, **k: hc.decimation(d, 2, **k),
      "hole_filling": lambda d, **k: hc.hole_filling(d, 1, **k),
      "spatial": lambda d, **k: hc.spatial(d, 1, 0.5, 20, 2, **k),
      "decimate_and_upscale": lambda d, **k: hc.decimate_and_upscale(d, 2, **k)}


@st.composite
def handcrafted_cases(draw):
    name = draw(st.sampled_from(sorted(HC)))
    kind = draw(st.sampled_from(["dtype", "channel_last", "rank", "paper_holes", "empty_batch",
                                 "zero_size", "all_hole", "bad_option", "layout"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    h, w = draw(st.integers(4, 9)), draw(st.integers(4, 9))
    return name, kind, rng, h, w, draw(st.integers(0, 5))


def _check_handcrafted(case):
    name, kind, rng, h, w, pick = case
    fn = HC[name]
    img = rng.integers(1, 5000, (h, w)).astype(np.uint16)
    where = f"handcrafted.{name}"
    if kind == "dtype":
        other = [np.float32, np.float64, np.int32, np.uint8, np.int64, bool][pick]
        _expect(lambda: fn(img.astype(other)), TypeError, where, "uint16", str(np.dtype(other)))
    elif kind == "channel_last":
        c = [1, 3, 4][pick % 3]
        _expect(lambda: fn(np.repeat(img[..., None], c, axis=2)), ValueError, where,
                f"(H, W, {c})", "layout=")
    elif kind == "rank":
        bad = [img.reshape(-1), img[None, None], np.uint16(7), img[None, None, None]][pick % 4]
        _expect(lambda: fn(np.asarray(bad)), ValueError, where, "shape")
    elif kind == "paper_holes":
        n = pick + 1
        img.flat[rng.choice(img.size, n, replace=False)] = 65535
        _expect(lambda: fn(img), ValueError, where, f"{n} pixel(s) at 65535",
                "paper_holes_to_sdk")
    elif kind == "empty_batch":
        _expect(lambda: fn(np.zeros((0, h, w), np.uint16)), ValueError, where, "empty batch")
    elif kind == "zero_size":
        shape = [(0, w), (h, 0), (2, 0, w), (1, 1)][pick % 4]
        _expect(lambda: fn(np.zeros(shape, np.uint16), layout="NHW" if len(shape) == 3
                           else None), ValueError, where)
    elif kind == "all_hole":                          # documented: all holes in, all holes out
        out = fn(np.zeros((h, w), np.uint16))
        assert out.dtype == np.uint16 and not out.any()
        if name != "decimation":
            assert out.shape == (h, w)
    elif kind == "bad_option":
        opts = {"decimation": lambda v: hc.decimation(img, v),
                "hole_filling": lambda v: hc.hole_filling(img, v),
                "spatial": lambda v: hc.spatial(img, alpha=v),
                "decimate_and_upscale": lambda v: hc.decimate_and_upscale(img, v)}[name]
        value = [0, 99, 2.5, float("nan"), None, "x"][pick]
        _expect(lambda: opts(value), ValueError, "must be")
    elif kind == "layout":
        value = ["HWC", "nhw", 3, "", "NCHW", "HW"][pick]
        _expect(lambda: fn(img, layout=value), ValueError, where, "layout")


def test_fuzz_handcrafted():
    _run("handcrafted", 45, handcrafted_cases(), _check_handcrafted)


# ----------------------------------------------------------------------------------------
# degradation entry points (documented contracts only; see test_degradation_known_gaps)
# ----------------------------------------------------------------------------------------

@st.composite
def degradation_cases(draw):
    kind = draw(st.sampled_from(["dtype", "rank", "kernel", "from_uint16", "to_uint16",
                                 "all_hole_normalise", "empty_batch", "hole_mask"]))
    return kind, draw(st.integers(0, 5)), draw(st.integers(3, 6))


def _check_degradation(case):
    kind, pick, n = case
    depth = np.full((n, n), 600.0, np.float32)
    if kind == "dtype":
        other = [np.int32, np.uint16, np.uint8, np.int64, bool, np.int16][pick]
        fn = [lambda d: deg.blur_valid(d, 3), lambda d: deg.add_noise(d, [1, 2]),
              lambda d: deg.degrade(d, [1, 2])][pick % 3]
        _expect(lambda: fn(depth.astype(other)), TypeError, "depth", "floating")
    elif kind == "rank":
        bad = [depth.reshape(-1), depth[None, None], depth[None, ..., None].repeat(3, -1)][pick % 3]
        _expect(lambda: deg.blur_valid(bad, 3), ValueError, "depth", "shape")
    elif kind == "kernel":
        k = [0, 2, -3, 4, 2.5, 6][pick]
        _expect(lambda: deg.blur_valid(depth, k), ValueError, "kernel_size")
    elif kind == "from_uint16":
        other = [np.float32, np.int32, np.uint8, np.int64, np.float64, np.int16][pick]
        _expect(lambda: deg.from_uint16(depth.astype(other)), TypeError, "from_uint16", "uint16")
    elif kind == "to_uint16":
        other = [np.int32, np.uint16, np.uint8, np.int64, np.int16, np.int32][pick]
        _expect(lambda: deg.to_uint16(depth.astype(other), depth > 0), TypeError, "to_uint16",
                "floating")
    elif kind == "all_hole_normalise":
        _expect(lambda: deg.normalize_face_depth(np.zeros((n, n), np.float32)), ValueError,
                "normalize_face_depth", "all-hole")
    elif kind == "empty_batch":                      # documented: outputs keep the input shape
        out = deg.blur_valid(np.zeros((0, n, n), np.float32), 3)
        assert tuple(out.shape) == (0, n, n)
    elif kind == "hole_mask":
        _expect(lambda: deg.to_paper_convention(depth, valid=(depth > 0).astype(np.int32)),
                TypeError, "to_paper_convention", "valid must be bool")


def test_fuzz_degradation():
    _run("degradation", 25, degradation_cases(), _check_degradation)


@pytest.mark.parametrize("case", ["nan_blur", "inf_noise", "negative_degrade", "zero_size"])
def test_degradation_refuses_bad_values_and_zero_sizes(case):
    """Formerly known gaps: NaN spread by the blur, inf kept by the noise, negative depth
    turned into holes, a raw StridedSlice error on a zero-size image."""
    d = np.full((8, 8), 600.0, np.float32)
    if case == "nan_blur":
        d[2, 2] = np.nan
        _expect(lambda: deg.blur_valid(d, 3), (ValueError, tf.errors.InvalidArgumentError),
                "depth")
    elif case == "inf_noise":
        d[2, 2] = np.inf
        _expect(lambda: deg.add_noise(d, [1, 2]), (ValueError, tf.errors.InvalidArgumentError),
                "depth")
    elif case == "negative_degrade":
        _expect(lambda: deg.degrade(-d, [1, 2]), (ValueError, tf.errors.InvalidArgumentError),
                "depth")
    else:
        _expect(lambda: deg.degrade(np.zeros((1, 0, 0), np.float32), [1, 2]), ValueError,
                "depth")


# ----------------------------------------------------------------------------------------
# image_io readers
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def io_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_io")


@st.composite
def image_io_cases(draw):
    kind = draw(st.sampled_from(["rgb_16bit", "depth_8bit_as_16", "depth_16bit_as_8",
                                 "colour_depth", "float_depth", "garbage", "empty_file",
                                 "missing", "grey_replicated", "xyz_garbage", "xyz_shape",
                                 "expected_bits"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return kind, rng, draw(st.integers(2, 9)), draw(st.integers(2, 9)), draw(st.integers(0, 5))


def _check_image_io(case, folder):
    kind, rng, h, w, pick = case
    path = str(folder / f"case{next(_unique)}.png")
    if kind == "rgb_16bit":
        cv2.imwrite(path, rng.integers(0, 65535, (h, w, 3)).astype(np.uint16))
        _expect(lambda: image_io.read_rgb(path), ValueError, path, "8-bit", "16-bit")
    elif kind == "depth_8bit_as_16":                  # mis-scaled bit depth
        cv2.imwrite(path, rng.integers(0, 255, (h, w)).astype(np.uint8))
        _expect(lambda: image_io.read_depth(path, 16), ValueError, path, "expected 16-bit",
                "8-bit")
    elif kind == "depth_16bit_as_8":
        cv2.imwrite(path, rng.integers(256, 65535, (h, w)).astype(np.uint16))
        _expect(lambda: image_io.read_depth(path, 8), ValueError, path, "expected 8-bit",
                "16-bit")
    elif kind == "colour_depth":
        img = rng.integers(0, 255, (h, w, 3)).astype(np.uint8)
        img[0, 0] = (1, 2, 3)
        cv2.imwrite(path, img)
        _expect(lambda: image_io.read_depth(path, None), ValueError, path, "channels that differ")
    elif kind == "float_depth":
        path = path[:-4] + ".tiff"
        cv2.imwrite(path, rng.uniform(0, 5, (h, w)).astype(np.float32))
        _expect(lambda: image_io.read_depth(path, None), ValueError, path, "float32")
    elif kind == "garbage":
        with open(path, "wb") as f:
            f.write(rng.integers(0, 256, 10 + pick * 20).astype(np.uint8).tobytes())
        _expect(lambda: [image_io.read_rgb, image_io.read_depth][pick % 2](path), ValueError,
                path, "cannot decode")
    elif kind == "empty_file":
        open(path, "wb").close()
        _expect(lambda: image_io.read_depth(path), ValueError, path, "empty file")
    elif kind == "missing":
        _expect(lambda: image_io.read_rgb(path), FileNotFoundError, path)
    elif kind == "grey_replicated":                   # documented: accepted, first channel
        d = rng.integers(1, 65535, (h, w)).astype(np.uint16)
        cv2.imwrite(path, np.repeat(d[..., None], 3, axis=2))
        np.testing.assert_array_equal(image_io.read_depth(path, 16), d)
    elif kind == "xyz_garbage":
        txt = path[:-4] + ".txt"
        text = ["1 2", "a b c", "1 2 3.5", "0 0 nan", "0 0 -5", "99 99 1"][pick]
        with open(txt, "w") as f:
            f.write(text + "\n")
        _expect(lambda: image_io.read_depth_xyz_txt(txt, (h, w)), ValueError, txt)
    elif kind == "xyz_shape":
        txt = path[:-4] + ".txt"
        with open(txt, "w") as f:
            f.write("0 0 5\n")
        shape = [(-1, w), (0, w), (h, 0), ("a", 2), (2.5, 3), (None, 1)][pick]
        _expect(lambda: image_io.read_depth_xyz_txt(txt, shape), ValueError, txt, "shape")
    elif kind == "expected_bits":
        cv2.imwrite(path, np.zeros((h, w), np.uint16))
        bits = [12, "16", True, 0, 32, 16.5][pick]
        _expect(lambda: image_io.read_depth(path, bits), ValueError, "expected_bits")


def test_fuzz_image_io(io_dir):
    _run("image_io", 40, image_io_cases(), lambda c: _check_image_io(c, io_dir))


# ----------------------------------------------------------------------------------------
# Middlebury reader
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_mb")


@st.composite
def middlebury_cases(draw):
    kind = draw(st.sampled_from(["disp_16bit", "disp_colour", "disp_garbage", "calib_baseline",
                                 "calib_focal", "calib_doffs", "calib_syntax", "dmin",
                                 "pfm_size", "kwargs"]))
    value = draw(st.sampled_from([0.0, -1.0, -160.0, float("nan"), float("inf"), -1e-9]))
    return kind, value, draw(st.integers(0, 2 ** 16)), draw(st.integers(0, 5))


def _check_middlebury(case, root):
    kind, value, seed, pick = case
    rng = np.random.default_rng(seed)
    folder = root / f"scene{next(_unique)}"
    if kind.startswith("disp") or kind in ("dmin", "kwargs"):
        shutil.copytree(os.path.join(FIXTURES, "2006", "Tiny"), folder)
        disp = folder / "disp1.png"
        if kind == "disp_16bit":                      # any 16-bit disparity, even small values
            top = [255, 256, 4000, 65535, 1, 300][pick]
            cv2.imwrite(str(disp), rng.integers(0, top + 1, (30, 44)).astype(np.uint16))
            _expect(lambda: middlebury.read_scene(folder), ValueError, str(disp), "16-bit",
                    "8-bit")
        elif kind == "disp_colour":
            img = rng.integers(1, 255, (30, 44, 3)).astype(np.uint8)
            img[0, 0] = (1, 2, 3)
            cv2.imwrite(str(disp), img)
            _expect(lambda: middlebury.read_scene(folder), ValueError, str(disp), "channels")
        elif kind == "disp_garbage":
            disp.write_bytes(rng.integers(0, 256, 5 + pick).astype(np.uint8).tobytes())
            _expect(lambda: middlebury.read_scene(folder), ValueError, str(disp))
        elif kind == "dmin":
            (folder / "dmin.txt").write_text(["nan", "inf", "x", "", "-inf", "1e999"][pick])
            _expect(lambda: middlebury.read_scene(folder), ValueError, str(folder / "dmin.txt"))
        else:
            arg = ["focal_px", "baseline_mm", "png_disparity_scale"][pick % 3]
            _expect(lambda: middlebury.read_scene(folder, **{arg: value}), ValueError, arg,
                    str(folder))
        return
    shutil.copytree(os.path.join(FIXTURES, "2014", "Tiny-perfect"), folder)
    calib = folder / "calib.txt"
    text = calib.read_text()
    if kind == "calib_baseline":
        calib.write_text(text.replace("baseline=50.0", f"baseline={value}"))
        _expect(lambda: middlebury.read_scene(folder), ValueError, str(calib), "baseline")
    elif kind == "calib_focal":
        calib.write_text(text.replace("cam0=[100.0 0", f"cam0=[{value} 0"))
        _expect(lambda: middlebury.read_scene(folder), ValueError, str(calib), "cam0")
    elif kind == "calib_doffs":
        bad = [float("nan"), float("inf"), "abc", float("-inf"), "", "1,5"][pick]
        calib.write_text(text.replace("doffs=8.5", f"doffs={bad}"))
        _expect(lambda: middlebury.read_scene(folder), ValueError, str(calib), "doffs")
    elif kind == "calib_syntax":
        lines = ["garbage line", "cam0=[1 2; 3 4]", "width=-3", "baseline=",
                 "cam0=[a b c; 1 2 3; 1 2 3]", "height=0"][pick]
        calib.write_text(text + lines + "\n")
        _expect(lambda: middlebury.read_scene(folder), ValueError, str(calib))
    elif kind == "pfm_size":
        pfm = folder / "disp0.pfm"
        raw = pfm.read_bytes()
        pfm.write_bytes(raw[:len(raw) - 4 * (pick + 1)])
        _expect(lambda: middlebury.read_scene(folder), ValueError, str(pfm))


def test_fuzz_middlebury(mb_dir):
    _run("middlebury", 40, middlebury_cases(), lambda c: _check_middlebury(c, mb_dir))


# ----------------------------------------------------------------------------------------
# exported signatures (tiny networks, exported once per module)
# ----------------------------------------------------------------------------------------

S = 16


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    from depthlab.models.dsr_distill import build_dsrnet, dsr_config
    from depthlab.runners.dsr_distill import export_dsrnet

    root = tmp_path_factory.mktemp("fuzz_exports")
    x = keras.Input((S, S, 1))
    enhancer = keras.Model(x, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x))
    x = keras.Input((S, S, 3))
    generator = keras.Model(x, keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x))
    dsr = build_dsrnet(dsr_config("demo", filters=4, n_blocks=1))
    dsr(np.ones((1, 4, 4, 1), np.float32))
    enh = tf.saved_model.load(export.export_enhancer(enhancer, str(root / "enh")))
    gen = tf.saved_model.load(export.export_depth_generator(generator, str(root / "gen"), S))
    dsr_sm = tf.saved_model.load(export_dsrnet(dsr, str(root / "dsr")))
    return {"enhancer": (enhancer, enh.signatures["serving_default"]),
            "generator": gen.signatures["serving_default"],
            "dsr": dsr_sm.signatures["serving_default"],
            "dsr16": dsr_sm.signatures["serve_uint16"]}


SHAPE_PROBLEMS = ["empty", "channels", "zero", "rank"]


@st.composite
def export_cases(draw, extra):
    kind = draw(st.sampled_from(SHAPE_PROBLEMS + extra))
    return (kind, draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(0, 5)),
            draw(st.integers(0, 2 ** 16)))


def _expect_empty(serve, name, shape, dtype, fill=1):
    """Documented (issue 19): an empty batch gives empty outputs with a one-image call's
    per-image shape and dtype (``depthlab.export.on_any_batch``)."""
    empty = serve(**{name: tf.zeros((0,) + tuple(shape), dtype)})
    one = serve(**{name: tf.fill((1,) + tuple(shape), tf.constant(fill, dtype))})
    assert sorted(empty) == sorted(one), (sorted(empty), sorted(one))
    for key in one:
        assert empty[key].dtype == one[key].dtype, key
        assert tuple(empty[key].shape) == (0,) + tuple(one[key].shape[1:]), \
            (key, empty[key].shape, one[key].shape)


def _bad_shape(kind, n, hw, pick, good_c, size=None):
    h = w = size or hw
    if kind == "channels":
        return (n, h, w, [c for c in (1, 2, 3, 4, 5, 6) if c != good_c][pick]), \
            f"expected {good_c} channel"
    if kind == "zero":
        return [(n, 0, w, good_c), (n, h, 0, good_c), (n, 0, 0, good_c)][pick % 3], \
            "zero-size image"
    shape = [(h, w, good_c), (n, h, w, good_c, 1), (h, w), (n, 1, h, w, good_c), (h * w,),
             (1, n, h, w, good_c)][pick]
    return shape, "expected a 4-D batch"


def _check_enhancer(case, exported):
    model, serve = exported
    kind, n, hw, pick, seed = case
    rng = np.random.default_rng(seed)
    name = "serving_default input depth_uint16:"
    if kind == "empty":
        _expect_empty(serve, "depth_uint16", (S, S, 1), tf.uint16, fill=30000)
    elif kind in SHAPE_PROBLEMS:
        shape, msg = _bad_shape(kind, n, hw, pick, 1, S)
        _expect(lambda: serve(depth_uint16=tf.zeros(shape, tf.uint16)),
                tf.errors.InvalidArgumentError, name, msg, "got shape")
    elif kind == "size":
        side = [s for s in range(1, 2 * S + 1) if s != S][seed % (2 * S - 1)]
        _expect(lambda: serve(depth_uint16=tf.zeros((n, side, S, 1), tf.uint16)),
                tf.errors.InvalidArgumentError, name, f"expected {S}x{S}")
    elif kind == "dtype":
        _expect(lambda: serve(depth_uint16=tf.zeros((n, S, S, 1), tf.float32)),
                tf.errors.InvalidArgumentError, "expected to be a uint16 tensor")
    elif kind == "all_hole":                          # documented: all-hole out (+ warning)
        x = rng.integers(0, 65535, (n, S, S, 1)).astype(np.uint16)
        holes = rng.random(n) < 0.5
        x[holes] = 65535
        out = serve(depth_uint16=tf.constant(x))
        want = model(x.astype(np.float32) / 65535.0).numpy()
        want[holes] = 1.0
        np.testing.assert_allclose(out["depth"].numpy(), want, atol=1e-6)
        assert (out["depth_uint16"].numpy()[holes] == 65535).all()


def test_fuzz_export_enhancer(exports):
    _run("export_enhancer", 20, export_cases(["size", "dtype", "all_hole"]),
         lambda c: _check_enhancer(c, exports["enhancer"]))


def _check_generator(case, serve):
    kind, n, hw, pick, seed = case
    if kind == "empty":
        _expect_empty(serve, "rgb", (hw, hw, 3), tf.uint8, fill=128)
    elif kind in SHAPE_PROBLEMS:
        shape, msg = _bad_shape(kind, n, hw, pick, 3)
        _expect(lambda: serve(rgb=tf.zeros(shape, tf.uint8)), tf.errors.InvalidArgumentError,
                "serving_default input rgb:", msg, "got shape")
    elif kind == "dtype":
        _expect(lambda: serve(rgb=tf.zeros((n, hw, hw, 3), tf.float32)),
                tf.errors.InvalidArgumentError, "expected to be a uint8 tensor")
    elif kind == "any_size":        # documented: any size in, depth at the input's size out
        rgb = np.random.default_rng(seed).integers(0, 256, (n, hw, hw + pick, 3), np.uint8)
        out = serve(rgb=tf.constant(rgb))
        d = out["depth"].numpy()
        assert d.shape == (n, hw, hw + pick, 1), d.shape
        assert np.isfinite(d).all() and d.min() >= 0 and d.max() <= 1


def test_fuzz_export_generator(exports):
    _run("export_generator", 15, export_cases(["dtype", "any_size"]),
         lambda c: _check_generator(c, exports["generator"]))


def _check_dsr(case, serve, serve16):
    kind, n, hw, pick, seed = case
    rng = np.random.default_rng(seed)
    hw = max(hw, 2)
    if kind == "empty":
        _expect_empty(serve, "depth", (hw, hw, 1), tf.float32)
    elif kind in SHAPE_PROBLEMS:
        shape, msg = _bad_shape(kind, n, hw, pick, 1)
        _expect(lambda: serve(depth=tf.ones(shape)), tf.errors.InvalidArgumentError,
                "serving_default input depth:", msg)
    elif kind == "non_finite":
        x = rng.uniform(0.5, 3.0, (n, hw, hw, 1)).astype(np.float32)
        x.flat[rng.integers(x.size)] = [np.nan, np.inf, -np.inf][pick % 3]
        _expect(lambda: serve(depth=tf.constant(x)), tf.errors.InvalidArgumentError,
                "serving_default input depth", "NaN or inf")
    elif kind == "non_positive":
        x = rng.uniform(0.5, 3.0, (n, hw, hw, 1)).astype(np.float32)
        x.flat[rng.integers(x.size)] = [0.0, -1.0, -1e-6, -100.0, 0.0, -0.5][pick]
        _expect(lambda: serve(depth=tf.constant(x)), tf.errors.InvalidArgumentError,
                "serving_default input depth", "<= 0")
    elif kind == "hole_mm":
        x = rng.integers(300, 5000, (n, hw, hw, 1)).astype(np.uint16)
        x.flat[rng.integers(x.size)] = 0
        _expect(lambda: serve16(depth_mm=tf.constant(x)), tf.errors.InvalidArgumentError,
                "serve_uint16 input depth_mm", "<= 0")
    elif kind == "valid":                             # documented: finite metres, x4 size
        x = rng.uniform(0.5, 3.0, (n, hw, hw, 1)).astype(np.float32)
        out = serve(depth=tf.constant(x))["depth"].numpy()
        assert out.shape == (n, 4 * hw, 4 * hw, 1) and np.isfinite(out).all()


def test_fuzz_export_dsr(exports):
    _run("export_dsr", 20, export_cases(["non_finite", "non_positive", "hole_mm", "valid"]),
         lambda c: _check_dsr(c, exports["dsr"], exports["dsr16"]))


# ----------------------------------------------------------------------------------------

def test_zz_summary():
    """Prints the cases tried per target in this process (all of them without xdist)."""
    lines = [f"  {t:<18} {COUNTS[t]:>5}  (minimum {m})" for t, m in sorted(MINIMUM.items())]
    print("\n[fuzz] bad inputs tried per target:\n" + "\n".join(lines) +
          f"\n  {'total':<18} {sum(COUNTS.values()):>5}")
    if all(COUNTS[t] for t in MINIMUM):             # every target ran in this process
        assert sum(COUNTS.values()) >= 200
        for target, minimum in MINIMUM.items():
            assert COUNTS[target] >= minimum, target
