"""tools/real_scan_check.py (issue 20): OBJ reading, the textured render (depth, texture
orientation, shading) against hand-worked values, points through a turned head, the scores,
and a whole run on an exported generator."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "real_scan_check.py")


def _load_tool():
    """tools/real_scan_check.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("real_scan_check_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module           # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


rsc = _load_tool()

# a 100 x 100 mm square in the z = 0 plane, +y up, texture coordinates 0..1
SQUARE_OBJ = """# square
v -50 -50 0
v 50 -50 0
v 50 50 0
v -50 50 0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 1
f 1/1/1 2/2/1 3/3/1 4/4/1
"""


def _quadrant_texture():
    """8 x 8 sRGB texture: top-left red, top-right green, bottom-left blue, bottom-right white
    (image rows: row 0 is the top)."""
    t = np.zeros((8, 8, 3), np.uint8)
    t[:4, :4] = (255, 0, 0)
    t[:4, 4:] = (0, 255, 0)
    t[4:, :4] = (0, 0, 255)
    t[4:, 4:] = (255, 255, 255)
    return t


def _square(tmp_path):
    import cv2

    obj = tmp_path / "square.obj"
    obj.write_text(SQUARE_OBJ)
    tex = tmp_path / "square.png"
    cv2.imwrite(str(tex), cv2.cvtColor(_quadrant_texture(), cv2.COLOR_RGB2BGR))
    return str(obj), str(tex)


def test_read_obj_fans_polygons_and_reads_texture_coordinates(tmp_path):
    p = tmp_path / "m.obj"
    p.write_text(SQUARE_OBJ + "f -4/-4 -3/-3 -2/-2\n")    # relative indices: vertices 1, 2, 3
    mesh = rsc.read_obj(str(p))
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [0, 1, 2]])
    np.testing.assert_array_equal(mesh.face_uvs, [[0, 1, 2], [0, 2, 3], [0, 1, 2]])
    np.testing.assert_allclose(mesh.uvs[2], [1.0, 1.0])
    np.testing.assert_allclose(mesh.vertices[3], [-50.0, 50.0, 0.0])
    q = tmp_path / "no_uv.obj"
    q.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//1 2//1 3//1\n")
    assert rsc.read_obj(str(q)).uvs is None


