"""tools/real_photo_check.py (issue 20): the crop geometry, the hand-marked points carried into
the crop, and a whole run on an exported generator."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from depthlab import face_relief

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "real_photo_check.py")


def _load_tool():
    """tools/real_photo_check.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("real_photo_check_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rpc = _load_tool()


def test_frame_and_points_in_crop_hand_worked():
    # a detection of side 50 centred at (row 100, col 200); the box is half the frame and the
    # frame centre lies 0.2 box sides (10 px) below the box centre
    calib = (0.5, -0.2, 0.0)
    box = (100.0, 200.0, 50.0)
    assert rpc.frame_of(box, calib) == (150, 60, 100)     # x0, y0, side
    pts = rpc.points_in_crop({"nose_tip": (200.0, 110.0), "chin": (200.0, 130.0),
                              "left_eye": (190.0, 90.0)}, box, calib, 50)
    np.testing.assert_allclose(pts["nose_tip"], [25.0, 25.0])   # (200-150, 110-60) / 2
    np.testing.assert_allclose(pts["chin"], [25.0, 35.0])
    np.testing.assert_allclose(pts["left_eye"], [20.0, 15.0])
    np.testing.assert_allclose(pts["neck"], [25.0, 35.0 + face_relief.NECK_BELOW_CHIN * 10.0])


def test_crop_frame_puts_image_pixels_where_points_in_crop_says():
    image = np.zeros((80, 120, 3), np.uint8)
    image[30, 70] = 255                                    # pixel centre (70.5, 30.5)
    calib, box = (0.5, 0.0, 0.0), (40.0, 60.0, 20.0)         # frame: x0 40, y0 20, side 40
    crop = rpc.crop_frame(image, box, calib, 40)             # same size: no resampling
    assert crop.shape == (40, 40, 3)
    assert crop[10, 30].tolist() == [255, 255, 255] and crop.sum() == 3 * 255
    xy = rpc.points_in_crop({"nose_tip": (70.5, 30.5)}, box, calib, 40)["nose_tip"]
    np.testing.assert_allclose(xy, [30.5, 10.5])
    # outside the image is black (the training backgrounds include black)
    edge = rpc.crop_frame(image, (5.0, 5.0, 10.0), calib, 20)
    assert edge.shape == (20, 20, 3) and edge[:5, :5].sum() == 0


def test_hand_marked_points_are_plausible_faces():
    """The marks keep a face's layout: eyes above the nose tip, cheeks beside and about level
    with it, the chin below; eyes 25-60 % of the face width apart."""
    for name, pts in [("astronaut", rpc.ASTRONAUT_POINTS)] + list(rpc.LFW_POINTS.items()):
        nose, le, re = (np.array(pts[k]) for k in ("nose_tip", "left_eye", "right_eye"))
        assert le[0] < nose[0] < re[0] and max(le[1], re[1]) < nose[1], name
        assert pts["left_cheek"][0] < nose[0] < pts["right_cheek"][0], name
        if "chin" in pts:
            assert pts["chin"][1] > nose[1], name
        assert set(pts) <= set(face_relief.POINTS), name


@pytest.mark.slow
def test_tool_runs_on_an_export_and_writes_the_contrasts(tmp_path):
    from depthlab.configs import tsgan_config
    from depthlab.export import export_depth_generator
    from depthlab.models.tsgan import build_generator

    cfg = tsgan_config("demo", image_size=32, gen_filters=8, gen_blocks=2)
    export = str(tmp_path / "saved_model")
    export_depth_generator(build_generator(cfg), export, 32)
    out, js = tmp_path / "grid.png", tmp_path / "relief.json"
    res = subprocess.run([sys.executable, TOOL,
                          f"--saved_model={export}", f"--output={out}", f"--output_json={js}",
                          "--lfw=4", "--calibration_faces=3", "--input_size=64", "--tile=64"],
                         cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    assert res.returncode == 0, res.stderr[-3000:]
    relief = json.loads(js.read_text())["relief_contrasts_mm"]
    assert set(relief) == {"astronaut", "lfw0", "lfw2", "lfw3"}      # the marked ones of 5
    assert set(relief["astronaut"]) == {"nose_vs_eyes", "nose_vs_cheeks", "chin_vs_neck"}
    assert set(relief["lfw0"]) == {"nose_vs_eyes", "nose_vs_cheeks"}
    assert all(np.isfinite(v) for r in relief.values() for v in r.values())
    import cv2

    grid = cv2.imread(str(out))
    # 5 photographs, 3 per row, 3 tiles of 64 px each: 2 rows x 9 tiles (+ 2 px padding)
    assert grid.shape[0] == 2 * 64 + 3 * 2 and grid.shape[1] == 9 * 64 + 10 * 2
