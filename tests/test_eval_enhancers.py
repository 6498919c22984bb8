"""Face enhancement evaluation (Tables IV-VII): library, eval_enhancers binary, compare_paper."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from depthlab import training
from depthlab.runners import enhancer_eval as ev

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def evaluation():
    gt, degraded, near = ev.make_test_set(3, seed=5)
    enhancers = ev.handcrafted_enhancers()
    enhancers["Identity"] = lambda mm, n: ev._normalise(mm, n)
    return gt, degraded, near, ev.evaluate(enhancers, gt, degraded, near, seed=5)


def test_none_rows_match_a_direct_computation(evaluation):
    gt, degraded, near, result = evaluation
    none = result["results"]["None"]
    # direct: [0, 1] over [near, near + 250 mm], holes 1.0, RMSE over GT non-hole pixels
    for i in range(len(gt)):
        g, d = gt.depth_mm[i].astype(np.float64), degraded[i].astype(np.float64)
        gn = np.clip((g - near[i]) / 250.0, 0, 65534 / 65535)
        dn = np.where(d > 0, np.clip((d - near[i]) / 250.0, 0, 65534 / 65535), 1.0)
        want = np.sqrt(np.mean((dn - gn)[g > 0] ** 2))
        assert none["rmse_per_image"][i] == pytest.approx(want, rel=1e-4)
    assert none["falsification_Neutral"] == 0.0           # output == input
    assert result["results"]["Identity"]["mean"] == pytest.approx(none["mean"])


def test_tables_have_every_enhancer_and_iv_is_sorted(evaluation):
    *_, result = evaluation
    rows = ev.table_rows(result["results"], "IV")
    assert {r["enhancer"] for r in rows} == {"None", "Identity", "De-M2", "De-M8", "Hf-FFA",
                                            "Hf-NFA", "Hf-L", "Sp-Hf16", "Sp-HfU"}
    means = [r["mean"] for r in rows]
    assert means == sorted(means)
    # filling holes can only lower the hole percentage inside the face mask
    res = result["results"]
    for name in ("Hf-FFA", "Hf-NFA", "Sp-HfU"):
        assert res[name]["hole_percentage"] <= res["None"]["hole_percentage"]
    v = ev.table_rows(res, "V")
    r = res[v[0]["enhancer"]]
    assert v[0]["hole_percentage"] == (f"{100 * r['hole_percentage']:.3f} "
                                       f"({100 * r['hole_percentage_sd']:.3f})")


def test_paper_rows_use_the_paper_table_columns(evaluation):
    *_, result = evaluation
    rows = ev.paper_rows(result["results"])
    for table in ("face_enhancement_table4", "face_enhancement_table6",
                  "face_enhancement_table7"):
        with open(os.path.join(REPO, "experiments", "paper_tables", f"{table}.json")) as f:
            data = json.load(f)
        assert set(data["columns"]) <= set(rows["None"]), table
        if "sd_rows" in data:                              # Table VI: our sd beside theirs
            assert {c + "_sd" for c in data["columns"]} <= set(rows["None"])
    with open(os.path.join(REPO, "experiments", "paper_tables",
                           "face_enhancement_table5.json")) as f:
        extra = json.load(f)["ours_columns"]               # Table V: our own column group
    assert {c for k in extra for c in (k, k + "_sd")} <= set(rows["None"])


def test_eval_binary_and_compare_paper(tmp_path):
    from depthlab.models.enhancers import build_enhancer

    model_dir = tmp_path / "delta"
    model_dir.mkdir()
    build_enhancer("delta").save_weights(str(model_dir / "best.weights.h5"))
    training.write_json(str(model_dir / "config.json"), {"variant": "delta"})
    out_json, fig = tmp_path / "eval.json", tmp_path / "fig.png"
    run = subprocess.run(
        [sys.executable, "-m", "experiments.eval_enhancers",
         f"--model_dirs=DL-untrained={model_dir}", "--test_faces=2", f"--output_json={out_json}",
         f"--figure={fig}", "--table=IV,face_enhancement_table6"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Table IV" in run.stdout and "Table VI" in run.stdout and "DL-untrained" in run.stdout
    # Table VI also in the paper's layout, ours beside (line 1201's DL-Delta-1 as printed)
    beside = run.stdout.split("Table VI in the paper's layout, ours beside:")[1]
    assert "| DL-Delta-1 | 1.51 (0.53) | - | 4.08 (4.80) | - | 2.90 (3.91) | - |" in beside
    assert any(l.startswith("| DL-untrained | - | ") for l in beside.splitlines())
    data = json.loads(out_json.read_text())
    assert len(data["rows"]) == 9 and data["test_faces"] == 2
    assert data["filter_input"] == "paper_codes" and "SDK baselines fed: --filter_input=" \
        "paper_codes" in run.stdout
    assert set(data["subsets"]) == {"manual_landmark_holes", "landmark_holes", "pad_error"}
    assert fig.stat().st_size > 1000
    cmp = subprocess.run(
        [sys.executable, "-m", "experiments.compare_paper", "--table=face_enhancement_table4",
         f"--run_json={out_json}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert cmp.returncode == 0, cmp.stderr[-2000:]
    lines = cmp.stdout.splitlines()
    assert any(l.startswith("| paper | DL-Delta-1 | 0.0238") for l in lines)
    ours = [l for l in lines if l.startswith("| ours | Sp-HfU |")]
    assert len(ours) == 1 and f"{data['rows']['Sp-HfU']['rmse_mean']:.4f}" in ours[0]


def test_bad_model_dirs_flag_is_named(tmp_path):
    run = subprocess.run([sys.executable, "-m", "experiments.eval_enhancers",
                          "--model_dirs=nomodel"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "--model_dirs" in run.stderr and "nomodel" in run.stderr
    assert "Traceback" not in run.stderr
    # the old spelling maps onto --model_dirs with a one-line deprecation warning
    old = subprocess.run([sys.executable, "-m", "experiments.eval_enhancers",
                          f"--models=x={tmp_path}"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert old.returncode != 0 and "--models is deprecated; use --model_dirs" in old.stderr
    assert f"x={tmp_path} is not a train_enhancer run" in old.stderr


# ------------------------------------------------------------------ issue 18: conventions, VII
def test_per_image_statistics_match_a_direct_computation(evaluation):
    """Tables V-VII summaries recomputed here from the per-image measures (sample sd, n - 1)
    and Table VII's subsets from the inputs' landmark holes."""
    gt, degraded, near, result = evaluation
    inp = result["input"]
    res = result["results"]
    marks = gt.landmarks
    # Table V (None = the input itself): per-image hole fraction over the face mask
    holes = [np.mean(i[m] >= 1.0) for i, m in zip(inp, result["masks"])]
    assert res["None"]["hole_percentage"] == pytest.approx(np.mean(holes))
    assert res["None"]["hole_percentage_sd"] == pytest.approx(np.std(holes, ddof=1))
    # Table VII: nearest pixel of each landmark (centres at i + 0.5) is a hole in the input
    def rates(imgs, points):
        out = []
        for img, p in zip(imgs, points):
            col = np.floor(p[:, 0]).astype(int)
            row = np.floor(p[:, 1]).astype(int)
            out.append(float(np.mean(img[row, col] >= 1.0)))
        return np.array(out)
    dlib_in = rates(inp, marks)
    manual_pts = [np.stack([m[36:42].mean(0), m[42:48].mean(0), m[30], m[48], m[54], m[8]])
                  for m in marks]
    manual_in = rates(inp, manual_pts)
    assert result["subsets"]["landmark_holes"] == np.flatnonzero(dlib_in > 0).tolist()
    assert result["subsets"]["manual_landmark_holes"] == np.flatnonzero(manual_in > 0).tolist()
    sel = np.flatnonzero(dlib_in > 0)
    if sel.size:
        hf = rates(result["outputs"]["Hf-L"], marks)[sel]
        row = res["Hf-L"]
        assert [row["landmark_holes" + s] for s in ("", "_std", "_min", "_max")] == \
            pytest.approx([hf.mean(), hf.std(ddof=1) if sel.size > 1 else 0.0, hf.min(), hf.max()])


def test_sdk_baselines_take_the_papers_codes_by_default(evaluation):
    gt, degraded, near, _ = evaluation
    default = ev.handcrafted_enhancers()
    codes, mm = ev.handcrafted_enhancers("paper_codes"), ev.handcrafted_enhancers("millimetres")
    np.testing.assert_array_equal(default["Sp-Hf16"](degraded, near),
                                  codes["Sp-Hf16"](degraded, near))
    # delta 20 codes (0.08 mm) barely smooths; delta 20 mm smooths 15 mm noise: the outputs differ
    assert not np.array_equal(codes["Sp-Hf16"](degraded, near), mm["Sp-Hf16"](degraded, near))
    # the paper-codes path is the codes through the SDK filter, 65535 holes in and out
    from depthlab import handcrafted as hc
    want = hc.paper_enhancer("Hf-L")(ev.to_codes(degraded, near)) / 65535.0
    np.testing.assert_array_equal(codes["Hf-L"](degraded, near), want)
    # the binary's flag choices are the library's conventions, the paper's first
    helptext = subprocess.run([sys.executable, "-m", "experiments.eval_enhancers", "--help"],
                              cwd=REPO, capture_output=True, text=True, timeout=120).stdout
    flag = helptext.split("--filter_input:")[1].split("--")[0]
    assert flag.lstrip().startswith("<" + "|".join(hc.INPUT_CONVENTIONS) + ">")
    assert "(default: 'paper_codes')" in flag and hc.INPUT_CONVENTIONS[0] == "paper_codes"
    with pytest.raises(ValueError, match="convention must be one of"):
        ev.handcrafted_enhancers("mm")


def test_eval_inputs_in_the_wrong_convention_are_refused(evaluation):
    gt, degraded, near, _ = evaluation
    bad = degraded.copy()
    bad[bad == 0] = 65535                                   # the paper's holes in millimetres
    with pytest.raises(ValueError, match=r"enhancer_eval.evaluate: degraded: depth holds \d+ "
                                         r"pixel\(s\) at 65535"):
        ev.evaluate({}, gt, bad, near)
    with pytest.raises(ValueError, match="pad_subset"):
        ev.evaluate({}, gt, degraded, near, pad_subset="some")


def test_exported_enhancer_refuses_zero_hole_input(tmp_path):
    import keras
    import tensorflow as tf

    from depthlab import export

    inp = keras.Input((16, 16, 1))
    model = keras.Model(inp, keras.layers.Conv2D(1, 1, activation="sigmoid")(inp))
    serve = tf.saved_model.load(export.export_enhancer(model, str(tmp_path / "sm"))) \
        .signatures["serving_default"]
    codes = np.full((2, 16, 16, 1), 30000, np.uint16)
    codes[:, :2] = 65535                                    # paper holes: fine
    assert serve(depth_uint16=tf.constant(codes))["depth"].shape == (2, 16, 16, 1)
    mm = np.full((2, 16, 16, 1), 600, np.uint16)
    mm[1, :4] = 0                                           # image 1: 25 % zeros, no 65535
    mm[0, :4] = 65535
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"serving_default input depth_uint16: image\(s\).*\[1\].*looks like "
                             r"0 = hole depth"):
        serve(depth_uint16=tf.constant(mm))
    lenient = tf.saved_model.load(export.export_enhancer(model, str(tmp_path / "sm2"),
                                                         allow_zero_code=True))
    out = lenient.signatures["serving_default"](depth_uint16=tf.constant(mm))
    assert out["depth"].shape == (2, 16, 16, 1)
