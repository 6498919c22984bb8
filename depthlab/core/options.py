"""Run options declared once, as a typed dataclass, and the absl flags made from it.

Every experiment's options are a dataclass deriving from :class:`CommonOptions`; each field
is declared with :func:`option` (default, help text, choices, bounds, and whether a change
of the field changes the trained result, ``resume=True``). From that one declaration come

* the absl flags of the binary (:func:`define_flags`: help text, enum choices, bounds),
* the options object (:func:`from_flags`), validated by :func:`validate` (choices and
  bounds from the declaration, then the dataclass' own ``check()`` for rules between
  fields), with errors that name the flag,
* the resume rule's fields (:func:`resume_fields`, used by ``depthlab.core.run``),
* ``--config_override key=value`` for model-config fields without a flag
  (:func:`apply_overrides`), and the startup list of fields that differ from the defaults
  (:func:`differences`).

This module imports neither TensorFlow nor Keras, so that a binary's ``--help`` is fast.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from data_pipelines.conventions import FRAMING_LOG_ZOOM_MAX, FRAMING_SHIFT_MAX

#: Keras dtype policies a trainer accepts (``depthlab.training.set_precision``).
PRECISION_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
#: tf.distribute strategies (``depthlab.training.get_strategy``).
STRATEGIES = ("default", "mirrored", "multi_worker")
#: Collapse-guard modes (``depthlab.collapse``).
COLLAPSE_MODES = ("warn", "stop", "off")


def _disclaim_key_flags() -> None:
    """Flags defined here on a binary's behalf are that binary's key flags (listed by its
    ``--help``), not this module's (absl's ``disclaim_key_flags``)."""
    from absl import flags

    flags.disclaim_key_flags()


_disclaim_key_flags()


class OptionsError(ValueError):
    """An option value is invalid; the message names the flag."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: Optional[Sequence] = None,
           lower: Optional[float] = None, upper: Optional[float] = None,
           above: Optional[float] = None, below: Optional[float] = None,
           multiple_of: Optional[int] = None, resume: bool = True, flag: bool = True,
           extends: bool = False) -> Any:
    """A dataclass field with the metadata the flags, the validation and the resume rule need.

    Bounds (issue 19: a value that cannot be meant is refused naming the flag): ``lower`` /
    ``upper`` inclusive, ``above`` / ``below`` exclusive, ``multiple_of`` (what the network's
    down-samplings need); a tuple field's bounds apply to each element. ``resume``: a changed
    value changes the trained result, so a run directory written with another value is not
    resumed (``depthlab.core.run``). ``extends``: the field may grow on resume (``epochs``:
    train a finished run further). ``flag=False``: no absl flag (set by code, e.g. a derived
    field)."""
    if help:
        if above is not None:
            help = f"{help} (> {above:g})"
        if below is not None:
            help = f"{help} (< {below:g})"
        if multiple_of is not None:
            help = f"{help} (a multiple of {multiple_of})"
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None,
            "lower": lower, "upper": upper, "above": above, "below": below,
            "multiple_of": multiple_of, "resume": resume, "flag": flag, "extends": extends}
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


#: the bound keys of a field's metadata (:func:`option`)
BOUND_KEYS = ("lower", "upper", "above", "below", "multiple_of")


def has_bound(f: dataclasses.Field) -> bool:
    """Whether ``f`` declares a bound or a choice list (issue 19; tests/test_flag_bounds.py)."""
    return f.metadata.get("choices") is not None or any(
        f.metadata.get(k) is not None for k in BOUND_KEYS)


