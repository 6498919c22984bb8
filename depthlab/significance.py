"""Paired significance tests for comparing two classifiers on the same test images.

Exact McNemar test (used by ``experiments.eval_recognition`` to compare the RGB column of TS-GAN
Tables 2-4 with each fusion column, paper lines 750-862): only the discordant pairs count;
``b`` = images the first classifier gets right and the second wrong, ``c`` = the reverse.
Under the null hypothesis (both equally accurate) ``b ~ Binomial(b + c, 1/2)``.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def discordant_counts(correct_a: Sequence, correct_b: Sequence) -> Tuple[int, int]:
    """(b, c) = (#a right and b wrong, #a wrong and b right) over paired images; the two
    per-image correctness vectors must have the same length."""
    a = np.asarray(correct_a).astype(bool).ravel()
    b = np.asarray(correct_b).astype(bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"discordant_counts: {a.size} vs {b.size} images; McNemar pairs the "
                         "same test images")
    return int(np.sum(a & ~b)), int(np.sum(~a & b))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``scipy.stats.binomtest(b, b + c, 0.5)``; 1.0 without
    discordant pairs. Example: b = 3, c = 0 gives 2 * 0.5^3 = 0.25."""
    for name, v in (("b", b), ("c", c)):
        if int(v) != v or v < 0:
            raise ValueError(f"mcnemar_exact: {name} must be a count >= 0, got {v!r}")
    b, c = int(b), int(c)
    if b + c == 0:
        return 1.0
    from scipy import stats

    return float(stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
