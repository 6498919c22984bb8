"""Enhancer training runner: chunked schedule, best-only saving, resume, repeat flags."""

import os
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines import face_enhancement as fe
from data_pipelines.degradation import DegradationConfig
from depthlab import training
from depthlab.runners import enhancer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gt(n=4):
    return fe.synthetic_ground_truth(n, seed=1, image_size=256)


@pytest.mark.slow
def test_chunked_training_saves_best_only_and_resumes(tmp_path):
    opts = enhancer.EnhancerRunOptions(model_dir=str(tmp_path), variant="delta", ground_truths=4,
                                       chunk_size=2, epochs_per_chunk=2, steps_per_epoch=1,
                                       batch_size=2)
    summary = enhancer.train(opts, gt=_gt(), verbose=False)
    losses = [h["loss"] for h in summary["history"]]
    assert len(losses) == 4                                   # 2 chunks x 2 epochs
    best = training.read_json(str(tmp_path / "best.json"))
    assert best["loss"] == pytest.approx(min(losses), rel=1e-6)
    assert best["epoch"] == int(np.argmin(losses)) + 1
    model = enhancer.load_enhancer(str(tmp_path))
    assert model.name == "dl_delta"
    # Rerunning the finished run trains nothing more.
    again = enhancer.train(opts, gt=_gt(), verbose=False)
    assert again["history"] == []
    with pytest.raises(ValueError, match="--variant: .delta. -> .alpha."):
        enhancer.train(enhancer.EnhancerRunOptions(model_dir=str(tmp_path), variant="alpha",
                                                   ground_truths=4, chunk_size=2),
                       gt=_gt(), verbose=False)


def test_options_and_flags_are_validated():
    with pytest.raises(ValueError, match="--variant"):
        enhancer.EnhancerRunOptions(model_dir="x", variant="omega")
    with pytest.raises(ValueError, match="--chunk_size"):
        enhancer.EnhancerRunOptions(model_dir="x", chunk_size=0)
    res = subprocess.run([sys.executable, "-m", "experiments.train_enhancer", "--model_dir=/tmp/x",
                          "--repeat=2"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode != 0 and "init_from" in res.stderr


def test_missing_model_dirs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope/config\.json does not exist"):
        enhancer.load_enhancer(str(tmp_path / "nope"))
    opts = enhancer.EnhancerRunOptions(model_dir=str(tmp_path / "run"), ground_truths=2,
                                       chunk_size=2, epochs_per_chunk=1, steps_per_epoch=1,
                                       batch_size=2, repeat=2,
                                       init_from=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"--init_from: .*missing/best\.weights\.h5"):
        enhancer.train(opts, gt=_gt(2), verbose=False)
