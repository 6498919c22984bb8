"""depthlab.visualize: hole colour, colour ordering, grid geometry, PNG and summary round trips."""

import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from depthlab import visualize


def _turbo_lut_rgb():
    """OpenCV's TURBO colormap as a (256, 3) RGB table (index 0 = cool blue end)."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None, :], cv2.COLORMAP_TURBO)[0]
    return bgr[:, ::-1].astype(np.int64)


def _lut_index(rgb_pixels):
    """Nearest TURBO entry of each RGB pixel (N, 3)."""
    lut = _turbo_lut_rgb()
    d = ((rgb_pixels[:, None, :].astype(np.int64) - lut[None]) ** 2).sum(-1)
    return d.argmin(axis=1)


def test_holes_and_invalid_pixels_are_black():
    depth = np.array([[0.0, 1.0, 2.0], [np.nan, 3.0, 4.0]])
    rgb = visualize.colorize_depth(depth)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    np.testing.assert_array_equal(rgb[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(rgb[1, 0], [0, 0, 0])
    valid = np.isfinite(depth) & (depth > 0)
    assert np.all(rgb[valid].sum(axis=-1) > 0)          # no valid pixel is drawn black
    # an explicit mask blacks out valid depth too
    mask = np.ones_like(valid)
    mask[0, 1] = False
    masked = visualize.colorize_depth(depth, mask=mask & valid)
    np.testing.assert_array_equal(masked[0, 1], [0, 0, 0])
    # a uint16 millimetre image with 0 holes
    mm = np.array([[0, 500], [800, 0]], np.uint16)
    out = visualize.colorize_depth(mm)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    assert out[0, 1].sum() > 0


def test_ramp_colour_order_is_monotone_near_warm():
    ramp = np.linspace(1.0, 2.0, 256)[None, :]                      # metres, left = near
    rgb = visualize.colorize_depth(ramp)
    idx = _lut_index(rgb[0])
    assert idx[0] == 255 and idx[-1] == 0                            # near -> warm end
    assert np.all(np.diff(idx) <= 0)                                 # monotone with depth
    near, far = rgb[0, 0].astype(int), rgb[0, -1].astype(int)
    assert near[0] > near[2] and far[2] > far[0]                     # near red, far blue
    # near-is-bright convention (TS-GAN [0, 1] depth): large value = near = warm
    idx_bright = _lut_index(visualize.colorize_depth(ramp, near_is_small=False)[0])
    assert idx_bright[0] == 0 and idx_bright[-1] == 255 and np.all(np.diff(idx_bright) >= 0)


def test_vmin_vmax_clip():
    depth = np.array([[1.0, 2.0, 3.0, 10.0]])
    rgb = visualize.colorize_depth(depth, vmin=1.0, vmax=3.0)
    np.testing.assert_array_equal(rgb[0, 2], rgb[0, 3])              # 10 clipped to vmax
    assert _lut_index(rgb[0, :1])[0] == 255 and _lut_index(rgb[0, 2:3])[0] == 0
    with pytest.raises(ValueError, match="vmax"):
        visualize.colorize_depth(depth, vmin=3.0, vmax=1.0)


def test_grid_shape_and_cell_conversion():
    h, w, pad = 10, 12, 2
    u8 = np.full((h, w, 3), 7, np.uint8)
    sym = np.ones((h, w, 3), np.float32)                 # [-1, 1] image (has -1 below)
    sym[0, 0] = -1.0
    unit = np.full((h, w, 3), 0.2, np.float32)           # [0, 1] image: 0.2 -> 51
    depth = np.linspace(0.1, 1.0, h * w).reshape(h, w, 1).astype(np.float32)
    grid = visualize.make_grid([[u8, sym, unit], [depth]], pad=pad)
    # height = pad + 2 * (h + pad) = 26, width = pad + 3 * (w + pad) = 44
    assert grid.shape == (26, 44, 3) and grid.dtype == np.uint8
    x = lambda j: pad + j * (w + pad)                    # noqa: E731
    np.testing.assert_array_equal(grid[pad, x(0)], [7, 7, 7])
    np.testing.assert_array_equal(grid[pad, x(1)], [0, 0, 0])          # -1 -> 0
    np.testing.assert_array_equal(grid[pad + 1, x(1)], [255, 255, 255])  # 1 -> 255
    np.testing.assert_array_equal(grid[pad, x(2)], [51, 51, 51])       # 0.2 * 255
    y1 = pad + h + pad
    np.testing.assert_array_equal(grid[y1:y1 + h, x(0):x(0) + w], visualize.colorize_depth(depth))
    np.testing.assert_array_equal(grid[y1, x(1)], [255, 255, 255])     # empty cell = background
    # labels add a LABEL_HEIGHT strip on top
    labelled = visualize.make_grid([[u8, sym, unit]], labels=["a", "b", "c"], pad=pad)
    assert labelled.shape == (visualize.LABEL_HEIGHT + pad + h + pad, 44, 3)
    assert (labelled[:visualize.LABEL_HEIGHT] < 255).any()            # some text was drawn


def test_grid_errors():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="2 labels for 1 columns"):
        visualize.make_grid([[img]], labels=["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        visualize.make_grid([])
    with pytest.raises(ValueError, match=r"\(4, 4, 2\)"):
        visualize.make_grid([[np.zeros((4, 4, 2))]])


def test_save_png_round_trips_with_rgb_order(tmp_path):
    img = np.zeros((3, 4, 3), np.uint8)
    img[0, 0] = [255, 0, 0]                              # red in RGB
    img[1, 1] = [0, 0, 255]                              # blue
    img[2, 3] = [10, 20, 30]
    path = str(tmp_path / "sub" / "grid.png")
    assert visualize.save_png(path, img) == path
    bgr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(bgr[0, 0], [0, 0, 255])            # cv2 reads BGR
    np.testing.assert_array_equal(bgr[..., ::-1], img)
    assert os.listdir(tmp_path / "sub") == ["grid.png"]                 # no temp file left
    depth = np.array([[0, 1000], [65535, 42]], np.uint16)
    visualize.save_png(str(tmp_path / "d.png"), depth)
    back = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, depth)
    with pytest.raises(TypeError, match="uint8"):
        visualize.save_png(str(tmp_path / "bad.png"), np.zeros((2, 2, 3), np.float32))


def test_tf_summary_image_grid_writes_the_grid(tmp_path):
    rows = [[np.full((6, 6, 3), 100, np.uint8), np.linspace(1, 2, 36).reshape(6, 6)]]
    with tf.summary.create_noop_writer().as_default():                 # no real writer
        assert visualize.tf_summary_image_grid("g", rows, step=0) is False
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(), tf.summary.record_if(True):   # immune to leftover record_if state
        assert bool(visualize.tf_summary_image_grid("samples", rows, step=3))
    writer.flush()
    writer.close()
    expected = visualize.make_grid(rows)
    found = []
    for name in os.listdir(tmp_path):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / name)):
            for value in event.summary.value:
                if value.tag == "samples":
                    assert value.metadata.plugin_data.plugin_name == "images"
                    png = tf.make_ndarray(value.tensor)[2]           # [width, height, png]
                    found.append((event.step, tf.io.decode_png(png).numpy()))
    assert len(found) == 1 and found[0][0] == 3
    np.testing.assert_array_equal(found[0][1], expected)


def test_shade_relief_lights_planes_by_lambert_hand_worked():
    """A plane receding to the right (z = x) faces right and toward the camera, normal
    (1, 0, -1)/sqrt(2): lit fully by a light in that direction, only by the ambient term
    (0.15 x 255 = 38) by one at 90 degrees to it; a frontal plane under a light 45 degrees off
    the axis gets 0.15 + 0.85 cos 45 deg."""
    from depthlab.visualize import shade_relief

    ramp = np.tile(np.arange(6.0), (5, 1))
    assert (shade_relief(ramp, light=(1.0, 0.0, -1.0)) == 255).all()
    assert (shade_relief(ramp, light=(-1.0, 0.0, -1.0)) == 38).all()
    # pixel_size: the same ramp in 'mm' with 2 mm per pixel has slope 1/2
    half = shade_relief(ramp, pixel_size=2.0, light=(0.0, 0.0, -1.0))
    assert (half == round(255 * (0.15 + 0.85 * 2 / np.sqrt(5)))).all()
    flat = shade_relief(np.full((4, 4), 7.0), light=(0.0, 1.0, -1.0))
    assert (flat == round(255 * (0.15 + 0.85 / np.sqrt(2)))).all()
    # a masked pixel is black and its neighbours use one-sided slopes (still the ramp's)
    mask = np.ones((5, 6), bool)
    mask[2, 3] = False
    lit = shade_relief(ramp, mask=mask, light=(1.0, 0.0, -1.0))
    assert (lit[2, 3] == 0).all() and (lit[mask] == 255).all()
    assert lit.shape == (5, 6, 3) and lit.dtype == np.uint8
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        shade_relief(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="pixel_size"):
        shade_relief(ramp, pixel_size=0.0)
