"""Tests for data_pipelines.render: coverage, z-buffer, perspective-correct depth, meshes."""
import numpy as np
import pytest
from skimage.draw import polygon as sk_polygon

from data_pipelines import render

H = W = 64
F = 400.0


def _unproject(uv, z, f=F, cx=W / 2, cy=H / 2):
    """Image points (u, v) at depth z -> camera points (the inverse pinhole, by hand)."""
    uv = np.asarray(uv, np.float64)
    z = np.broadcast_to(np.asarray(z, np.float64), (len(uv),))
    return np.stack([(uv[:, 0] - cx) * z / f, (uv[:, 1] - cy) * z / f, z], 1)


def test_quad_exact_coverage_and_depth():
    # Rectangle u in [10.2, 40.6], v in [12.7, 35.3] at z = 500. Pixel centres j + 0.5 inside:
    # j = 10..40 (31 columns), i = 13..34 (22 rows) -> 682 pixels; analytic area 687.04.
    uv = [[10.2, 12.7], [40.6, 12.7], [10.2, 35.3], [40.6, 35.3]]
    verts = _unproject(uv, 500.0)
    faces = np.array([[0, 2, 1], [1, 2, 3]])
    depth, tri, bary = render.rasterize(verts, faces, H, W, F)
    fg = tri >= 0
    assert fg.sum() == 31 * 22
    assert abs(fg.sum() - 30.4 * 22.6) < (30.4 + 22.6)       # within half the perimeter
    rows, cols = np.nonzero(fg)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (13, 34, 10, 40)
    np.testing.assert_array_equal(depth[fg], np.float32(500.0))
    assert np.all(depth[~fg] == 0) and np.all(bary[~fg] == 0)
    np.testing.assert_allclose(bary[fg].sum(-1), 1.0, atol=1e-6)
    assert set(np.unique(tri[fg])) == {0, 1}


def test_triangle_coverage_matches_independent_polygon_fill():
    uv = np.array([[5.3, 7.9], [57.1, 20.4], [21.7, 60.2]])
    verts = _unproject(uv, 800.0)
    depth, tri, _ = render.rasterize(verts, [[0, 1, 2]], H, W, F)
    # skimage puts pixel (r, c)'s centre at (r, c); ours is at (r + 0.5, c + 0.5).
    rr, cc = sk_polygon(uv[:, 1] - 0.5, uv[:, 0] - 0.5, shape=(H, W))
    expected = np.zeros((H, W), bool)
    expected[rr, cc] = True
    np.testing.assert_array_equal(tri == 0, expected)
    e = np.roll(uv, -1, 0) - uv
    area = 0.5 * abs(e[0, 0] * e[1, 1] - e[0, 1] * e[1, 0])
    perimeter = np.linalg.norm(e, axis=1).sum()
    assert abs((tri == 0).sum() - area) < perimeter / 2
    np.testing.assert_allclose(depth[tri == 0], 800.0, rtol=1e-6)


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_triangle_wins(near_first):
    a = _unproject([[8.0, 8.0], [50.0, 10.0], [12.0, 55.0]], 400.0)      # near
    b = _unproject([[20.0, 15.0], [60.0, 30.0], [25.0, 60.0]], 700.0)    # far
    verts = np.concatenate([a, b] if near_first else [b, a])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    near_id = 0 if near_first else 1
    depth, tri, _ = render.rasterize(verts, faces, H, W, F)
    da, ta, _ = render.rasterize(a, [[0, 1, 2]], H, W, F)
    db, tb, _ = render.rasterize(b, [[0, 1, 2]], H, W, F)
    both = (ta == 0) & (tb == 0)
    assert both.sum() > 100
    assert np.all(tri[both] == near_id)
    np.testing.assert_allclose(depth[both], 400.0, rtol=1e-6)
    only_b = (tb == 0) & (ta < 0)
    np.testing.assert_allclose(depth[only_b], 700.0, rtol=1e-6)
    assert np.all(tri[only_b] == 1 - near_id)


def test_tilted_plane_depth_is_perspective_correct():
    # Plane z = z0 + a x + b y; the ray through pixel centre (u, v) is z * (rx, ry, 1) with
    # rx = (u - cx) / f, so the depth there is z0 / (1 - a rx - b ry).
    z0, a, b = 600.0, 0.8, -0.5
    f = 90.0
    gx, gy = np.meshgrid(np.linspace(-300, 300, 4), np.linspace(-300, 300, 4))
    verts = np.stack([gx, gy, z0 + a * gx + b * gy], -1).reshape(-1, 3)
    faces = render.grid_faces(4, 4)
    depth, tri, bary = render.rasterize(verts, faces, H, W, f)
    fg = tri >= 0
    assert fg.sum() > 0.5 * H * W
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    rx, ry = (jj - W / 2) / f, (ii - H / 2) / f
    z_true = z0 / (1 - a * rx - b * ry)
    np.testing.assert_allclose(depth[fg], z_true[fg], rtol=2e-6)
    # Perspective-correct barycentrics: the interpolated 3D point lies on the pixel's ray.
    xyz = render.interpolate(verts, faces, tri, bary)
    np.testing.assert_allclose(xyz[fg][:, 0], (rx * z_true)[fg], atol=1e-3)
    np.testing.assert_allclose(xyz[fg][:, 1], (ry * z_true)[fg], atol=1e-3)
    assert np.all(xyz[~fg] == 0)


