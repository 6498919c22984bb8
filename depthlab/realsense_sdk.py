"""Runs the real RealSense SDK filters (``pyrealsense2``) offline on NumPy depth images.

The reference for :mod:`depthlab.handcrafted`: frames are fed through an ``rs.software_device``
with one Z16 depth stream, and each filter processes the resulting ``rs2::depth_frame``.
:func:`apply` takes the SDK's own uint16 depth (0 = hole); :func:`apply_paper_codes` the paper's
face-window codes (65535 = hole), the input convention of its Table II baselines.
``pyrealsense2`` is a test/benchmark-only dependency (``pip install -e ".[test]"``); it needs
the Debian package ``libusb-1.0-0`` to import.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np


def import_pyrealsense2():
    """``pyrealsense2``, or an ImportError that says how to install it."""
    try:
        import pyrealsense2 as rs
    except ImportError as e:
        raise ImportError(
            "pyrealsense2 is needed for the RealSense reference filters: pip install -e '.[test]' "
            "(and apt-get install libusb-1.0-0, which it needs to import): " + str(e)) from e
    return rs


class SoftwareDepthCamera:
    """A software depth sensor of a fixed size; :meth:`frame` turns a uint16 image into a frame."""

    def __init__(self, height: int, width: int):
        rs = self.rs = import_pyrealsense2()
        self.height, self.width = int(height), int(width)
        self._device = rs.software_device()
        self._sensor = self._device.add_sensor("Depth")
        intr = rs.intrinsics()
        intr.width, intr.height = self.width, self.height
        intr.fx = intr.fy = float(max(height, width))
        intr.ppx, intr.ppy = self.width / 2.0, self.height / 2.0
        intr.model = rs.distortion.none
        stream = rs.video_stream()
        stream.type, stream.index, stream.uid = rs.stream.depth, 0, 0
        stream.width, stream.height, stream.fps, stream.bpp = self.width, self.height, 30, 2
        stream.fmt, stream.intrinsics = rs.format.z16, intr
        self._profile = self._sensor.add_video_stream(stream)
        self._sensor.add_read_only_option(rs.option.depth_units, 0.001)
        self._queue = rs.frame_queue(4, keep_frames=True)
        self._sensor.open(self._profile)
        self._sensor.start(self._queue)
        self._count = 0

    def frame(self, depth: np.ndarray):
        d = np.ascontiguousarray(depth, dtype=np.uint16)
        if d.shape != (self.height, self.width):
            raise ValueError(f"frame of shape {d.shape} given to a {self.height}x{self.width} camera")
        rs = self.rs
        self._count += 1
        f = rs.software_video_frame()
        f.pixels = d.tobytes()
        f.bpp, f.stride = 2, 2 * self.width
        f.timestamp, f.frame_number = float(self._count), self._count
        f.domain = rs.timestamp_domain.hardware_clock
        f.profile = self._profile.as_video_stream_profile()
        self._sensor.on_video_frame(f)
        return self._queue.wait_for_frame(5000)

    def close(self):
        self._sensor.stop()
        self._sensor.close()


def make_filter(name: str, **options):
    """An SDK filter: 'decimation' (magnitude), 'hole_filling' (mode) or 'spatial'
    (magnitude, alpha, delta, holes_fill), options set as in the RealSense Viewer."""
    rs = import_pyrealsense2()
    opt = rs.option
    names: Dict[str, Tuple] = {
        "decimation": (rs.decimation_filter, {"magnitude": opt.filter_magnitude}),
        "hole_filling": (rs.hole_filling_filter, {"mode": opt.holes_fill}),
        "spatial": (rs.spatial_filter, {"magnitude": opt.filter_magnitude,
                                        "alpha": opt.filter_smooth_alpha,
                                        "delta": opt.filter_smooth_delta,
                                        "holes_fill": opt.holes_fill}),
    }
    if name not in names:
        raise ValueError(f"unknown SDK filter {name!r}; choose one of {sorted(names)}")
    cls, option_ids = names[name]
    block = cls()
    for key, value in options.items():
        if key not in option_ids:
            raise ValueError(f"SDK filter {name!r} has no option {key!r} ({sorted(option_ids)})")
        block.set_option(option_ids[key], float(value))
    return block


def apply(name: str, depth: np.ndarray, camera: SoftwareDepthCamera = None, **options) -> np.ndarray:
    """The SDK's output for a uint16 (H, W) image (a copy); ``camera`` may be reused."""
    camera = camera or SoftwareDepthCamera(*depth.shape)
    block = make_filter(name, **options)
    out = block.process(camera.frame(depth))
    return np.array(out.get_data(), dtype=np.uint16, copy=True)


def apply_paper_codes(name: str, codes: np.ndarray, camera: SoftwareDepthCamera = None,
                      **options) -> np.ndarray:
    """The SDK filter ``name`` on the paper's 16-bit face-window codes (65535 = hole), as the
    paper ran its Table II baselines: ``handcrafted.paper_codes_to_sdk`` (holes -> 0, valid
    codes + 2), the SDK's filter, ``handcrafted.sdk_to_paper_codes``. Decimation returns the
    SDK's smaller frame (in codes)."""
    from depthlab import handcrafted

    frame = handcrafted.paper_codes_to_sdk(codes)
    return handcrafted.sdk_to_paper_codes(apply(name, frame, camera, **options))
