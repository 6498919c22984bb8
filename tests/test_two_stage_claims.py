"""The two-stage text's stated numbers (experiments/paper_tables/two_stage_claims.json) beside
a run: ``runners.two_stage.claim_cells`` from eval results, printed by compare_paper."""

import json
import os
import subprocess
import sys

import pytest

from depthlab import reporting
from depthlab.runners import two_stage as runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

S1 = dict(batch_size=10, epochs=20, learning_rate=0.01, lr_decay=0.2, lr_decay_every=5,
          dataset="nyu_depth_v2", nyu_protocol="official_scenes",
          model={"output_hw": [256, 256]})
S2 = dict(batch_size=1, epochs=200, learning_rate=2e-4,
          model={"beta_1": 0.5, "beta_2": 0.999, "n_res_blocks": 9, "dropout": 0.5})


def _results():
    """Hand-made eval results: RGB only 0.60 m; 200 samples stage 1 0.50 m, two-stage 0.30 m."""
    return [
        {"num_samples": 0, "stage1": {"rmse": 0.60}, "settings": runner.run_settings(S1)},
        {"num_samples": 200, "stage1": {"rmse": 0.50}, "two_stage": {"rmse": 0.30},
         "settings": runner.run_settings(S1, S2)},
    ]


def test_claim_cells_by_hand():
    cells = runner.claim_cells(_results())
    # (0.50 - 0.30) / 0.50 = 40 %; (0.60 - 0.30) / 0.60 = 50 %
    assert cells["rmse_improvement_results"]["value"] == pytest.approx(40.0)
    assert cells["rmse_reduction_intro"]["value"] == pytest.approx(50.0)
    assert cells["min_samples_for_claim"]["value"] == 200
    table = reporting.load_paper_table("two_stage_claims")
    # every setting the text states equals ours at the defaults the text gives
    for key in ("stage1_batch_size", "stage1_epochs", "stage1_lr", "stage1_lr_decay_factor",
                "stage1_lr_decay_every", "stage2_batch_size", "stage2_epochs", "stage2_lr",
                "stage2_beta1", "stage2_beta2", "generator_resblocks", "dropout_rate",
                "stage2_input_size", "train_scenes", "test_scenes"):
        assert cells[key]["value"] == pytest.approx(table["rows"][key]["value"]), key
    assert set(cells) <= set(table["row_labels"])
    # fewer than 100 samples or no RGB-only run: the intro claim has no value of ours
    few = runner.claim_cells([dict(r, num_samples=50) for r in _results()[1:]])
    assert "rmse_reduction_intro" not in few and "rmse_improvement_results" in few


def test_compare_paper_prints_the_claims_beside_a_run(tmp_path):
    path = tmp_path / "two_stage_eval.json"
    path.write_text(json.dumps({"rows": {}, "paper_cells": {
        "two_stage_claims": runner.claim_cells(_results())}}))
    r = subprocess.run([sys.executable, "-m", "experiments.compare_paper",
                        "--table=two_stage_claims", f"--run_json={path}", "--run_name=ours"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    row = next(l for l in lines if "RMSE improvement, two-stage vs one-stage" in l)
    assert "| 40 |" in row and "40.0000" in row                  # paper 40, ours 40
    row = next(l for l in lines if "RMSE reduction, >= 100 samples" in l)
    assert "| 40 |" in row and "50.0000" in row
    row = next(l for l in lines if "stage 2 epochs" in l)
    assert "| 200 |" in row and "200.0000" in row
    row = next(l for l in lines if "RGB-only state of the art, KITTI" in l)
    assert row.rstrip().endswith("| - |")                          # nothing of ours
