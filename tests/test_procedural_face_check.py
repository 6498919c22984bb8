"""tools/procedural_face_check.py (issue 20): the faces it draws are the trainer's own (training)
or no trainer's (unseen), its scores against a hand-worked face, and a whole run on an export."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "procedural_face_check.py")


def _load_tool():
    spec = importlib.util.spec_from_file_location("procedural_face_check_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pfc = _load_tool()


def _landmarks(nose_xy, eye_dx=10.0):
    """68 points, all at the nose except the ones ``points_from_68`` reads: eyes (36-47) at
    +-eye_dx px beside the nose and 8 px above it, cheeks (1, 31, 15, 35) 6 px beside it, chin (8)
    12 px below it."""
    x, y = nose_xy
    lm = np.tile(np.array([x, y], np.float32), (68, 1))
    lm[36:42] = (x - eye_dx, y - 8)
    lm[42:48] = (x + eye_dx, y - 8)
    lm[[1, 31]] = (x - 6, y)
    lm[[15, 35]] = (x + 6, y)
    lm[8] = (x, y + 12)
    return lm


def test_score_hand_worked_nose_on_a_plane():
    """A plane at 700 mm with a 3 x 3 px nose at 680 mm; a flat prediction at the plane's level.
    Truth in [0, 1]: nose 1, plane 1 - 20/250 = 0.92. The named points' disc radius is a tenth of
    the 20 px eye distance = 2 px: 13 pixel centres, 9 of them the nose's, so the true nose-vs-eyes
    contrast is 20 x 9/13 = 13.846 mm and the prediction's nose sits 13.846 mm too far. Face front
    = every pixel (all within 60 mm): RMSE = 20 mm x sqrt(9 / 4096), best flat face = the truth's
    sd."""
    depth = np.full((1, 64, 64), 700, np.uint16)
    depth[0, 31:34, 31:34] = 680
    pred = np.full((1, 64, 64), 0.92, np.float32)
    res = pfc.score(pred, depth, _landmarks((32.5, 32.5))[None])
    unit = np.where(depth[0] == 680, 1.0, 0.92)
    assert res["faces"] == 1
    assert res["face_front"]["rmse_mm"] == pytest.approx(20 * np.sqrt(9 / 4096), rel=1e-4)
    assert res["face_front"]["rmse_flat_mm"] == pytest.approx(unit.std() * 250, rel=1e-4)
    assert res["contrasts_true"]["nose_vs_eyes"] == pytest.approx(20 * 9 / 13, rel=1e-4)
    assert res["contrasts_true"]["nose_vs_cheeks"] == pytest.approx(20 * 9 / 13, rel=1e-4)
    assert res["contrasts_pred"]["nose_vs_eyes"] == pytest.approx(0.0, abs=1e-4)
    assert res["point_offsets_mm"]["nose_tip"] == pytest.approx(-20 * 9 / 13, rel=1e-4)
    for name in ("left_eye", "right_eye", "left_cheek", "right_cheek", "chin", "neck"):
        assert res["point_offsets_mm"][name] == pytest.approx(0.0, abs=1e-4), name
    # a perfect prediction: no error anywhere, the contrasts equal
    perfect = pfc.score(unit[None].astype(np.float32), depth, _landmarks((32.5, 32.5))[None])
    assert perfect["face_front"]["rmse_mm"] == pytest.approx(0.0, abs=1e-3)
    assert perfect["contrasts_pred"] == pytest.approx(perfect["contrasts_true"], abs=1e-3)


def test_importing_the_tool_defines_no_flags():
    """Flags are defined when the tool runs, not on import: tests import it beside the other
    tools, whose flags share names (--saved_model)."""
    from absl import flags

    before = set(flags.FLAGS)
    _load_tool()
    assert set(flags.FLAGS) == before


def test_score_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match=r"prediction \(1, 8, 8\), depth \(1, 8, 9\)"):
        pfc.score(np.zeros((1, 8, 8)), np.zeros((1, 8, 9), np.uint16), np.zeros((1, 68, 2)))


def test_training_faces_are_the_trainers_and_unseen_ones_are_not():
    """--faces=training draws exactly train_tsgan's first training faces of that data seed
    (``sources._synthetic``, identity i, sample 0); --faces=unseen draws identities 300,000+,
    and the data seed changes the faces."""
    from data_pipelines import sources

    rgb, depth, lm = pfc.make_faces("training", "target", 2, 32, data_seed=5)
    ref = list(sources._synthetic("target", "train", 32, 5,
                                  sources.SyntheticSize(identities=2, images_per_identity=1)))
    assert [f["identity"] for f in ref] == [0, 1]
    np.testing.assert_array_equal(rgb, np.stack([f["rgb"] for f in ref]))
    np.testing.assert_array_equal(depth, np.stack([f["depth"] for f in ref]))
    np.testing.assert_array_equal(lm, np.stack([f["landmarks"] for f in ref]))
    other_seed = pfc.make_faces("training", "target", 2, 32, data_seed=6)[0]
    assert not np.array_equal(rgb, other_seed)
    from data_pipelines import synthetic_faces as sf
    unseen = pfc.make_faces("unseen", "source", 1, 32, data_seed=0)[0]
    expected = sf.generate_face(300_000, 0, sf.FaceConfig(image_size=32, seed=0))["rgb"]
    np.testing.assert_array_equal(unseen[0], expected)
    assert pfc.UNSEEN_IDENTITY_OFFSET > sources.SYNTHETIC_TEST_IDENTITY_OFFSET
    with pytest.raises(ValueError, match="kind must be"):
        pfc.make_faces("held_out", "source", 1, 32, 0)


def test_tool_runs_on_an_export(tmp_path):
    """The binary on a tiny exported generator: both domains scored, the JSON written with the
    printed face-front RMSE; a missing SavedModel is named."""
    import json

    from depthlab.configs import tsgan_config
    from depthlab.export import export_depth_generator
    from depthlab.models.tsgan import build_generator

    cfg = tsgan_config("demo", image_size=32, gen_filters=4, gen_blocks=1)
    export = str(tmp_path / "saved_model")
    export_depth_generator(build_generator(cfg), export, 32)
    out = tmp_path / "check.json"
    res = subprocess.run([sys.executable, TOOL, f"--saved_model={export}", "--count=2",
                          "--image_size=32", "--faces=training", "--data_seed=1",
                          f"--output_json={out}"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["faces"] == "training" and data["data_seed"] == 1
    for domain in ("source", "target"):
        assert data[domain]["faces"] == 2
        assert f"{domain} (training, 2 faces, data seed 1): face front RMSE " \
               f"{data[domain]['face_front']['rmse_mm']:.1f} mm" in res.stdout
        assert set(data[domain]["contrasts_true"]) == {"nose_vs_eyes", "nose_vs_cheeks",
                                                       "chin_vs_neck"}
    missing = subprocess.run([sys.executable, TOOL, f"--saved_model={tmp_path / 'nope'}"],
                             capture_output=True, text=True, cwd=REPO)
    assert missing.returncode != 0
    assert f"--saved_model={tmp_path / 'nope'}: not a directory" in missing.stderr
