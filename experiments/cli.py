"""Console-script launchers: one function per absl binary in ``experiments/``.

``pyproject.toml`` ([project.scripts]) points ``depthlab-<binary>`` (underscores as dashes)
at the function of the same name here. Each runs the binary's module as ``__main__`` exactly
like ``python -m experiments.<binary>`` (``runpy``, ``sys.argv[0]`` set to the module's file),
so the binaries stay the only place their flags and ``main`` live and ``python -m`` keeps
working. Importing this module imports nothing heavy.
"""
import runpy

BINARIES = (
    "train_tsgan", "eval_tsgan",
    "train_enhancer", "eval_enhancers",
    "train_cyclegan_depth", "eval_cyclegan_depth",
    "train_two_stage", "eval_two_stage",
    "train_dsr_distill", "eval_dsr",
    "train_recognition", "eval_recognition",
    "ablation_table", "compare_paper", "export_savedmodel", "reproduce",
)


def run(binary):
    """Runs ``experiments.<binary>`` as ``__main__`` (absl's ``app.run`` exits the process)."""
    runpy.run_module("experiments." + binary, run_name="__main__", alter_sys=True)


def train_tsgan():
    run("train_tsgan")


def eval_tsgan():
    run("eval_tsgan")


def train_enhancer():
    run("train_enhancer")


def eval_enhancers():
    run("eval_enhancers")


def train_cyclegan_depth():
    run("train_cyclegan_depth")


def eval_cyclegan_depth():
    run("eval_cyclegan_depth")


def train_two_stage():
    run("train_two_stage")


def eval_two_stage():
    run("eval_two_stage")


def train_dsr_distill():
    run("train_dsr_distill")


def eval_dsr():
    run("eval_dsr")


def train_recognition():
    run("train_recognition")


def eval_recognition():
    run("eval_recognition")


def ablation_table():
    run("ablation_table")


def compare_paper():
    run("compare_paper")


def export_savedmodel():
    run("export_savedmodel")


def reproduce():
    run("reproduce")
