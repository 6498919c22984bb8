"""Registries by name: experiments, models, datasets and paper tables.

A new paper or dataset adds files that register themselves, not ``if`` branches. Entries are
registered with a decorator (or :meth:`Registry.register`) in the module that owns them;
:func:`load_experiments` imports every module of ``depthlab.experiments_registry`` packages
(``depthlab.runners``) so that the experiment registry is complete after one call.

TensorFlow-free: looking a name up, listing names and reading a spec do not import TF.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Optional


from data_pipelines.registry import DATASETS, Registry, RegistryError  # noqa: F401 (one owner)

#: name -> Experiment subclass (depthlab.core.experiment)
EXPERIMENTS = Registry("experiment")
#: name -> model builder callable
MODELS = Registry("model")
#: name -> data_pipelines.registry.DatasetSpec: DATASETS, imported above (data_pipelines owns it)
#: name -> path of experiments/paper_tables/<name>.json
PAPER_TABLES = Registry("paper table")

#: packages whose modules register experiments when imported
EXPERIMENT_PACKAGES = ("depthlab.runners",)


def load_experiments(packages=EXPERIMENT_PACKAGES) -> Registry:
    """Imports every module of ``packages`` (each registers its experiments); returns
    :data:`EXPERIMENTS`."""
    for package_name in packages:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
    return EXPERIMENTS


def experiment(name: str) -> Callable:
    """Decorator: registers an Experiment subclass under ``name`` (sets ``cls.name``)."""
    def add(cls):
        cls.name = name
        return EXPERIMENTS.register(name, cls)
    return add


def get_experiment(name: str):
    """The registered Experiment class ``name``, importing the runner modules if needed."""
    if name not in EXPERIMENTS:
        load_experiments()
    return EXPERIMENTS.get(name)


def paper_tables(directory: Optional[str] = None) -> Registry:
    """Registers every ``experiments/paper_tables/*.json`` under its file stem (once)."""
    import os

    if not len(PAPER_TABLES):
        directory = directory or os.path.join(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))), "experiments", "paper_tables")
        if os.path.isdir(directory):
            for fname in sorted(os.listdir(directory)):
                if fname.endswith(".json"):
                    PAPER_TABLES.register(fname[:-5], os.path.join(directory, fname))
    return PAPER_TABLES
