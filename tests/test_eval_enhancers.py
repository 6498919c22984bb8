"""Face enhancement evaluation (Tables IV-VII): library, eval_enhancers binary, compare_paper."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from depthlab import face_eval, training
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
    assert v[0]["hole_percentage"] == pytest.approx(100 * res[v[0]["enhancer"]]["hole_percentage"])


def test_paper_rows_use_the_paper_table_columns(evaluation):
    *_, result = evaluation
    rows = ev.paper_rows(result["results"])
    for table in ("face_enhancement_table4", "face_enhancement_table6"):
        with open(os.path.join(REPO, "experiments", "paper_tables", f"{table}.json")) as f:
            columns = json.load(f)["columns"]
        assert set(columns) <= set(rows["None"]), table


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
    data = json.loads(out_json.read_text())
    assert len(data["rows"]) == 9 and data["test_faces"] == 2
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
