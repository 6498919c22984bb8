"""train_cyclegan_depth's flags come from CycleGANDepthOptions (issue 17): --help lists every
field and imports no TensorFlow; the options' rules and the train(opts, cfg) bridge."""

import dataclasses
import os
import subprocess
import sys

import pytest

from depthlab.core import options as options_lib
from depthlab.runners.cyclegan_depth_options import CycleGANDepthOptions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code_or_args):
    return subprocess.run([sys.executable, *code_or_args], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


def test_help_lists_every_option_and_imports_no_tensorflow():
    res = _python(["-m", "experiments.train_cyclegan_depth", "--help"])
    assert res.returncode in (0, 1) and "--model_dir" in res.stdout, res.stderr[-2000:]  # absl: 1
    for f in dataclasses.fields(CycleGANDepthOptions):
        assert f"--{f.name}:" in res.stdout or f"--[no]{f.name}:" in res.stdout, f.name
    res = _python(["-c", "import experiments.train_cyclegan_depth, sys; "
                         "print('tensorflow' in sys.modules, 'keras' in sys.modules)"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["False", "False"]


def test_options_rules_name_the_flags():
    assert options_lib.extendable_fields(CycleGANDepthOptions(model_dir="x")) == ["epochs"]
    with pytest.raises(options_lib.OptionsError, match="--dataset=nyu_depth_v2 needs --data_dir"):
        CycleGANDepthOptions(model_dir="x", dataset="nyu_depth_v2")
    with pytest.raises(options_lib.OptionsError, match="--variant='pix2pix'"):
        CycleGANDepthOptions(model_dir="x", variant="pix2pix")
    with pytest.raises(options_lib.OptionsError, match="--learning_rate=0.0 must be > 0"):
        CycleGANDepthOptions(model_dir="x", learning_rate=0.0)
    with pytest.raises(options_lib.OptionsError, match="--lambda_cycle=-1"):
        CycleGANDepthOptions(model_dir="x", lambda_cycle=-1.0)
    # the binary's defaults (log_every 50, preset 'paper')
    opts = CycleGANDepthOptions(model_dir="x")
    assert (opts.log_every, opts.preset, opts.variant, opts.epochs) == (50, "paper", "suarez", 200)


def test_config_from_flags_overrides_and_the_cfg_bridge():
    from depthlab.models.cyclegan_depth import PRESETS, cyclegan_depth_config
    from depthlab.runners import cyclegan_depth as runner

    experiment = runner.CycleGANDepthExperiment()
    opts = CycleGANDepthOptions(model_dir="x", preset="demo", variant="cut", image_size=32,
                                lambda_nce_x=2.0, config_override=("gen_blocks=2",
                                                                   "disc_filters=8,16",
                                                                   "disc_strides=2,1"))
    cfg = experiment.config(opts)
    assert cfg == cyclegan_depth_config("demo", variant="cut", image_size=32, lambda_nce_x=2.0,
                                        gen_blocks=2, disc_filters=(8, 16), disc_strides=(2, 1))
    assert experiment.preset_config(opts) == PRESETS["demo"]
    with pytest.raises(options_lib.OptionsError, match="no field 'gen_blox'"):
        experiment.config(CycleGANDepthOptions(model_dir="x", config_override=("gen_blox=1",)))
    # train(opts, cfg): the options whose effective config is cfg (nearest preset + overrides)
    want = cyclegan_depth_config("demo", variant="suarez", pool_size=2, image_size=16,
                                 disc_filters=(8, 16), disc_strides=(2, 2), nce_temperature=0.1)
    bridged = runner.options_for_config(CycleGANDepthOptions(model_dir="x"), want)
    assert bridged.preset == "demo" and experiment.config(bridged) == want
