"""train_cyclegan_depth's flags come from CycleGANDepthOptions (issue 17): --help lists every
field and imports no TensorFlow; the options' rules and the train(opts, cfg) bridge."""

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from depthlab.core import options as options_lib
from depthlab.runners.cyclegan_depth_options import CycleGANDepthOptions
from paper_texts import paper_lines

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
    with pytest.raises(options_lib.OptionsError, match="--lr_decay_epochs=13 exceeds --epochs=12"):
        CycleGANDepthOptions(model_dir="x", preset="demo", lr_decay_epochs=13)
    # the binary's defaults (log_every 50, preset 'paper': 400 epochs of batch 1, constant lr)
    opts = CycleGANDepthOptions(model_dir="x")
    assert (opts.log_every, opts.preset, opts.variant) == (50, "paper", "suarez")
    assert [opts.resolved(k) for k in ("epochs", "batch_size", "lr_decay_epochs")] == [400, 1, 0]
    demo = CycleGANDepthOptions(model_dir="x", preset="demo", epochs=3)
    assert [demo.resolved(k) for k in ("epochs", "batch_size")] == [3, 1]


def _paper_lines():
    return paper_lines("cyclegan-depth-suarez.txt")


def _number(pattern, line):
    match = re.search(pattern, line)
    assert match, (pattern, line)
    return float(match.group(1))


def test_paper_preset_is_the_texts_schedule_and_split():
    """Sec. 3.2 (line 97): 400 epochs, batch size 1; sec. 3.1 (line 82): the first 1000 NYU
    pairs train, the remaining 449 test; line 74: Adam beta1 0.5. Numbers read from the text."""
    from data_pipelines import nyu_depth_v2
    from depthlab.runners.cyclegan_depth_options import TRAINING_PRESETS

    lines = _paper_lines()
    line97, line82, line74 = lines[96], lines[81], lines[73]
    paper = TRAINING_PRESETS["paper"]
    assert paper["epochs"] == _number(r"total of (\d+) epochs", line97)
    assert paper["batch_size"] == _number(r"batch size of (\d+)", line97)
    # the text states no learning rate and no schedule anywhere: the preset keeps it constant
    text = "\n".join(lines).lower()
    assert "learning rate" not in text and "linear" not in text and "schedul" not in text
    assert paper["lr_decay_epochs"] == 0
    opts = CycleGANDepthOptions(model_dir="x")
    assert opts.beta_1 == _number(r"modified to (\d\.\d+)", line74)
    n_train = _number(r"first (\d+) pairs", line82)
    n_test = _number(r"remaining (\d+) pairs", line82)
    assert nyu_depth_v2.SPLITS["train"] == (0, n_train)
    assert nyu_depth_v2.SPLITS["test"] == (n_train, n_train + n_test)
    assert nyu_depth_v2.NUM_LABELED == _number(r"consists of (\d+) RGBD pairs", line82)


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


def test_build_model_ties_curriculum_and_decay_to_the_run_length():
    """A run of 4 epochs x 3 steps: HnegSRC's curriculum spans its 12 steps; with
    --lr_decay_epochs=2 the rate is 2e-4 for steps 0-5, then linear to 0 at step 12, by hand:
    step 9 -> 2e-4 * (1 - 3/6) = 1e-4, step 12 -> 0."""
    from depthlab.models.cyclegan_depth import cyclegan_depth_config
    from depthlab.runners import cyclegan_depth as runner

    cfg = cyclegan_depth_config("demo", variant="hnegsrc", image_size=16, gen_blocks=1,
                                num_patches=4, nce_units=8, disc_filters=(4, 8),
                                disc_strides=(2, 1))
    opts = CycleGANDepthOptions(model_dir="x", preset="demo", epochs=4, lr_decay_epochs=2)
    model = runner.build_model(cfg, opts, epochs=4, steps_per_epoch=3)
    assert (model.total_steps, model.steps_per_epoch, model.curriculum_steps) == (12, 3, 12)
    lr = model.g_optimizer._learning_rate           # the schedule object Adam was given
    got = [float(lr(s)) for s in (0, 5, 6, 9, 12)]
    assert got == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4, 0.0], rel=1e-6, abs=1e-12)
    constant = runner.build_model(cfg, CycleGANDepthOptions(model_dir="x", preset="demo"), 4, 3)
    assert float(constant.d_optimizer.learning_rate) == pytest.approx(2e-4)
