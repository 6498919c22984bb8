"""The one run lifecycle (depthlab/core) through a toy experiment registered by its public
hooks: options declared once -> flags, two training steps, the resume rule, the lock, the
export-dir check before training, config overrides (issue 17)."""

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Optional, Tuple

import numpy as np
import pytest
from absl import flags

from depthlab.core import experiment as experiment_lib
from depthlab.core import options as options_lib
from depthlab.core import registry, run as run_lib
from depthlab.core.options import option


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    units: int = 1
    scale: float = 2.0
    sizes: Tuple[int, ...] = (4, 8)
    note: Optional[str] = None

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ToyOptions(options_lib.CommonOptions):
    epochs: int = option(1, "Epochs.", lower=1, extends=True)
    steps_per_epoch: int = option(2, "Steps per epoch.", lower=1)
    batch_size: int = option(4, "Global batch.", lower=1)
    learning_rate: float = option(0.05, "SGD learning rate.", lower=0.0)
    kind: str = option("linear", "Which toy.", choices=("linear", "affine"))
    config_override: Tuple[str, ...] = options_lib.config_override_option()

    def check(self):
        if self.learning_rate == 0:
            raise options_lib.OptionsError("--learning_rate must be > 0")


class ToyExperiment(experiment_lib.Experiment):
    """y = scale * x + 1 by one Dense unit; the public hooks only."""

    Options = ToyOptions

    def config(self, opts):
        return options_lib.apply_overrides(ToyConfig(), opts.config_override)

    def preset_config(self, opts):
        return ToyConfig()

    def build_data(self, run):
        rng = np.random.default_rng(run.opts.seed)
        x = rng.normal(size=(64, 1)).astype("float32")
        return x, (run.config.scale * x + 1.0).astype("float32")

    def build_model(self, run, data):
        import keras

        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(run.config.units)])
        model.compile(optimizer=keras.optimizers.SGD(run.opts.learning_rate), loss="mse")
        model.optimizer.build(model.trainable_variables)
        return model

    def train_dataset(self, run, data, phase, first_epoch):
        import tensorflow as tf

        x, y = data     # a resumed run continues the stream where it stopped
        return (tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(run.batch_size)
                .skip(first_epoch * phase.steps_per_epoch))

    def evaluate(self, run, model, data):
        x, y = data
        return {"mse": float(np.mean((model.predict(x, verbose=0) - y) ** 2))}

    def export(self, run, model, export_dir):
        os.makedirs(export_dir)
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
            f.write(b"toy")
        return export_dir


@pytest.fixture(scope="module")
def toy():
    registry.EXPERIMENTS.register("toy_regression", ToyExperiment, replace=True)
    ToyExperiment.name = "toy_regression"
    yield registry.get_experiment("toy_regression")
    registry.EXPERIMENTS.unregister("toy_regression")


def test_toy_experiment_trains_two_steps_through_the_lifecycle(toy, tmp_path):
    opts = ToyOptions(model_dir=str(tmp_path / "run"), epochs=1, steps_per_epoch=2)
    out = run_lib.run(toy(), opts, verbose=False)
    assert len(out["batch_history"]) == 2                       # exactly two steps
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["trainer"] == "toy_regression" and record["model"]["scale"] == 2.0
    assert record["learning_rate"] == 0.05
    final = json.loads((tmp_path / "run" / "metrics_final.json").read_text())
    assert final["mse"] == pytest.approx(out["final"]["mse"])
    assert os.path.exists(tmp_path / "run" / "checkpoints" / "checkpoint")
    assert not os.path.exists(tmp_path / "run" / run_lib.LOCK_FILE)   # released


def test_resume_rule_changed_field_refused_by_name_epochs_may_grow(toy, tmp_path):
    d = str(tmp_path / "run")
    first = run_lib.run(toy(), ToyOptions(model_dir=d, epochs=1), verbose=False)
    with pytest.raises(run_lib.ResumeError, match=r"--learning_rate: 0\.05 -> 0\.1"):
        run_lib.run(toy(), ToyOptions(model_dir=d, epochs=1, learning_rate=0.1), verbose=False)
    with pytest.raises(run_lib.ResumeError, match=r"model config scale: 2\.0 -> 3\.0"):
        run_lib.run(toy(), ToyOptions(model_dir=d, epochs=1, config_override=("scale=3",)),
                    verbose=False)
    # a finished run extended by --epochs trains exactly the new epoch's steps
    more = run_lib.run(toy(), ToyOptions(model_dir=d, epochs=2), verbose=False)
    assert more["run"].status == "resume" and more["run"].initial_epoch == 1
    assert len(more["batch_history"]) == 2
    # the same epochs again: nothing to train, same weights as the first extension
    again = run_lib.run(toy(), ToyOptions(model_dir=d, epochs=2), verbose=False)
    assert again["batch_history"] == []
    np.testing.assert_array_equal(again["model"].get_weights()[0], more["model"].get_weights()[0])
    assert first["run"].status == "new"


