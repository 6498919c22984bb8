"""The evaluation / export binaries' shared flag vocabulary (issue 17, "One CLI vocabulary").

Every binary under experiments/ that reads trained runs spells the same thing the same way:

``--model_dir``    exactly one run directory;
``--model_dirs``   several runs, comma-separated; an entry ``label=dir`` sets that run's row
                   label (default: the binary's own label, e.g. the run's method);
``--table``        paper table(s) printed beside ours: names of files in
                   experiments/paper_tables/ (a comma list where a binary prints several);
``--block``        the block of a blocked paper table (TS-GAN Tables 2, 3, 5);
``--data_dir``     a DIRECTORY in the dataset's own layout (NYU Depth v2 labeled: the folder
                   holding nyu_depth_v2_labeled.mat; sparse-to-dense h5: the folder holding
                   train/ and val/; Middlebury: the folder of scene folders);
``--output_json``  the machine-readable result.

An old spelling that callers may still use is kept as a deprecated flag (its help starts with
"DEPRECATED") that :func:`apply_deprecated` maps onto the new flag with a one-line warning.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

from absl import app, flags

# Flags defined by these helpers are the calling binary's key flags (listed by its --help), not
# this module's (absl's disclaim_key_flags; as depthlab/core/cli.py does for the trainers).
flags.disclaim_key_flags()

DATA_DIR_LAYOUTS = ("NYU Depth v2 labeled: the folder holding nyu_depth_v2_labeled.mat; "
                    "sparse_to_dense_h5: the folder holding train/ and val/; Middlebury: the "
                    "folder of scene folders")


def define_model_dirs(help_runs: str, label_note: str = "") -> None:
    """``--model_dirs``: several runs, ``dir`` or ``label=dir`` entries, comma-separated."""
    flags.DEFINE_list("model_dirs", None,
                      f"Several {help_runs} (comma-separated); an entry label=dir sets that "
                      f"run's row label{label_note}.")


def require_above(name: str, bound: float) -> None:
    """A validator refusing ``--name`` <= ``bound`` (absl's ``lower_bound`` is inclusive; a
    learning rate of 0 cannot be meant, issue 19): a usage error naming the flag."""
    flags.register_validator(name, lambda v: v is None or v > bound,
                             message=f"--{name} must be > {bound:g}")


def define_deprecated(old: str, new: str, kind: str = "string") -> None:
    """An old flag spelling, listed by --help as DEPRECATED (mapped by :func:`apply_deprecated`)."""
    define = {"string": flags.DEFINE_string, "list": flags.DEFINE_list}[kind]
    define(old, None, f"DEPRECATED: use --{new}.")


def apply_deprecated(old: str, new: str, convert: Callable = lambda v: v,
                     flag_values=flags.FLAGS) -> None:
    """When the deprecated ``--old`` was given: one warning line on stderr, and its value
    (``convert``-ed) becomes ``--new``'s; both given is a usage error."""
    if not flag_values[old].present:
        return
    if flag_values[new].present:
        raise app.UsageError(f"--{old} is a deprecated spelling of --{new}; pass only --{new}")
    print(f"warning: --{old} is deprecated; use --{new}", file=sys.stderr)
    flag_values[new].value = convert(flag_values[old].value)


def parse_model_dirs(entries: Optional[Sequence[str]], flag: str = "--model_dirs",
                     default_label: Optional[Callable[[str], Optional[str]]] = None,
                     ) -> List[tuple]:
    """``['dir', 'label=dir', ...]`` -> ``[(label or default_label(dir) or None, dir)]``.

    A ``label=dir`` entry needs both parts; a label given twice is an error naming ``flag``.
    (A directory name containing '=' must be given with a label: ``label=dir=with=eq``.)
    """
    out, seen = [], set()
    for entry in entries or []:
        entry = entry.strip()
        if not entry:
            continue
        label, sep, path = entry.partition("=")
        if not sep:
            label, path = None, entry
        elif not label or not path:
            raise app.UsageError(f"{flag}: expected dir or label=dir, got {entry!r}")
        if label is None and default_label is not None:
            label = default_label(path)
        if label is not None:
            if label in seen:
                raise app.UsageError(f"{flag}: label {label!r} given twice")
            seen.add(label)
        out.append((label, path))
    return out


def one_or_several(model_dir: Optional[str], model_dirs, required: bool = True) -> List[tuple]:
    """``[(label, dir)]`` from ``--model_dir`` (one run, label None) or ``--model_dirs``;
    exactly one of the two (when ``required``). A comma in ``--model_dir`` is refused with a
    pointer to ``--model_dirs``."""
    if model_dir and model_dirs:
        raise app.UsageError("pass exactly one of --model_dir (one run) and --model_dirs "
                             "(several)")
    if model_dir:
        if "," in model_dir:
            raise app.UsageError(f"--model_dir takes exactly one run; for several use "
                                 f"--model_dirs={model_dir}")
        return [(None, model_dir)]
    runs = parse_model_dirs(model_dirs)
    if required and not runs:
        raise app.UsageError("pass --model_dir (one run) or --model_dirs (several, "
                             "comma-separated; label=dir sets a row label)")
    return runs


def check_data_dir(data_dir: Optional[str], flag: str = "--data_dir") -> Optional[str]:
    """``data_dir`` unchanged when it is None or a directory; a file path is a usage error
    naming ``flag`` and the directory to pass instead."""
    if data_dir is None:
        return None
    if os.path.isfile(data_dir):
        raise app.UsageError(
            f"{flag}={data_dir} is a file; {flag} takes a directory in the dataset's own layout "
            f"({DATA_DIR_LAYOUTS}), e.g. {flag}={os.path.dirname(data_dir) or '.'}")
    if not os.path.isdir(data_dir):
        raise app.UsageError(f"{flag}={data_dir} does not exist (a directory in the dataset's "
                             f"own layout: {DATA_DIR_LAYOUTS})")
    return data_dir


def paper_table_names(value, flag: str = "--table") -> List[str]:
    """A comma list (or list) of paper table names, each a file in experiments/paper_tables/."""
    from depthlab import reporting

    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value or [])
             if v.strip()]
    available = reporting.available_paper_tables()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise app.UsageError(f"{flag}: unknown paper table(s) {unknown}; available: "
                             f"{', '.join(available)}")
    return names


def labels_by_dir(runs: Sequence[tuple]) -> Dict[str, str]:
    """``{dir: label}`` of the runs given a label."""
    return {d: label for label, d in runs if label is not None}


@contextlib.contextmanager
def usage_errors(flag: str = "--model_dir"):
    """Missing or foreign run directories (FileNotFoundError / ValueError raised by a runner's
    load or evaluate) become one-line usage errors naming ``flag``, not tracebacks."""
    try:
        yield
    except (FileNotFoundError, ValueError) as e:
        raise app.UsageError(f"{flag}: {e}") from None
