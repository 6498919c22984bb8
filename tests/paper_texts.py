"""The papers' full texts for tests that check numbers against them, by line.

They sit in ../shared/papers beside the checkout (the developers' machines and CI);
``DEPTHLAB_PAPERS_DIR`` points elsewhere (e.g. from a git worktree of the checkout). Where a
text is absent the calling test is skipped, saying which file and how to point at it.
"""

import os

import pytest

PAPERS = os.environ.get("DEPTHLAB_PAPERS_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "papers")


def paper_lines(name: str):
    """The lines of ``PAPERS/name`` (0-based list: the text's line N is item N - 1)."""
    path = os.path.join(PAPERS, name)
    if not os.path.isfile(path):
        pytest.skip(f"{path} (the paper text) is not here; set DEPTHLAB_PAPERS_DIR")
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")