def check_bounds(label: str, value, lower=None, upper=None, above=None, below=None,
                 multiple_of=None) -> None:
    """Raises :class:`OptionsError` starting with ``label`` (e.g. ``--seed=-1``) when the
    number ``value`` (or an element of the tuple ``value``) is outside the bounds."""
    several = isinstance(value, (list, tuple))
    for v in (value if several else (value,)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        where = f"{label}: {v}" if several else label
        if lower is not None and v < lower:
            raise OptionsError(f"{where} is below its lower bound {lower}")
        if above is not None and not v > above:
            raise OptionsError(f"{where} must be > {above:g}")
        if upper is not None and v > upper:
            raise OptionsError(f"{where} is above its upper bound {upper}")
        if below is not None and not v < below:
            raise OptionsError(f"{where} must be < {below:g}")
        if multiple_of is not None and v % multiple_of:
            raise OptionsError(f"{where} must be a multiple of {multiple_of}")


@dataclasses.dataclass
class CommonOptions:
    """The options every trainer shares (``depthlab.core.run``)."""

    model_dir: Optional[str] = option(
        None, "Run directory: config.json, checkpoints/, tensorboard/, samples/, "
        "metrics_final.json. An existing run with the same effective config resumes.",
        resume=False)
    seed: int = option(0, "Seed of the data order, augmentation and initialisation (one seed "
                       "for the whole run).", lower=0)
    mixed_precision: str = option("float32", "Keras dtype policy.", choices=PRECISION_POLICIES)
    strategy: str = option(
        "default", "tf.distribute strategy: 'default' (one device), 'mirrored' (all local "
        "GPUs; without GPUs the logical CPUs) or 'multi_worker' (MultiWorkerMirroredStrategy, "
        "cluster from TF_CONFIG). --batch_size is global and must divide evenly across the "
        "replicas. A run resumes under any strategy.", choices=STRATEGIES, resume=False)
    collapse_guard: str = option(
        "warn", "Collapse guard (depthlab/collapse.py): when the output on a fixed probe batch "
        "becomes constant or the loss stalls at a constant predictor's level, print "
        "'COLLAPSE: ...', write collapse/* to TensorBoard and collapse.json. 'warn' trains on, "
        "'stop' ends training there, 'off' adds no guard.", choices=COLLAPSE_MODES,
        resume=False)
    log_every: int = option(10, "Progress line and TensorBoard scalars every N steps.",
                            lower=1, resume=False)
    export_dir: Optional[str] = option(
        None, "If set, export the trained model as a SavedModel there after training (the "
        "directory must not exist).", resume=False)

    def check(self) -> None:
        """Rules between fields (a subclass extends it; raise OptionsError naming flags)."""

    def __post_init__(self):
        validate(self)


def config_override_option():
    """The ``config_override`` field of an experiment with a model config (repeatable
    ``--config_override key=value``; the config's fields without a flag, e.g. TS-GAN's
    learning rates or lambdas). Not a resume field itself: the resume rule compares the
    effective model config."""
    return option((), "Override a field of the model config (the preset's dataclass): "
                  "key=value, repeatable, e.g. --config_override=lambda_cycle=10 "
                  "--config_override=disc_filters=64,128,256,256. Unknown keys are errors "
                  "listing the fields.", resume=False)


def option_fields(cls_or_obj) -> List[dataclasses.Field]:
    return list(dataclasses.fields(cls_or_obj))


def _base_type(annotation) -> Tuple[type, bool]:
    """(scalar type, optional) of a field annotation such as ``Optional[int]``."""
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing), {})  # noqa: S307 - our own annotations
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin in (tuple, list, Sequence, typing.Sequence):
        return tuple, optional
    return annotation, optional


def field_type(cls, f: dataclasses.Field) -> Tuple[type, bool]:
    hints = typing.get_type_hints(cls)
    return _base_type(hints.get(f.name, f.type))


def validate(opts) -> None:
    """Choices and bounds from each field's declaration, then ``opts.check()``."""
    for f in dataclasses.fields(opts):
        value = getattr(opts, f.name)
        meta = f.metadata
        if value is None or not meta:
            continue
        if meta.get("choices") is not None:
            values = value if isinstance(value, (list, tuple)) else (value,)
            for v in values:
                if v not in meta["choices"]:
                    raise OptionsError(f"--{f.name}={v!r} is not one of {list(meta['choices'])}")
        label = f"--{f.name}=" + (",".join(map(str, value)) if isinstance(value, (list, tuple))
                                   else str(value))
        check_bounds(label, value, **{k: meta.get(k) for k in BOUND_KEYS})
    for text in getattr(opts, "config_override", None) or ():
        _check_override_bounds(text)
    for name in ("model_dir", "export_dir"):
        value = getattr(opts, name, None)
        if isinstance(value, str) and "://" in value:
            raise OptionsError(
                f"--{name}={value}: remote paths are not supported (runs are written with "
                "local file operations: checkpoints, h5 weights, PNG grids); use a local "
                "directory and copy the run afterwards")
    opts.check()


