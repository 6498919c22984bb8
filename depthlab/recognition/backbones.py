"""Moved to :mod:`depthlab.nets.recognition_backbones` (paper-neutral networks, issue 17).

This alias keeps ``depthlab.recognition.backbones`` importable for code written against the
old path; new code imports ``depthlab.nets.recognition_backbones``.
"""

from depthlab.nets.recognition_backbones import *  # noqa: F401,F403
