"""visualize.upscale_for_display: the sample grids' tiles are at least 128 px (issue 20)."""
import numpy as np
import pytest

from depthlab import visualize


@pytest.mark.parametrize("size,factor", [(64, 2), (50, 3), (128, 1), (200, 1)])
def test_nearest_upscale_repeats_every_pixel_in_a_block(size, factor):
    img = np.random.default_rng(0).integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
    out = visualize.upscale_for_display(img)
    assert out.dtype == np.uint8 and out.shape == (size * factor, (size + 4) * factor, 3)
    assert min(out.shape[:2]) >= visualize.DISPLAY_MIN_PX
    np.testing.assert_array_equal(out, np.repeat(np.repeat(img, factor, 0), factor, 1))


def test_smooth_upscale_and_single_channel():
    grey = np.arange(64 * 64, dtype=np.float32).reshape(64, 64, 1)
    out = visualize.upscale_for_display(grey)
    assert out.shape == (128, 128, 1)
    np.testing.assert_array_equal(out[::2, ::2], grey)
    ramp = np.tile(np.arange(64, dtype=np.float32), (64, 1))
    smooth = visualize.upscale_for_display(ramp, smooth=True)
    # bilinear: strictly between the two neighbours in the interior
    assert smooth.shape == (128, 128) and 0.0 < smooth[10, 3] - smooth[10, 2] < 1.0
    with pytest.raises(ValueError, match="upscale_for_display"):
        visualize.upscale_for_display(np.zeros(5))
