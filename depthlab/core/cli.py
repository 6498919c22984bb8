"""What every trainer binary does: flags from the options dataclass, then ``core.run``.

A binary (``experiments/train_<paper>.py``) is three lines of substance::

    from depthlab.core import cli
    from depthlab.runners.enhancer_options import EnhancerOptions
    cli.define_trainer_flags(EnhancerOptions)
    def main(argv): cli.train_main("enhancer", EnhancerOptions, argv)

TensorFlow is imported only inside :func:`train_main`, so ``--help`` answers at once.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from depthlab.core import options as options_lib


def _disclaim_key_flags() -> None:
    """Flags defined here on a binary's behalf are that binary's key flags (listed by its
    ``--help``), not this module's (absl's ``disclaim_key_flags``)."""
    from absl import flags

    flags.disclaim_key_flags()


_disclaim_key_flags()


def define_trainer_flags(options_cls, defaults: Optional[Dict[str, Any]] = None,
                         flag_values=None) -> None:
    """The binary's flags, one per field of ``options_cls`` (help, choices, bounds)."""
    options_lib.define_flags(options_cls, flag_values=flag_values, defaults=defaults)


def options_from_flags(options_cls, flag_values=None, **fixed):
    """The validated options; an invalid value is an ``app.UsageError`` naming the flag."""
    from absl import app

    try:
        return options_lib.from_flags(options_cls, flag_values, **fixed)
    except options_lib.OptionsError as e:
        raise app.UsageError(str(e)) from None


def train_main(experiment_name: str, options_cls, argv, flag_values=None,
               after: Optional[Callable[[Dict[str, Any]], None]] = None, **fixed) -> Dict[str, Any]:
    """Parses the options, looks the experiment up by name and runs the lifecycle."""
    from absl import app

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    opts = options_from_flags(options_cls, flag_values, **fixed)
    if not opts.model_dir:
        raise app.UsageError("--model_dir is required")
    from depthlab.core import registry, run

    experiment = registry.get_experiment(experiment_name)()
    try:
        result = run.run(experiment, opts)
    except (run.ResumeError, options_lib.OptionsError) as e:
        raise app.UsageError(str(e)) from None
    if after is not None:
        after(result)
    return result


def print_artefacts(run, grid_label: str, export_description: str) -> None:
    """The end-of-run lines every trainer binary prints: the newest sample grid (labelled by
    its columns) and, with ``--export_dir``, what the SavedModel serves."""
    from depthlab.visualize import latest_sample_grid

    grid = latest_sample_grid(run.model_dir)
    if grid:
        print(f"\n{grid_label} grid: {grid}")
    if run.opts.export_dir:
        print(f"SavedModel ({export_description}): {run.opts.export_dir}")
