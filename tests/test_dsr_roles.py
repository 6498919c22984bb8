"""DSR role exchange per epoch (Algorithm 1 of Sun et al. 2021, text lines 5-12): the teacher
is chosen at the start of each stage-2 epoch from the previous epoch's average errors and held
for the whole epoch. The averages are recomputed here from the per-step errors in roles.csv."""

import csv
import os

import keras
import numpy as np
import pytest

from depthlab.runners import dsr_distill as runner
from depthlab.runners.dsr_options import DSROptions


class _SabotageDSRNet(keras.callbacks.Callback):
    """At the start of ``epoch`` (0-based, after the model chose that epoch's teacher) makes
    DSRNet's output far off (bias 5 on its last conv), so its error of that epoch is high."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.dsrnet.out_conv.bias.assign([5.0])


def _roles(model_dir):
    with open(os.path.join(model_dir, "roles.csv")) as f:
        return [dict(step=int(r["step"]), stage=int(r["stage"]), role=float(r["role"]),
                     e_dsr=float(r["e_dsr"]), e_de=float(r["e_de"])) for r in csv.DictReader(f)]


def _train(model_dir, steps, **changes):
    opts = runner.DSRExperiment().tiny_options(str(model_dir), steps_per_epoch=steps, **changes)
    return runner.train(opts, extra_callbacks=[_SabotageDSRNet(1)], verbose=False)


@pytest.fixture(scope="module")
def epoch_run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("dsr_epoch_roles")
    _train(model_dir, 3, epochs=4, stage1_epochs=1)
    return _roles(model_dir)


def test_teacher_is_constant_per_epoch_and_follows_the_previous_epochs_mean(epoch_run):
    steps = 3
    rows = epoch_run
    assert [r["step"] for r in rows] == list(range(1, 13))
    epochs = [rows[i:i + steps] for i in range(0, len(rows), steps)]
    assert [r["stage"] for r in epochs[0]] == [1] * steps and all(
        r["role"] == -1.0 for r in epochs[0])
    chosen = []
    for prev, cur in zip(epochs, epochs[1:]):
        assert {r["stage"] for r in cur} == {2}
        roles = {r["role"] for r in cur}
        assert len(roles) == 1, f"the teacher changed within an epoch: {cur}"
        mean_dsr = np.mean([r["e_dsr"] for r in prev])
        mean_de = np.mean([r["e_de"] for r in prev])
        assert abs(mean_dsr - mean_de) > 1e-4 * max(mean_dsr, mean_de)   # not a near tie
        want = 1.0 if mean_dsr < mean_de else 0.0                         # line 9: "<"
        assert roles == {want}
        chosen.append(want)
    # epoch 2: DSRNet (bicubic + residual) beat the random DENet in epoch 1 and teaches,
    # although it was made worse at the start of epoch 2, every step of which it then loses
    assert chosen[0] == 1.0
    assert all(r["e_dsr"] > r["e_de"] for r in epochs[1])      # per batch: DENet would teach
    # epoch 3: epoch 2's means favour DENet, so the roles exchange
    assert chosen[1] == 0.0


def test_per_batch_option_chooses_on_each_batch(tmp_path):
    _train(tmp_path, 2, epochs=2, stage1_epochs=1, role_granularity="batch")
    rows = [r for r in _roles(tmp_path) if r["stage"] == 2]
    assert len(rows) == 2
    for r in rows:                   # sabotaged at the start of epoch 2: DENet on every batch
        assert r["e_dsr"] > r["e_de"] and r["role"] == 0.0


def test_resumed_run_chooses_from_the_epoch_before_the_checkpoint(tmp_path):
    """The running sums are checkpointed: a run stopped after epoch 2 (DSRNet sabotaged, so
    DENet had the lower mean) and resumed picks DENet for epoch 3, from epoch 2's errors."""
    _train(tmp_path, 2, epochs=2, stage1_epochs=1)
    _train(tmp_path, 2, epochs=3, stage1_epochs=1)           # resumes after epoch 2
    rows = _roles(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    e2, e3 = rows[2:4], rows[4:6]
    assert np.mean([r["e_dsr"] for r in e2]) > np.mean([r["e_de"] for r in e2])
    assert {r["role"] for r in e2} == {1.0} and {r["role"] for r in e3} == {0.0}


def test_role_granularity_option():
    assert DSROptions.__dataclass_fields__["role_granularity"].default == "epoch"
    assert runner.dsr_config("demo").role_granularity == "epoch"
    with pytest.raises(ValueError, match="role_granularity"):
        runner.dsr_config("demo", role_granularity="step")
    # a run recorded before the option existed chose per batch: its records read as 'batch'
    assert runner.DSRExperiment.legacy_defaults["role_granularity"] == "batch"


def test_nyu_protocol_defaults_to_first1000_for_dsr(tmp_path):
    from data_pipelines import nyu_depth_v2 as nyu
    from depthlab.core.options import OptionsError

    nyu.write_labeled_fixture(tmp_path / "nyu_depth_v2_labeled.mat", num_frames=6, height=32,
                              width=48)
    kw = dict(model_dir=str(tmp_path / "run"), dataset="nyu_depth_v2", data_dir=str(tmp_path))
    assert DSROptions(**kw).nyu_protocol == "first1000"
    with pytest.raises(OptionsError, match="splits.mat"):
        DSROptions(**kw, nyu_protocol="official_scenes")
    assert DSROptions(model_dir=str(tmp_path / "r2")).nyu_protocol is None
