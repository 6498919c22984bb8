"""Issue 19, "Flags have bounds": every numeric option of every registered experiment declares
a bound (or choices); a value just outside it is refused with an error naming the flag, and
the bound value itself is accepted. The same for the numeric model-config fields that
``--config_override`` sets, and for the evaluation / export binaries' own numeric flags.

The out-of-range values are computed from each field's declaration (``math.nextafter`` for
floats: the nearest float outside the bound), not listed by hand, so a new field is covered by
declaring it."""

import dataclasses
import json
import math
import os
import subprocess
import sys
import typing

import pytest
from absl import flags

from depthlab.core import options as options_lib
from depthlab.core import registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = registry.load_experiments().names()
OPTION_CLASSES = {}
for _name in NAMES:
    OPTION_CLASSES.setdefault(registry.get_experiment(_name).Options.__name__,
                              registry.get_experiment(_name).Options)

#: numeric option fields deliberately without a bound: "Class.field" -> the reason. Empty:
#: every numeric option has one (a new unbounded field must be justified here).
UNBOUNDED = {}


def _numeric(cls, f):
    """(element type, is_tuple) of a numeric field (int / float, optional, or a tuple of
    them), else None."""
    typ, _ = options_lib.field_type(cls, f)
    if typ is tuple:
        args = [a for a in typing.get_args(typing.get_type_hints(cls)[f.name])
                if a is not type(None)]
        inner = typing.get_args(args[0]) if args else ()
        inner = [a for a in inner if a is not Ellipsis]
        return (inner[0], True) if inner and inner[0] in (int, float) else None
    if typ in (int, float) and typ is not bool:
        return typ, False
    return None


def _numeric_fields():
    out = []
    for cls_name, cls in sorted(OPTION_CLASSES.items()):
        for f in dataclasses.fields(cls):
            if _numeric(cls, f):
                out.append(pytest.param(cls_name, f.name, id=f"{cls_name}.{f.name}"))
    return out


def _outside_and_at(f, typ):
    """[(value just outside a bound, the bound value or a value inside it)] for each bound."""
    m = f.metadata
    below = (lambda v: v - 1) if typ is int else (lambda v: math.nextafter(v, -math.inf))
    above = (lambda v: v + 1) if typ is int else (lambda v: math.nextafter(v, math.inf))
    pairs = []
    if m.get("lower") is not None:
        pairs.append((below(typ(m["lower"])), typ(m["lower"])))
    if m.get("above") is not None:
        pairs.append((typ(m["above"]), above(typ(m["above"]))))
    if m.get("upper") is not None:
        pairs.append((above(typ(m["upper"])), typ(m["upper"])))
    if m.get("below") is not None:
        pairs.append((typ(m["below"]), below(typ(m["below"]))))
    if m.get("multiple_of") is not None:
        k = m["multiple_of"]
        at = k * max(1, math.ceil((m.get("lower") or k) / k))
        pairs.append((at + 1, at))
    if m.get("choices") is not None:
        pairs.append((max(m["choices"]) + 1, m["choices"][0]))
    return pairs


def _base(cls, tmp_path):
    """The smallest valid keyword arguments of ``cls`` (stage 2 needs a stage-1 run: its
    options only check that stage1.keras exists)."""
    kw = {"model_dir": str(tmp_path / "run")}
    if "stage1_dir" in cls.__dataclass_fields__:
        stage1 = tmp_path / "stage1"
        stage1.mkdir(exist_ok=True)
        (stage1 / "stage1.keras").write_text("")
        kw["stage1_dir"] = str(stage1)
    return kw


def _companions(cls, name, value):
    """Other fields a bound value needs to pass the rules between fields (``check()``)."""
    out = {}
    if name == "repeat" and value > 1:
        out = {"init_from": "previous_run"}
    elif name == "fold":
        out = {"protocol": "iiitd_rgbd"}
    elif name == "target_fold":
        out = {"target_dataset": "iiitd_rgbd"}
    elif name == "epochs":
        out = {"stage1_epochs": 1}
    elif name == "pretrain_ground_truths":
        out = {"variant": "alpha"}             # only DL-Alpha has pre-training stages
    return {k: v for k, v in out.items() if k in cls.__dataclass_fields__}


def _value(value, is_tuple):
    return (value, 64) if is_tuple else value


def _label(value, is_tuple):
    return f"{value},64" if is_tuple else str(value)


