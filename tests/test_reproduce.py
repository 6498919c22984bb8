"""experiments.reproduce on a fake documented run (tiny python -c commands writing JSON):
hand-computed mean / sd / min / max, the paper's number, the paper's order over seeds, a
collapsed seed and a failing seed are FAILED with exit code 1, --dry_run runs nothing."""

import json
import math
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# seed s writes err_A = [1, 2, 4][s], err_B = 2.5; seed 1 optionally reports a collapse
WRITE = ("{python} -c \"import json, os; os.makedirs('{work_dir}/model', exist_ok=True); "
         "json.dump(dict(rows=dict(A=dict(err=[1.0, 2.0, 4.0][{seed}]), B=dict(err=2.5))), "
         "open('{work_dir}/eval.json', 'w'))\"")
COLLAPSE = ("{python} -c \"import json; s = {seed}; s == 1 and json.dump(dict(collapsed=True, "
            "reason='output variance 0 << target variance 1'), "
            "open('{work_dir}/model/collapse.json', 'w'))\"")


def _registry(tmp_path, commands):
    run = {"description": "fake", "commands": commands, "results": "{work_dir}/eval.json",
           "model_dirs": ["{work_dir}/model"],
           "metrics": {"A err": {"path": ["rows", "A", "err"],
                                 "paper": {"table": "face_enhancement_table4",
                                           "row": "DL-Delta-1", "column": "rmse_mean"}},
                       "B err": {"path": ["rows", "B", "err"]}},
           "orders": [{"better": "A err", "worse": "B err", "lower_is_better": True,
                       "note": "fake"}]}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"fake": run}))
    return str(path)


def _reproduce(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "experiments.reproduce", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def test_mean_sd_min_max_and_order_over_seeds(tmp_path):
    reg = _registry(tmp_path, [WRITE])
    r = _reproduce("--run=fake", "--seeds=0,1,2", f"--work_dir={tmp_path / 'w'}",
                   f"--registry={reg}")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    a = summary["metrics"]["A err"]
    # 1, 2, 4: mean 7/3, sample sd sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2) = sqrt(7/3)
    assert a["mean"] == pytest.approx(7 / 3)
    assert a["sd"] == pytest.approx(math.sqrt(7 / 3))
    assert (a["min"], a["max"], a["n"]) == (1.0, 4.0, 3)
    assert a["paper"] == pytest.approx(0.0238)            # Table IV, DL-Delta-1
    assert summary["metrics"]["B err"]["sd"] == pytest.approx(0.0)
    order = summary["orders"][0]
    assert order["kept"] == [0, 1] and order["compared"] == [0, 1, 2]
    assert "| A err | 0.0238 | 2.3333 | 1.5275 | 1.0000 | 4.0000 | 3 |" in r.stdout
    assert "kept by 2/3 seeds" in r.stdout
    assert "all seeds passed" in r.stdout


def test_a_collapsed_seed_and_a_failing_seed_fail_the_run(tmp_path):
    reg = _registry(tmp_path, [WRITE, COLLAPSE, "{python} -c \"import sys; sys.exit(3 if {seed} == 2 else 0)\""])
    r = _reproduce("--run=fake", "--seeds=0,1,2", f"--work_dir={tmp_path / 'w'}",
                   f"--registry={reg}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "seed 0: ok" in r.stdout
    assert "seed 1: FAILED: collapsed:" in r.stdout and "output variance 0 << target" in r.stdout
    assert "seed 2: FAILED: exit code 3" in r.stdout
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert set(summary["failed"]) == {"1", "2"}
    assert "2.0000 (FAILED)" in r.stdout                  # seed 1's value, marked


def test_dry_run_prints_the_commands_and_runs_nothing(tmp_path):
    reg = _registry(tmp_path, [WRITE])
    r = _reproduce("--run=fake", "--seeds=3,7", f"--work_dir={tmp_path / 'w'}",
                   f"--registry={reg}", "--dry_run")
    assert r.returncode == 0, r.stderr
    assert f"# seed 7 (in {tmp_path / 'w' / 'seed7'})" in r.stdout
    assert "[1.0, 2.0, 4.0][3]" in r.stdout and f"{tmp_path / 'w' / 'seed3'}/eval.json" in r.stdout
    assert not (tmp_path / "w").exists()
    # every documented run expands for a dry run
    for name in ("dl_delta", "tsgan_demo", "cyclegan_depth_suarez", "two_stage_middlebury",
                 "dsr_x4"):
        r = _reproduce(f"--run={name}", "--seeds=0,1", f"--work_dir={tmp_path / 'x'}",
                       "--dry_run")
        assert r.returncode == 0 and "--seed=1" in r.stdout, (name, r.stderr)


def test_bad_flags_are_clear_errors(tmp_path):
    r = _reproduce("--run=nope", "--dry_run")
    assert r.returncode != 0 and "--run='nope' is not a documented run" in r.stderr
    r = _reproduce("--run=dsr_x4", "--seeds=0,x", "--dry_run")
    assert r.returncode != 0 and "--seeds must be comma-separated integers" in r.stderr


def _flags(command: str) -> set:
    """The ``--flag=value`` words of a shell command, without the run folders and the seed."""
    words = command.replace("\\\n", " ").split()
    skip = ("--model_dir", "--model_dirs", "--output_json", "--seed", "--figure")
    return {w for w in words if w.startswith("--") and not w.startswith(skip)}


def test_dl_delta_entry_runs_the_readme_commands():
    """The registry's DL-Delta run is the README's documented DL-Delta command and its
    evaluation (same flags; only the folders, the seed and the printed table differ), so the
    seeds it reruns are those of the documented numbers."""
    from experiments.documented_runs import DOCUMENTED_RUNS

    readme = open(os.path.join(REPO, "README.md")).read()
    blocks = [b for b in readme.split("python3 -m experiments.")
              if b.startswith(("train_enhancer --variant=delta --model_dir=runs/delta1 ",
                               "eval_enhancers --model_dirs=DL-Delta-1=runs/delta1 "))]
    assert len(blocks) == 2
    readme_flags = [_flags(b.split("\n#")[0].split("\npython3")[0]) for b in blocks]
    train, evaluate = DOCUMENTED_RUNS["dl_delta"]["commands"]
    assert _flags(train) == readme_flags[0]
    assert _flags(evaluate) - {"--table=IV"} == readme_flags[1]