def test_resumed_run_equals_uninterrupted_run(toy, tmp_path):
    a = run_lib.run(toy(), ToyOptions(model_dir=str(tmp_path / "a"), epochs=2), verbose=False)
    run_lib.run(toy(), ToyOptions(model_dir=str(tmp_path / "b"), epochs=1), verbose=False)
    b = run_lib.run(toy(), ToyOptions(model_dir=str(tmp_path / "b"), epochs=2), verbose=False)
    for wa, wb in zip(a["model"].get_weights(), b["model"].get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_failed_start_leaves_nothing_that_blocks_the_corrected_rerun(toy, tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    # a config.json without any checkpoint: a run that died before its first epoch
    (d / "config.json").write_text(json.dumps({"trainer": "toy_regression",
                                               "learning_rate": 9.0}))
    out = run_lib.run(toy(), ToyOptions(model_dir=str(d)), verbose=False)
    assert out["run"].status == "restart"
    assert json.loads((d / "config.json").read_text())["learning_rate"] == 0.05


def test_invalid_options_write_nothing(tmp_path):
    with pytest.raises(options_lib.OptionsError, match="--kind='cubic' is not one of"):
        ToyOptions(model_dir=str(tmp_path / "x"), kind="cubic")
    with pytest.raises(options_lib.OptionsError, match="--learning_rate must be > 0"):
        ToyOptions(model_dir=str(tmp_path / "x"), learning_rate=0.0)
    with pytest.raises(options_lib.OptionsError, match="--epochs=0 is below"):
        ToyOptions(model_dir=str(tmp_path / "x"), epochs=0)
    assert not (tmp_path / "x").exists()


def test_existing_export_dir_refused_before_training(toy, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "saved_model.pb").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="export"):
        run_lib.run(toy(), ToyOptions(model_dir=str(tmp_path / "run"), export_dir=str(export)),
                    verbose=False)
    assert not (tmp_path / "run").exists()


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_one(tmp_path):
    lock_path = tmp_path / run_lib.LOCK_FILE
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock_path.write_text(str(sleeper.pid))
        with pytest.raises(RuntimeError, match=f"pid {sleeper.pid}"):
            run_lib.RunLock(str(tmp_path)).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    lock = run_lib.RunLock(str(tmp_path))
    lock.acquire()                              # the owner is dead: taken over
    import socket

    assert lock_path.read_text() == f"{os.getpid()}@{socket.gethostname()}"
    lock.release()
    lock_path.write_text("1@another-host")        # another host's process: not checkable here
    with pytest.raises(RuntimeError, match="pid 1 on another-host"):
        run_lib.RunLock(str(tmp_path)).acquire()
    lock_path.unlink()
    lock = run_lib.RunLock(str(tmp_path))
    lock.acquire()
    lock.release()
    assert not lock_path.exists()


def test_flags_are_generated_from_the_options_dataclass():
    fv = flags.FlagValues()
    options_lib.define_flags(ToyOptions, flag_values=fv)
    fv(["prog", "--model_dir=/tmp/x", "--kind=affine", "--epochs=3",
        "--config_override=scale=1.5", "--config_override=sizes=1,2,3"])
    assert fv["kind"].help == "<linear|affine>: Which toy." and fv["strategy"].value == "default"
    assert set(ToyOptions.__dataclass_fields__) <= set(fv)
    opts = options_lib.from_flags(ToyOptions, fv)
    assert (opts.kind, opts.epochs, opts.learning_rate) == ("affine", 3, 0.05)
    cfg = options_lib.apply_overrides(ToyConfig(), opts.config_override)
    assert cfg.scale == 1.5 and cfg.sizes == (1, 2, 3)
    with pytest.raises(flags.IllegalFlagValueError):
        fv["epochs"].parse("0")                 # the bound is in the flag itself
    with pytest.raises(options_lib.OptionsError, match="no field 'lr'; fields"):
        options_lib.apply_overrides(ToyConfig(), ["lr=1"])
    with pytest.raises(options_lib.OptionsError, match="not a valid float"):
        options_lib.apply_overrides(ToyConfig(), ["scale=big"])
    assert options_lib.apply_overrides(ToyConfig(), ["note=none"]).note is None
    assert options_lib.resume_fields(opts) == ["seed", "mixed_precision", "steps_per_epoch",
                                               "batch_size", "learning_rate", "kind"]


def test_core_modules_do_not_import_tensorflow():
    code = ("import sys; import depthlab.core.options, depthlab.core.registry, "
            "depthlab.core.cli, depthlab.core.experiment, depthlab.core.run; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_registry_lists_names_in_errors():
    reg = registry.Registry("dataset")
    reg.register("a", 1)
    with pytest.raises(registry.RegistryError, match=r"unknown dataset 'b'; registered: \['a'\]"):
        reg.get("b")
    with pytest.raises(registry.RegistryError, match="already registered"):
        reg.register("a", 2)


def test_dataset_registry_views_and_data_dir_errors():
    from data_pipelines import registry as data_registry

    assert "synthetic_faces" in data_registry.names(view="paired_faces")
    assert "lfw_faces" not in data_registry.names(view="paired_faces")      # RGB only
    with pytest.raises(data_registry.RegistryError, match="has no 'paired_faces' reader"):
        data_registry.get("lfw_faces").reader("paired_faces")
    with pytest.raises(ValueError, match="--dataset=curtinfaces needs --data_dir"):
        data_registry.check_data_dir("curtinfaces", None)
    data_registry.check_data_dir("synthetic_faces", None)                  # embedded


def test_remote_model_dir_refused_up_front(tmp_path):
    with pytest.raises(options_lib.OptionsError, match="--model_dir=gs://b/run: remote paths"):
        ToyOptions(model_dir="gs://b/run")
    assert not os.path.exists("gs:")


def test_orphans_of_a_killed_run_are_removed(toy, tmp_path):
    d = tmp_path / "run"
    run_lib.run(toy(), ToyOptions(model_dir=str(d), epochs=1), verbose=False)
    (d / ".tmp_config.json").write_text("{")                   # a killed atomic write
    (d / "checkpoints" / "ckpt-2_temp").mkdir()                # a killed checkpoint write
    (d / "checkpoints" / "ckpt-2_temp" / "part-0").write_text("x")
    (tmp_path / ".export_tmp_abc").mkdir()                     # a killed export
    run_lib.run(toy(), ToyOptions(model_dir=str(d), epochs=2,
                                  export_dir=str(tmp_path / "export")), verbose=False)
    assert not (d / ".tmp_config.json").exists()
    assert not (d / "checkpoints" / "ckpt-2_temp").exists()
    assert not (tmp_path / ".export_tmp_abc").exists()
    assert (tmp_path / "export" / "saved_model.pb").exists()


def test_same_command_on_a_finished_exported_run_changes_nothing(toy, tmp_path):
    d, export = tmp_path / "run", tmp_path / "export"
    opts = ToyOptions(model_dir=str(d), epochs=1, export_dir=str(export))
    first = run_lib.run(toy(), opts, verbose=False)
    stamp = os.path.getmtime(d / "metrics_final.json")
    again = run_lib.run(toy(), opts, verbose=False)
    assert again["run"].status == "finished" and again["model"] is None
    assert again["final"]["mse"] == pytest.approx(first["final"]["mse"])
    assert os.path.getmtime(d / "metrics_final.json") == stamp      # not rewritten
    assert run_lib.finished_epochs(str(d)) == 1
    # more epochs with the old export still there: refused before any work
    with pytest.raises(FileExistsError, match="export"):
        run_lib.run(toy(), ToyOptions(model_dir=str(d), epochs=2, export_dir=str(export)),
                    verbose=False)
    assert run_lib.finished_epochs(str(d)) == 1


def test_non_finite_loss_stops_the_run_before_its_checkpoint(toy, tmp_path):
    from depthlab import training

    d = tmp_path / "run"
    with pytest.raises(training.NonFiniteLossError, match="not finite at step"):
        run_lib.run(toy(), ToyOptions(model_dir=str(d), epochs=1, steps_per_epoch=50,
                                      learning_rate=1e30), verbose=False)
    assert not run_lib.has_checkpoint(str(d))                  # no all-NaN model saved
    assert not (d / run_lib.LOCK_FILE).exists()                # lock released


def test_resume_accepts_older_trainer_names_and_config_fields_added_later(tmp_path):
    d = tmp_path / "run"
    (d / "checkpoints").mkdir(parents=True)
    (d / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
    (d / "config.json").write_text(json.dumps(
        {"trainer": "experiments.old_name", "seed": 1, "model": {"a": 1, "gone": 2}}))
    new = {"trainer": "toy", "seed": 1, "model": {"a": 1, "added": 5}}
    keys = ["trainer", "model", "seed"]
    with pytest.raises(run_lib.ResumeError, match="written by trainer 'experiments.old_name'"):
        run_lib.check_resume(str(d), new, keys)
    assert run_lib.check_resume(str(d), new, keys,
                                trainer_aliases=("experiments.old_name",)) == "resume"
    with pytest.raises(run_lib.ResumeError, match="model config a: 1 -> 2"):
        run_lib.check_resume(str(d), dict(new, model={"a": 2}), keys,
                             trainer_aliases=("experiments.old_name",))
    assert run_lib.finished_epochs(str(d)) == 3