@pytest.mark.parametrize("text, message", [
    ("v 0 0 0\nv 1 0 0\nf 1 2 3\n", "bad.obj:3: vertex index 3 out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
    ("v 0 0\n", "bad.obj:1: bad v line"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", "bad.obj:4: a face needs 3 or more vertices"),
])
def test_read_obj_errors_name_the_file_and_line(tmp_path, text, message):
    p = tmp_path / "bad.obj"
    p.write_text(text)
    with pytest.raises(ValueError, match=message):
        rsc.read_obj(str(p))
    with pytest.raises(FileNotFoundError, match="missing.obj"):
        rsc.read_obj(str(tmp_path / "missing.obj"))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        rsc.read_texture(str(tmp_path / "missing.png"))


def test_render_of_a_textured_square_hand_worked(tmp_path):
    obj, tex = _square(tmp_path)
    meshes = [(rsc.read_obj(obj), rsc.read_texture(tex))]
    # 64 px, f = 160 px, 500 mm away: the 100 mm square spans 160 * 100 / 500 = 32 px,
    # pixel columns / rows 16..47 (pixel centres 16.5 .. 47.5 within [16, 48])
    cam = rsc.Camera(64, 500.0, 160.0)
    unlit = rsc.View("unlit", lights=(), ambient=1.0, background=(10, 20, 30))
    rgb, depth, _ = rsc.render_view(meshes, unlit, 1.0, cam)
    covered = depth > 0
    assert covered[16:48, 16:48].all() and covered.sum() == 32 * 32
    assert (depth[covered] == 500).all()
    assert rgb[0, 0].tolist() == [10, 20, 30]                   # background
    # texture v = 1 is the top row: the viewer's top-left corner is red, bottom-right white;
    # unlit at ambient 1 the sRGB texture comes back unchanged (away from the bilinear seams)
    assert rgb[18, 18].tolist() == [255, 0, 0] and rgb[18, 45].tolist() == [0, 255, 0]
    assert rgb[45, 18].tolist() == [0, 0, 255] and rgb[45, 45].tolist() == [255, 255, 255]
    # a light straight at the square (weight 0.5) + ambient 0.25: linear x 0.75
    lit = rsc.View("lit", lights=(((0.0, 0.0, 1.0), 0.5),), ambient=0.25)
    rgb, _, _ = rsc.render_view(meshes, lit, 1.0, cam)
    expect = round(255 * 0.75 ** (1 / 2.2))                     # 224
    assert rgb[18, 18].tolist() == [expect, 0, 0]
    # a light in the square's plane adds nothing (the normal faces the camera)
    grazing = rsc.View("grazing", lights=(((1.0, 0.0, 0.0), 1.0),), ambient=0.0)
    rgb, _, _ = rsc.render_view(meshes, grazing, 1.0, cam)
    assert rgb[16:48, 16:48].max() == 0


def test_turned_square_depth_and_points_hand_worked(tmp_path):
    obj, _ = _square(tmp_path)
    meshes = [(rsc.read_obj(obj), None)]
    cam = rsc.Camera(64, 500.0, 160.0)
    yaw = rsc.View("yaw", yaw_deg=30.0)
    _, depth, rot = rsc.render_view(meshes, yaw, 1.0, cam)
    a = np.radians(30.0)
    # the square's point (x, 0, 0) goes to camera x = x cos a, z = 500 + x sin a (its right
    # side turns away); the ray of pixel column j meets it where f x cos a / z = j + 0.5 - 32
    for j in (20, 32, 40):
        u = j + 0.5 - 32.0
        x = 500.0 * u / (160.0 * np.cos(a) - u * np.sin(a))
        assert abs(int(depth[32, j]) - (500.0 + x * np.sin(a))) <= 0.5 + 1e-6, j
    # a point 100 mm in front of the origin (a nose): x = 100 sin a, z = 500 - 100 cos a
    xy = rsc.points_in_image({"nose_tip": np.array([0.0, 0.0, 50.0])}, 2.0, rot, cam)
    np.testing.assert_allclose(xy["nose_tip"],
                               [32 + 160 * 100 * np.sin(a) / (500 - 100 * np.cos(a)), 32.0],
                               atol=1e-9)
    # pitch > 0 turns the face downwards: a point above the origin comes nearer
    down = rsc.pose_rotation(0.0, 10.0) @ np.array([0.0, 1.0, 0.0])
    assert down[2] > 0


def test_scores_of_a_perfect_and_of_a_flat_prediction():
    from data_pipelines.paired import tsgan_depth_to_unit

    yy, xx = np.mgrid[0:48, 0:48]
    r2 = (xx - 24.0) ** 2 + (yy - 24.0) ** 2
    depth = np.where(r2 < 20 ** 2, 600 - np.sqrt(np.maximum(400 - r2, 0)) * 4, 0)
    depth = depth.astype(np.uint16)             # a dome 80 mm deep, background 0
    gt, valid = (np.asarray(a) for a in tsgan_depth_to_unit(depth, 16))
    points = {"nose_tip": np.array([24.0, 24.0]), "left_eye": np.array([16.0, 20.0]),
              "right_eye": np.array([32.0, 20.0])}
    perfect = rsc.score(gt, depth, points)
    assert perfect["face_front"]["rmse_mm"] == pytest.approx(0.0, abs=1e-6)
    assert perfect["whole_head"]["rmse_mm"] == pytest.approx(0.0, abs=1e-6)
    assert perfect["contrasts_pred"]["nose_vs_eyes"] == pytest.approx(
        perfect["contrasts_true"]["nose_vs_eyes"], abs=1e-6)
    # the dome's top is nearer: 4 sqrt(400) - 4 sqrt(400 - 80) = 8.4 mm at the eyes' pixels
    # (disc means around them shift it a little)
    assert 7.0 < perfect["contrasts_true"]["nose_vs_eyes"] < 10.0
    flat = rsc.score(np.full(gt.shape, gt[valid].mean()), depth)
    # a constant at the head's mean is the best flat head: its RMSE is the std, in mm
    assert flat["whole_head"]["rmse_mm"] == pytest.approx(gt[valid].std() * 250.0, rel=1e-6)
    assert flat["whole_head"]["rmse_mm"] == pytest.approx(flat["whole_head"]["rmse_flat_mm"])
    front = valid & (gt >= 1 - 60 / 250 - 1e-6)
    assert flat["face_front"]["rmse_flat_mm"] == pytest.approx(gt[front].std() * 250.0, rel=1e-6)
    with pytest.raises(ValueError, match="differ"):
        rsc.score(gt[:10], depth)


def test_read_points_checks_names_and_shapes(tmp_path):
    good = tmp_path / "p.json"
    eyes = {"left_eye": [-0.2, 0.3, 0.45], "right_eye": [0.2, 0.3, 0.45]}
    good.write_text(json.dumps({"nose_tip": [0, 0.1, 0.6], "chin": [0, -0.4, 0.5], **eyes}))
    pts = rsc.read_points(str(good))
    np.testing.assert_allclose(pts["nose_tip"], [0, 0.1, 0.6])
    for bad, message in ((({"nose": [0, 0, 0]}), "unknown point 'nose'"),
                         (({"chin": [0, 0]}), "chin must be 3 finite numbers"),
                         (({"chin": [0, 0, 0], **eyes}), "missing nose_tip")):
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=message):
            rsc.read_points(str(p))


@pytest.mark.slow
def test_tool_runs_on_an_export_and_scores_against_the_render(tmp_path):
    from depthlab.configs import tsgan_config
    from depthlab.export import export_depth_generator
    from depthlab.models.tsgan import build_generator

    cfg = tsgan_config("demo", image_size=32, gen_filters=8, gen_blocks=2)
    export = str(tmp_path / "saved_model")
    export_depth_generator(build_generator(cfg), export, 32)
    # a textured dome (a crude head, +z towards the camera), 100 mm across
    th, ph = np.meshgrid(np.linspace(0, np.pi / 2, 12), np.linspace(0, 2 * np.pi, 25))
    v = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    idx = np.arange(v.shape[0]).reshape(25, 12)
    quads = [(idx[i, j], idx[i + 1, j], idx[i + 1, j + 1], idx[i, j + 1])
             for i in range(24) for j in range(11)]
    lines = [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v]
    lines += [f"vt {(a + 1) / 2:.6f} {(b + 1) / 2:.6f}" for a, b, _ in v]
    lines += ["f " + " ".join(f"{k + 1}/{k + 1}" for k in (q[0], q[3], q[2], q[1])) for q in quads]
    obj = tmp_path / "dome.obj"
    obj.write_text("\n".join(lines) + "\n")
    _, tex = _square(tmp_path)
    pts = tmp_path / "points.json"
    pts.write_text(json.dumps({"nose_tip": [0, 0, 1], "left_eye": [-0.4, 0.3, 0.87],
                               "right_eye": [0.4, 0.3, 0.87]}))
    out, js = tmp_path / "grid.png", tmp_path / "scores.json"
    res = subprocess.run([sys.executable, TOOL, f"--saved_model={export}",
                          f"--mesh={obj}:{tex}", "--mm_per_unit=50", f"--points_json={pts}",
                          "--views=front,yaw+20", "--crop=whole", "--render_size=96",
                          "--distance_mm=400", "--focal_px=300", "--input_size=64", "--tile=64",
                          f"--output={out}", f"--output_json={js}"],
                         cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    assert res.returncode == 0, res.stderr[-3000:]
    scores = json.loads(js.read_text())
    assert set(scores["views"]) == {"front", "yaw+20"}
    # the front view's best flat head, worked out here from the same render
    import cv2
    from data_pipelines.paired import tsgan_depth_to_unit

    meshes = [(rsc.read_obj(str(obj)), rsc.read_texture(tex))]
    _, depth, _ = rsc.render_view(meshes, rsc.VIEWS[0], 50.0, rsc.Camera(96, 400.0, 300.0))
    depth = cv2.resize(depth, (64, 64), interpolation=cv2.INTER_NEAREST)
    gt, valid = (np.asarray(a) for a in tsgan_depth_to_unit(depth, 16))
    front = scores["views"]["front"]
    assert front["whole_head"]["rmse_flat_mm"] == pytest.approx(gt[valid].std() * 250.0,
                                                                rel=1e-6)
    assert front["contrasts_true"]["nose_vs_eyes"] > 0          # the dome's apex is nearest
    assert all(np.isfinite(front[r]["rmse_mm"]) for r in ("face_front", "whole_head"))
    grid = cv2.imread(str(out))
    # 2 views, 2 per row, 4 tiles of 64 px each + the label strip
    assert grid.shape[1] == 8 * 64 + 9 * 2


def test_tool_names_a_missing_mesh_and_a_bad_scale(tmp_path):
    export = tmp_path / "saved_model"
    export.mkdir()
    for args, message in (([f"--mesh={tmp_path / 'head.obj'}", "--mm_per_unit=1"],
                           "no such OBJ file: " + str(tmp_path / "head.obj")),
                          ([f"--mesh={tmp_path / 'head.obj'}", "--mm_per_unit=0"],
                           "--mm_per_unit=0.0: must be > 0"),
                          ([f"--mesh={_square(tmp_path)[0]}:{tmp_path / 'tex.png'}",
                            "--mm_per_unit=1"], "no such texture file")):
        res = subprocess.run([sys.executable, TOOL, f"--saved_model={export}"] + args,
                             cwd=REPO, capture_output=True, text=True)
        assert res.returncode != 0 and message in res.stderr, res.stderr[-2000:]
