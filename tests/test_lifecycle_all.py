"""The same resume rule for every registered experiment (issue 17), through each experiment's
``tiny_options``: a changed field is refused by name, the extendable field (``--epochs``) may
grow to train a finished run further, and a corrected rerun after a failed start is allowed.
One parametrised test over the registry, so a new experiment is covered by registering it."""

import json
import os

import pytest

from depthlab.core import options as options_lib
from depthlab.core import registry, run as run_lib

NAMES = registry.load_experiments().names()
#: experiments whose tiny run still costs more than the default set's budget per test
SLOW = {n for n in NAMES if getattr(registry.get_experiment(n), "tiny_is_slow", False)}


def _params():
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES]


def test_every_trainer_binary_is_a_registered_experiment():
    assert NAMES, "no experiment registered"
    for name in NAMES:
        cls = registry.get_experiment(name)
        assert cls.Options is not None and issubclass(cls.Options, options_lib.CommonOptions), name


@pytest.mark.parametrize("name", _params())
def test_resume_rule(name, tmp_path):
    experiment = registry.get_experiment(name)()
    model_dir = str(tmp_path / "run")
    opts = experiment.tiny_options(model_dir)
    (extend,) = options_lib.extendable_fields(opts)
    first = run_lib.run(experiment, opts, verbose=False)
    assert first["run"].status == "new"
    assert os.path.exists(os.path.join(model_dir, "config.json"))

    field, value = experiment.tiny_changed_field
    assert getattr(opts, field) != value
    with pytest.raises(run_lib.ResumeError, match=f"--{field}: "):
        run_lib.run(experiment, experiment.tiny_options(model_dir, **{field: value}),
                    verbose=False)

    longer = experiment.tiny_options(model_dir, **{extend: getattr(opts, extend) + 1})
    more = run_lib.run(experiment, longer, verbose=False)
    assert more["run"].status == "resume"
    assert more["run"].initial_epoch == first["run"].epochs
    assert more["run"].epochs > first["run"].epochs

    # a run that failed before its first checkpoint leaves config.json only: the corrected
    # rerun (another value of the field) starts afresh instead of being refused
    failed = tmp_path / "failed"
    failed.mkdir()
    record = json.loads(open(os.path.join(model_dir, "config.json")).read())
    (failed / "config.json").write_text(json.dumps(record))
    rerun = run_lib.run(experiment, experiment.tiny_options(str(failed), **{field: value}),
                        verbose=False)
    assert rerun["run"].status == "restart"
    assert json.loads((failed / "config.json").read_text())[field] == value


@pytest.mark.parametrize("name", NAMES)
def test_learning_rates_must_be_positive(name, tmp_path):
    """Issue 19: a learning rate of 0 or below cannot be meant (two-stage used to record and use
    0.01 for --learning_rate=0, and trained to NaN with -1): refused naming the flag."""
    experiment = registry.get_experiment(name)()
    fields = [f for f in experiment.Options.__dataclass_fields__ if "learning_rate" in f]
    for field in fields:
        for bad in (0.0, -1.0):
            with pytest.raises(options_lib.OptionsError, match=f"--{field}={bad} must be > 0"):
                experiment.tiny_options(str(tmp_path / "run"), **{field: bad})
    assert not (tmp_path / "run").exists()