@pytest.mark.parametrize("cls_name,name", _numeric_fields())
def test_every_numeric_option_is_bounded(cls_name, name, tmp_path):
    cls = OPTION_CLASSES[cls_name]
    f = cls.__dataclass_fields__[name]
    typ, is_tuple = _numeric(cls, f)
    if f"{cls_name}.{name}" in UNBOUNDED:
        assert UNBOUNDED[f"{cls_name}.{name}"].strip(), "an unbounded field needs a reason"
        return
    assert options_lib.has_bound(f), (
        f"{cls_name}.{name} declares no bound: add lower=/upper=/above=/below=/choices= to "
        "its option(...) or justify it in UNBOUNDED")
    assert f.metadata["help"], f"{cls_name}.{name} has no help text"
    for outside, at in _outside_and_at(f, typ):
        kw = {**_base(cls, tmp_path), **_companions(cls, name, at)}
        with pytest.raises(options_lib.OptionsError,
                           match=f"^--{name}={_label(outside, is_tuple)}"):
            cls(**{**kw, name: _value(outside, is_tuple)})
        ok = cls(**{**kw, name: _value(at, is_tuple)})
        if not (name == "clip_norm" and at == 0):         # 0 is stored as None (off)
            assert getattr(ok, name) == _value(at, is_tuple)


@pytest.mark.parametrize("cls_name,name", _numeric_fields())
def test_out_of_range_flag_is_refused_naming_it(cls_name, name, tmp_path):
    """The same values through the binary's flags: absl's bounds refuse at parsing, the
    others (> / < / multiple / tuple elements) at ``from_flags``; both name the flag."""
    cls = OPTION_CLASSES[cls_name]
    f = cls.__dataclass_fields__[name]
    typ, is_tuple = _numeric(cls, f)
    if f"{cls_name}.{name}" in UNBOUNDED:
        return
    for outside, at in _outside_and_at(f, typ):
        fv = flags.FlagValues()
        options_lib.define_flags(cls, flag_values=fv)
        fixed = {**_base(cls, tmp_path), **_companions(cls, name, at)}
        text = repr(outside) if typ is float else str(outside)
        with pytest.raises((flags.IllegalFlagValueError, options_lib.OptionsError),
                           match=f"--{name}="):
            fv(["prog", f"--{name}={_label(text, is_tuple)}"])
            options_lib.from_flags(cls, fv, **{k: v for k, v in fixed.items() if k != name})


MODEL_CONFIGS = ("depthlab.configs:TSGANConfig",
                 "depthlab.models.cyclegan_depth:CycleGANDepthConfig",
                 "depthlab.models.dsr_distill:DSRConfig",
                 "depthlab.models.two_stage:Stage1Config",
                 "depthlab.models.two_stage:Stage2Config")


def _config_class(path):
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("path", MODEL_CONFIGS)
def test_config_override_numbers_are_bounded(path):
    cls = _config_class(path)
    for f in dataclasses.fields(cls):
        kind = _numeric(cls, f)
        if not kind:
            continue
        typ, is_tuple = kind
        bounds = options_lib.config_bounds(f.name)
        assert bounds, f"{cls.__name__}.{f.name} matches no rule of options.CONFIG_BOUNDS"
        field = dataclasses.field(metadata=bounds)   # the same pairs as an option's bounds
        field.name = f.name
        for outside, at in _outside_and_at(field, typ):
            bad = f"{f.name}={_label(outside, is_tuple)}"
            with pytest.raises(options_lib.OptionsError, match=f"^--config_override={bad}"):
                options_lib.parse_override(bad, cls)
            key, value = options_lib.parse_override(f"{f.name}={_label(at, is_tuple)}", cls)
            assert value == _value(at, is_tuple)


@pytest.mark.parametrize("cls_name", sorted(n for n, c in OPTION_CLASSES.items()
                                            if "config_override" in c.__dataclass_fields__))
def test_config_override_bounds_apply_when_the_options_are_made(cls_name, tmp_path):
    """Before any model is built (the options are TF-free): a learning rate of 0 and a
    negative filter count are refused naming --config_override and the key."""
    cls = OPTION_CLASSES[cls_name]
    for bad in ("lr_teacher=0", "learning_rate=-1e-4", "gen_filters=0", "disc_filters=8,0"):
        with pytest.raises(options_lib.OptionsError, match=f"--config_override={bad}"):
            cls(**_base(cls, tmp_path), config_override=(bad,))


