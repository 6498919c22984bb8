"""The run lifecycle, options declared once, and registries (issue 17; DESIGN.md).

``options``: options dataclasses and the absl flags made from them (TF-free).
``registry``: experiments, models, datasets and paper tables by name (TF-free).
``experiment``: the hooks a paper implements. ``run``: the lifecycle. ``cli``: binaries.
"""