def define_flags(cls, flag_values=None, defaults: Optional[Dict[str, Any]] = None,
                 skip: Iterable[str] = ()) -> None:
    """Defines one absl flag per field of the options dataclass ``cls`` (name = field name),
    with its help text, enum choices and bounds; ``defaults`` replaces field defaults (a
    binary's own defaults). A field named ``config_override`` (declare it with
    :data:`CONFIG_OVERRIDE` in experiments with a model config) becomes a repeatable
    ``--config_override key=value`` flag."""
    from absl import flags

    fv = flag_values if flag_values is not None else flags.FLAGS
    defaults = dict(defaults or {})
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("flag", True):
            continue
        meta = f.metadata
        default = defaults.get(f.name, f.default if f.default is not dataclasses.MISSING
                               else (f.default_factory() if f.default_factory
                                     is not dataclasses.MISSING else None))
        typ, _ = field_type(cls, f)
        help_text = meta.get("help") or f.name
        if f.name == "config_override":
            flags.DEFINE_multi_string(f.name, list(default or ()), help_text, flag_values=fv)
        elif typ is bool:
            flags.DEFINE_bool(f.name, default, help_text, flag_values=fv)
        elif typ is tuple:
            flags.DEFINE_list(f.name, list(default) if default is not None else None,
                              help_text, flag_values=fv)
        elif meta.get("choices") is not None and typ is str:
            flags.DEFINE_enum(f.name, default, [str(c) for c in meta["choices"]], help_text,
                              flag_values=fv)
        elif typ is int:
            flags.DEFINE_integer(f.name, default, help_text, lower_bound=meta.get("lower"),
                                 upper_bound=meta.get("upper"), flag_values=fv)
        elif typ is float:
            flags.DEFINE_float(f.name, default, help_text, lower_bound=meta.get("lower"),
                               upper_bound=meta.get("upper"), flag_values=fv)
        else:
            flags.DEFINE_string(f.name, default, help_text, flag_values=fv)


def from_flags(cls, flag_values=None, **fixed):
    """The options object from the parsed flags (fields without a flag take their default;
    ``fixed`` sets fields directly). Invalid values raise :class:`OptionsError`."""
    from absl import flags

    fv = flag_values if flag_values is not None else flags.FLAGS
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in fixed:
            kwargs[f.name] = fixed[f.name]
        elif f.metadata.get("flag", True) and f.name in fv:
            value = fv[f.name].value
            typ, _ = field_type(cls, f)
            if f.name == "config_override":
                value = tuple(value or ())
            elif typ is tuple and value is not None:
                inner = typing.get_args(typing.get_type_hints(cls)[f.name])
                value = tuple(_coerce_list(value, inner))
            kwargs[f.name] = value
    return cls(**kwargs)


def _coerce_list(values, inner_args) -> List[Any]:
    inner = [a for a in inner_args if a is not type(None) and a is not Ellipsis]
    elem = inner[0] if inner else str
    if typing.get_origin(elem) in (tuple, list):
        elem = (typing.get_args(elem) or (str,))[0]
    return [elem(v) if elem in (int, float) else v for v in values]


def resume_fields(opts) -> List[str]:
    """Fields that change the trained result (a resumed run must share them)."""
    return [f.name for f in dataclasses.fields(opts) if f.metadata.get("resume", True)
            and not f.metadata.get("extends", False)]


def extendable_fields(opts) -> List[str]:
    return [f.name for f in dataclasses.fields(opts) if f.metadata.get("extends", False)]