def _uv_sphere(radius, centre, n_lat=64, n_lon=128):
    th, ph = np.meshgrid(np.linspace(0, np.pi, n_lat), np.linspace(0, 2 * np.pi, n_lon),
                         indexing="ij")
    pts = np.stack([radius * np.sin(th) * np.cos(ph), radius * np.sin(th) * np.sin(ph),
                    radius * np.cos(th)], -1).reshape(-1, 3) + centre
    return pts, render.grid_faces(n_lat, n_lon)


def test_sphere_orthographic_matches_analytic():
    r, c = 50.0, np.array([0.0, 0.0, 300.0])
    verts, faces = _uv_sphere(r, c)
    depth, tri, _ = render.rasterize(verts, faces, 128, 128, projection="orthographic",
                                     ortho_scale=1.0)
    jj, ii = np.meshgrid(np.arange(128) + 0.5 - 64, np.arange(128) + 0.5 - 64)
    d2 = jj ** 2 + ii ** 2
    inner = d2 < (0.95 * r) ** 2
    z_true = c[2] - np.sqrt(r ** 2 - d2[inner])
    assert np.abs(depth[inner] - z_true).max() < 0.5
    assert np.all(tri[d2 < (r - 1) ** 2] >= 0)
    assert np.all(tri[d2 > (r + 1) ** 2] == -1)


def test_backface_culling():
    front = _unproject([[10.0, 10.0], [10.0, 50.0], [50.0, 10.0]], 500.0)   # normal -> -z
    n = np.cross(front[1] - front[0], front[2] - front[0])
    assert n[2] < 0
    d_f, _, _ = render.rasterize(front, [[0, 1, 2]], H, W, F, cull_backfaces=True)
    d_b, _, _ = render.rasterize(front, [[0, 2, 1]], H, W, F, cull_backfaces=True)
    d_n, _, _ = render.rasterize(front, [[0, 2, 1]], H, W, F)
    assert (d_f > 0).sum() > 500 and (d_b > 0).sum() == 0
    np.testing.assert_array_equal(d_f, d_n)


def test_uv_position_map_plane_renders_full_rectangle():
    # 20x30 position map, 2 mm apart, covering x in [-29.7, 28.3], y in [-19.7, 18.3].
    i, j = np.meshgrid(np.arange(20), np.arange(30), indexing="ij")
    pos = np.stack([2.0 * j - 29.7, 2.0 * i - 19.7, np.full(i.shape, 250.0)], -1)
    verts, faces = render.uv_position_map_mesh(pos)
    assert verts.shape == (600, 3) and faces.shape == (2 * 19 * 29, 3)
    depth = render.render_depth_uint16(verts, faces, 48, 64, projection="orthographic",
                                       ortho_scale=1.0)
    # Columns: centres j + 0.5 - 32 in [-29.7, 28.3] -> j = 2..59 (58); rows
    # i + 0.5 - 24 in [-19.7, 18.3] -> i = 4..41 (38).
    expected = np.zeros((48, 64), bool)
    expected[4:42, 2:60] = True
    np.testing.assert_array_equal(depth > 0, expected)
    assert np.all(depth[expected] == 250)
    mask = np.ones((20, 30), bool)
    mask[10, 15] = False                             # drops the 6 triangles around it
    _, faces_m = render.uv_position_map_mesh(pos, mask=mask)
    assert len(faces_m) == len(faces) - 6
    d_m = render.render_depth_uint16(verts, faces_m, 48, 64, projection="orthographic",
                                     ortho_scale=1.0)
    assert 0 < (expected & (d_m == 0)).sum() < 16
    # The hole sits around vertex (10, 15) -> image (x, y) = (0.3 + 32, 0.3 + 24).
    assert d_m[24, 32] == 0


def test_interpolate_constant_and_linear_attributes():
    uv = [[4.0, 4.0], [60.0, 6.0], [8.0, 58.0]]
    verts = _unproject(uv, [300.0, 500.0, 900.0])
    faces = [[0, 1, 2]]
    depth, tri, bary = render.rasterize(verts, faces, H, W, F)
    ones = render.interpolate(np.ones(3), faces, tri, bary)
    assert ones.shape == (H, W, 1)
    np.testing.assert_allclose(ones[tri >= 0], 1.0, atol=1e-6)
    z = render.interpolate(verts[:, 2:], faces, tri, bary)[..., 0]
    np.testing.assert_allclose(z[tri >= 0], depth[tri >= 0], rtol=1e-5)


