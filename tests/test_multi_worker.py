"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train TS-GAN or the DL-Delta
enhancer and end with identical weights, and with the same losses and weights as one worker
on the same global batch and seed (within float32 all-reduce rounding). Each worker gets its
own --model_dir, so the test also sees that only the chief (worker 0) writes files."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the slow end-to-end set (.ci/run; pytest --slow)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# steps: train steps (one epoch); losses: logged loss terms; chief: files the chief writes.
CASES = {
    "tsgan": dict(steps=3, losses=6,            # the demo preset's: + the landmark head's
                  chief=("checkpoints/checkpoint", "metrics_final.json", "config.json",
                         "g_a2b.keras")),
    # DL-Delta at 256x256 (the runner's only size), global batch 2: ~1.4 CPU-s per step.
    "enhancer": dict(steps=2, losses=1,
                     chief=("checkpoints/checkpoint", "best.weights.h5", "best.json",
                            "config.json")),
}


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run_workers(tmp_path, model, steps=3):
    ports = ",".join(map(str, _free_ports(2)))
    procs, outs = [], []
    for i in range(2):
        out = str(tmp_path / f"worker{i}.npz")
        outs.append(out)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.workers.train_worker", f"--model={model}",
             "--strategy=multi_worker", f"--worker_index={i}", f"--ports={ports}",
             f"--model_dir={tmp_path / f'multi{i}'}", f"--out={out}", f"--steps={steps}"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    single = str(tmp_path / "single.npz")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.workers.train_worker", f"--model={model}",
         "--strategy=default", f"--model_dir={tmp_path / 'single'}", f"--out={single}",
         f"--steps={steps}"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return [dict(np.load(o)) for o in outs], dict(np.load(single))


def _weights(d):
    return [d[k] for k in sorted((k for k in d if k.startswith("w")), key=lambda k: int(k[1:]))]


def _files(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, names in os.walk(folder) for f in names)


@pytest.mark.parametrize("model", sorted(CASES))
def test_two_workers_agree_with_each_other_and_with_one_worker(tmp_path, model):
    case = CASES[model]
    (w0, w1), single = _run_workers(tmp_path, model, steps=case["steps"])
    for a, b in zip(_weights(w0), _weights(w1)):
        np.testing.assert_array_equal(a, b)            # one all-reduce, identical updates
    # Same global batch and seed as one worker. Step 1 (before any update) agrees to float32
    # all-reduce rounding: the data split and the loss scaling are exact (masked means use
    # the global valid-pixel count, losses.masked_mean). Adam's first updates are
    # ~lr * sign(gradient), so the few gradients that are zero up to rounding move either
    # way and later steps drift apart slowly: compare them loosely.
    losses = [k for k in single if k.startswith("loss_")]
    assert len(losses) == case["losses"]
    assert all(len(single[k]) == case["steps"] for k in losses)
    for k in losses:
        np.testing.assert_allclose(w0[k][0], single[k][0], rtol=2e-6, err_msg=k)
        np.testing.assert_allclose(w0[k], single[k], rtol=5e-3, err_msg=k)
    init = [single[f"init{i}"] for i in range(len(_weights(single)))]
    for a, b in zip(init, [w0[f"init{i}"] for i in range(len(init))]):
        np.testing.assert_array_equal(a, b)
    flat = lambda ws: np.concatenate([w.ravel() for w in ws])  # noqa: E731
    travel = np.linalg.norm(flat(_weights(single)) - flat(init))
    gap = np.linalg.norm(flat(_weights(w0)) - flat(_weights(single)))
    assert travel > 0 and gap < 0.2 * travel, (gap, travel)
    chief_files = _files(tmp_path / "multi0")
    for name in case["chief"]:
        assert name in chief_files, chief_files
    assert _files(tmp_path / "multi1") == []           # the other worker writes nothing