def differences(obj, reference) -> List[Tuple[str, Any, Any]]:
    """(field, reference value, value) for each field of dataclass ``obj`` that differs from
    ``reference`` (an instance of the same type: the defaults or a preset)."""
    return [(f.name, getattr(reference, f.name), getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if getattr(obj, f.name) != getattr(reference, f.name)]


def defaults_of(cls, **required):
    """An instance of ``cls`` with every default (``required`` fills fields without one)."""
    return cls(**required)


#: Bounds of the model-config fields that ``--config_override`` sets (issue 19), by field name:
#: (regular expression, bounds as :func:`check_bounds` takes them, what such a field is). The
#: first matching rule applies; tests/test_flag_bounds.py checks that every numeric field of
#: every model config matches one. The configs' own ``__post_init__`` checks the rules
#: between fields (e.g. image_size divisible by 2**gen_downsamplings).
CONFIG_BOUNDS: Tuple[Tuple[str, Dict[str, float], str], ...] = (
    (r"^lr_|learning_rate$", {"above": 0.0}, "a learning rate"),
    (r"^beta_[12]$", {"lower": 0.0, "below": 1.0}, "an Adam beta"),
    (r"^dropout$", {"lower": 0.0, "below": 1.0}, "a dropout rate"),
    (r"^lambda_|^rho\d$|_weight$", {"lower": 0.0}, "a loss weight"),
    (r"temperature$|^hdce_gamma|^max_depth$|_sigma$", {"above": 0.0}, "a positive scale"),
    (r"^decay_factor$", {"above": 0.0, "upper": 1.0}, "a learning-rate decay factor"),
    (r"^decay_epoch_|^gen_downsamplings$|^extra_convs$|_steps$|^num_patches$|_px$", {"lower": 0},
     "a count that may be 0"),
    (r"^pool_size$", {"lower": -1}, "an image-pool size (-1: the variant's default)"),
    (r"^landmark_decay_epoch$", {"lower": -1}, "an epoch (-1: no decay)"),
    (r"^framing_shift$", {"lower": 0.0, "upper": FRAMING_SHIFT_MAX},
     "a framing shift (fraction of the size)"),
    (r"^framing_log_zoom$", {"lower": 0.0, "upper": FRAMING_LOG_ZOOM_MAX}, "a framing log zoom"),
    (r"filters$|blocks$|units$|layers$|_scales$|_grid$|^epochs$|^batch_size$|^image_size$|_hw$|"
     r"channels$|^scale$|strides?$", {"lower": 1}, "a count or a size"),
)


def config_bounds(key: str) -> Optional[Dict[str, float]]:
    """The bounds :data:`CONFIG_BOUNDS` gives the model-config field ``key`` (None: none)."""
    for pattern, bounds, _ in CONFIG_BOUNDS:
        if re.search(pattern, key):
            return bounds
    return None


def _check_override_bounds(text: str) -> None:
    """At options time (no config class yet, TF-free): a numeric ``--config_override``
    value outside :data:`CONFIG_BOUNDS` is refused; unknown keys and types are
    :func:`parse_override`'s errors when the run builds its config."""
    key, sep, raw = (s.strip() for s in str(text).partition("="))
    bounds = config_bounds(key) if sep else None
    if not bounds:
        return
    try:
        numbers = [float(p) for p in raw.strip("()[] ").split(",") if p.strip()]
    except ValueError:
        return
    check_bounds(f"--config_override={key}={raw}",
                 numbers if "," in raw else (numbers[0] if numbers else None), **bounds)


def parse_override(text: str, config_cls) -> Tuple[str, Any]:
    """``'key=value'`` -> (key, value typed like ``config_cls``'s field ``key``)."""
    if "=" not in text:
        raise OptionsError(f"--config_override={text!r}: expected key=value")
    key, raw = (s.strip() for s in text.split("=", 1))
    names = {f.name: f for f in dataclasses.fields(config_cls)}
    if key not in names:
        raise OptionsError(f"--config_override: {config_cls.__name__} has no field {key!r}; "
                           f"fields: {sorted(names)}")
    key, value = _typed_override(text, key, raw, config_cls, names[key])
    if value is not None:
        check_bounds(f"--config_override={key}={raw}", value, **(config_bounds(key) or {}))
    return key, value


def _typed_override(text: str, key: str, raw: str, config_cls, field) -> Tuple[str, Any]:
    typ, optional = field_type(config_cls, field)
    if optional and raw.lower() in ("none", "null", ""):
        return key, None
    try:
        if typ is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return key, raw.lower() in ("true", "1")
        if typ is tuple:
            inner = typing.get_args(typing.get_type_hints(config_cls)[key])
            parts = [p for p in raw.strip("()[] ").split(",") if p.strip()]
            return key, tuple(_coerce_list([p.strip() for p in parts], inner))
        if typ in (int, float):
            return key, typ(raw)
        return key, raw
    except ValueError:
        raise OptionsError(f"--config_override={text!r}: {raw!r} is not a valid "
                           f"{getattr(typ, '__name__', typ)} for {config_cls.__name__}.{key}") from None


def apply_overrides(config, overrides: Sequence[str]):
    """``config`` (a dataclass instance) with each ``key=value`` of ``overrides`` applied."""
    changes = dict(parse_override(o, type(config)) for o in overrides or ())
    return dataclasses.replace(config, **changes) if changes else config