def test_depth_to_uint16_rounds_and_rejects_overflow():
    d = np.array([[0.0, 612.4, 612.6], [65535.4, 1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(render.depth_to_uint16(d), [[0, 612, 613], [65535, 1, 0]])
    with pytest.raises(ValueError, match="70000"):
        render.depth_to_uint16(np.array([70000.0]))
    verts = _unproject([[10.0, 10.0], [10.0, 50.0], [50.0, 10.0]], 80000.0)
    with pytest.raises(ValueError, match="65535"):
        render.render_depth_uint16(verts, [[0, 1, 2]], H, W, F)


def test_near_plane_drops_triangles_behind_camera():
    verts = np.array([[-50.0, -50.0, -10.0], [50.0, -50.0, 200.0], [0.0, 50.0, 200.0]])
    depth, tri, _ = render.rasterize(verts, [[0, 1, 2]], H, W, F)
    assert np.all(tri == -1) and np.all(depth == 0)


def test_invalid_inputs_raise_clear_errors():
    v = np.zeros((3, 3)) + [0, 0, 100]
    with pytest.raises(ValueError, match=r"faces index out of range \[0, 3\)"):
        render.rasterize(v, [[0, 1, 3]], H, W, F)
    with pytest.raises(ValueError, match=r"vertices_cam must have shape \(V, 3\)"):
        render.rasterize(np.zeros((3, 2)), [[0, 1, 2]], H, W, F)
    with pytest.raises(ValueError, match=r"faces must have shape \(F, 3\)"):
        render.rasterize(v, [[0, 1]], H, W, F)
    with pytest.raises(TypeError, match="faces must be integer"):
        render.rasterize(v, [[0.0, 1.0, 2.0]], H, W, F)
    with pytest.raises(ValueError, match="non-finite"):
        render.rasterize(v + [np.nan, 0, 0], [[0, 1, 2]], H, W, F)
    with pytest.raises(ValueError, match="focal_px is required"):
        render.rasterize(v, [[0, 1, 2]], H, W)
    with pytest.raises(ValueError, match="projection must be one of"):
        render.rasterize(v, [[0, 1, 2]], H, W, F, projection="fisheye")
    with pytest.raises(ValueError, match="height must be a positive int"):
        render.rasterize(v, [[0, 1, 2]], 0, W, F)
    with pytest.raises(ValueError, match=r"pos_map must have shape \(H, W, 3\)"):
        render.uv_position_map_mesh(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="mask must have shape"):
        render.uv_position_map_mesh(np.zeros((4, 4, 3)), mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match=r"vertex_attr"):
        render.interpolate(np.zeros(2), [[0, 1, 2]], np.zeros((2, 2), np.int32),
                           np.zeros((2, 2, 3)))


def test_pose_matrix_conventions():
    rot = render.pose_matrix(20.0, -10.0, 35.0)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    nose = np.array([0.0, 0.0, -1.0])                # a face's front points to -z
    np.testing.assert_allclose(render.pose_matrix(30, 0, 0) @ nose, [-s, 0, -c], atol=1e-12)
    np.testing.assert_allclose(render.pose_matrix(0, 30, 0) @ nose, [0, s, -c], atol=1e-12)
    np.testing.assert_allclose(render.pose_matrix(0, 0, 30) @ [1.0, 0, 0], [c, s, 0],
                               atol=1e-12)
    # Order: yaw first, then pitch, then roll.
    expected = (render.pose_matrix(0, 0, 35) @ render.pose_matrix(0, -10, 0)
                @ render.pose_matrix(20, 0, 0))
    np.testing.assert_allclose(rot, expected, atol=1e-12)


def test_look_at():
    r, t = render.look_at([0, 0, -500], [0, 0, 0])
    np.testing.assert_allclose(r, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(t, [0, 0, 500], atol=1e-9)
    # Camera on the +x axis looking at the origin, world -y up: the camera is the default
    # one turned by -90 deg about y, whose +x axis turns to world +z (image right).
    r, t = render.look_at([300, 0, 0], [0, 0, 0])
    np.testing.assert_allclose(r @ [0, 0, 1.0] + t, [1, 0, 300], atol=1e-9)
    np.testing.assert_allclose(r @ [0, -1.0, 0] + t, [0, -1, 300], atol=1e-9)
    with pytest.raises(ValueError, match="parallel"):
        render.look_at([0, 0, 0], [0, 10, 0])