def test_enhancer_size_multiples_are_the_networks():
    """``SIZE_MULTIPLE`` (TF-free) is 2**levels of each variant's U-Net, and a size the
    variant cannot take is refused naming the flag and the multiple."""
    from depthlab.models import enhancers
    from depthlab.runners.enhancer_options import SIZE_MULTIPLE, EnhancerOptions

    for variant, multiple in SIZE_MULTIPLE.items():
        assert multiple == 2 ** enhancers.get_spec(variant).levels
    with pytest.raises(options_lib.OptionsError, match="--image_size=384 must be a multiple "
                                                       "of 256 for --variant=alpha"):
        EnhancerOptions(model_dir="x", variant="alpha", image_size=384)
    assert EnhancerOptions(model_dir="x", variant="delta", image_size=384).image_size == 384


# -- the evaluation / export binaries' own flags ---------------------------------------------

#: binary -> (flag, a value outside its bound); every numeric flag of every non-training
#: binary must be listed (test_every_numeric_eval_flag_is_listed)
EVAL_BAD = {
    "ablation_table": [("image_size", "31"), ("width", "0.0"), ("embedding_dim", "0"),
                       ("epochs", "0"), ("batch_size", "0"), ("learning_rate", "0"),
                       ("seed", "-1"), ("synthetic_identities", "1"),
                       ("synthetic_images_per_identity", "1"), ("dropout", "0.96"),
                       ("log_every", "0")],
    "compare_paper": [("digits", "-1")],
    "eval_cyclegan_depth": [("limit", "0"), ("batch_size", "0")],
    "eval_dsr": [("limit", "0")],
    "eval_enhancers": [("test_faces", "0"), ("seed", "-1")],
    "eval_recognition": [("score_weight", "1.5"), ("tsne_images", "1"),
                         ("tsne_perplexity", "0.5")],
    "eval_tsgan": [("limit", "0"), ("batch_size", "0")],
    "eval_two_stage": [("limit", "0")],
    "export_savedmodel": [("model_kind", "bogus")],      # no numeric flag: its enum
    "reproduce": [("seeds", "0,-1")],
}

_PROBE = r"""
import importlib, json, sys
from absl import flags
importlib.import_module("experiments." + sys.argv[1])
numeric = sorted(n for n, f in flags.FLAGS._flags().items()
                 if f.parser.flag_type() in ("int", "float")
                 and not (flags.FLAGS.find_module_defining_flag(n) or "").startswith("absl"))
results = {}
for flag, bad in json.loads(sys.argv[2]):
    try:
        flags.FLAGS(["prog", f"--{flag}={bad}"])
        results[flag] = None
    except flags.Error as e:
        results[flag] = str(e)
    flags.FLAGS.unparse_flags()
print(json.dumps({"numeric": numeric, "results": results}))
"""


def _probe(binary):
    out = subprocess.run([sys.executable, "-c", _PROBE, binary, json.dumps(EVAL_BAD[binary])],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("binary", sorted(EVAL_BAD))
def test_eval_binary_refuses_out_of_range_flags(binary):
    info = _probe(binary)
    unlisted = set(info["numeric"]) - {flag for flag, _ in EVAL_BAD[binary]}
    assert not unlisted, f"experiments.{binary}: numeric flags {sorted(unlisted)} not in EVAL_BAD"
    for flag, bad in EVAL_BAD[binary]:
        message = info["results"][flag]
        assert message is not None, f"experiments.{binary} accepted --{flag}={bad}"
        assert f"--{flag}" in message, message
    # the binary itself: a usage error (exit status != 0) naming the flag, before any work
    flag, bad = EVAL_BAD[binary][0]
    run = subprocess.run([sys.executable, "-m", f"experiments.{binary}", f"--{flag}={bad}"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert f"--{flag}" in run.stderr, run.stderr[-2000:]


def test_trainer_binary_refuses_an_exclusive_bound_as_a_usage_error(tmp_path):
    """``above=`` is not an absl bound: the trainer refuses it when it makes the options,
    before TensorFlow, as a usage error naming the flag."""
    run = subprocess.run([sys.executable, "-m", "experiments.train_enhancer",
                          f"--model_dir={tmp_path / 'run'}", "--learning_rate=0"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "--learning_rate=0.0 must be > 0" in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "run").exists()
