"""Search for U-Net layouts with the exact trainable-parameter counts of Table III.

Schlett, Rathgeb, Busch, "Deep Learning-based Single Image Face Depth Data Enhancement",
Table III: DL-Alpha 6,731,041; DL-Beta 13,746,881; DL-Gamma 11,593,825; DL-Delta 4,175,713.
The authors' code is not public; this script reproduces the derivation recorded in
``depthlab/models/enhancers.py`` (module docstring). Counting is analytic (integers, numpy),
so the whole search takes about a minute on 2 cores; ``--verify`` then builds the chosen
Keras models and counts their trainable weights.

Family ("classic Keras U-Net"): per level two Conv2D(k x k, same, relu), MaxPooling2D(2);
a bottleneck of two Conv2D; decoder UpSampling2D(2) -> concatenate(skip) -> two Conv2D;
head Conv2D(1, 1x1). Widths w_0..w_L (L = number of poolings, w_L = bottleneck). Optional
fully-connected bottleneck after the bottleneck convs: Flatten -> Dense(h) ... -> Dense(F)
-> Reshape, F = (256 / 2^L)^2 * w_L.

Run:  python3 tools/search_enhancer_configs.py [--verify]
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys

import numpy as np

A, B, G, D = 6_731_041, 13_746_881, 11_593_825, 4_175_713
TABLE_III = {"alpha": A, "beta": B, "gamma": G, "delta": D}
# Gamma = Alpha with every 3x3 Conv2D kernel made 5x5 (paper text) <=> G - A = (25 - 9) * S_A,
# S_A = sum over Alpha's 3x3 convs of c_in * c_out.
S_ALPHA = (G - A) // 16
assert (G - A) % 16 == 0 and S_ALPHA == 303_924

# widths that look "designed": 2^k and 3 * 2^k (8 .. 1024)
ROUND_WIDTHS = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
# a wider menu (adds 5*2^k, 7*2^k) for the constrained 'paper' search
MENU_WIDTHS = [16, 20, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
               448, 512]


# ---------------------------------------------------------------- analytic counts
def conv_products(ws) -> int:
    """sum(c_in * c_out) over the k x k convs of the classic U-Net with widths ``ws``."""
    L = len(ws) - 1
    s = 1 * ws[0] + ws[0] * ws[0]
    for i in range(1, L + 1):
        s += ws[i - 1] * ws[i] + ws[i] * ws[i]
    for i in range(L - 1, -1, -1):
        s += (ws[i + 1] + ws[i]) * ws[i] + ws[i] * ws[i]
    return s


def conv_params(ws, k: int = 3) -> int:
    """Trainable parameters of the conv part: k^2 * products + conv biases + 1x1 head."""
    L = len(ws) - 1
    biases = 4 * sum(ws[:L]) + 2 * ws[L]
    return k * k * conv_products(ws) + biases + ws[0] + 1


def mlp_params(flat: int, hidden) -> int:
    """Flatten(flat) -> Dense(h) for h in hidden -> Dense(flat), all with biases."""
    total, prev = 0, flat
    for h in tuple(hidden) + (flat,):
        total += prev * h + h
        prev = h
    return total


def flat_size(ws, image_size: int = 256) -> int:
    return (image_size >> (len(ws) - 1)) ** 2 * ws[-1]


def total_params(ws, k: int = 3, hidden=()) -> int:
    return conv_params(ws, k) + (mlp_params(flat_size(ws), hidden) if hidden else 0)


# ---------------------------------------------------------------- helpers
def _combos(values, n):
    return np.array(list(itertools.combinations_with_replacement(values, n)), dtype=np.int64)


def _vector_counts(W):
    """Vectorised conv_products and conv_params (k=3) for an (N, L+1) width array."""
    L = W.shape[1] - 1
    s = W[:, 0] + W[:, 0] ** 2
    for i in range(1, L + 1):
        s = s + W[:, i - 1] * W[:, i] + W[:, i] ** 2
    for i in range(L - 1, -1, -1):
        s = s + (W[:, i + 1] + W[:, i]) * W[:, i] + W[:, i] ** 2
    biases = 4 * W[:, :L].sum(axis=1) + 2 * W[:, L]
    return s, 9 * s + biases + W[:, 0] + 1


def is_round(w: int) -> bool:
    """2^k, 3*2^k or 5*2^k."""
    while w % 2 == 0:
        w //= 2
    return w in (1, 3, 5)


# ---------------------------------------------------------------- section 1: a lemma
def lemma() -> None:
    print("== 1. what the Alpha/Gamma sentence implies")
    print(f"S_A = (G - A) / 16 = {S_ALPHA:,}; S_A mod 8 = {S_ALPHA % 8}")
    print("If every hidden width were a multiple of 8 (input/output 1 channel), every c_in*c_out")
    print("term would be a multiple of 8, so S_A = 4 (mod 8) needs some width = 4 (mod 8).")
    print(f"Kernel-size-independent parameters of Alpha: A - 9*S_A = {A - 9 * S_ALPHA:,} "
          f"({(A - 9 * S_ALPHA) / A:.0%} of Alpha): biases alone cannot hold them, so Alpha "
          "needs a large non-3x3 block (here: a fully-connected bottleneck).\n")


# ---------------------------------------------------------------- section 2: plain U-Nets
def search_plain(max_levels: int = 9):
    """All classic U-Nets (no dense block) with non-decreasing ROUND_WIDTHS: exact hits."""
    print("== 2. classic U-Net, widths non-decreasing from", ROUND_WIDTHS)
    hits = {k: [] for k in ("alpha", "beta", "delta", "gamma(k5)")}
    n_total = 0
    for L in range(2, max_levels + 1):
        W = _combos(ROUND_WIDTHS, L + 1)
        n_total += len(W)
        S, P = _vector_counts(W)
        for name, val in (("alpha", A), ("beta", B), ("delta", D)):
            for i in np.nonzero(P == val)[0]:
                hits[name].append(tuple(int(x) for x in W[i]))
        for i in np.nonzero(P + 16 * S == G)[0]:
            hits["gamma(k5)"].append(tuple(int(x) for x in W[i]))
    print(f"{n_total:,} width lists (L = 2..{max_levels}) checked")
    for name, lst in hits.items():
        print(f"  {name:10s} {len(lst)} exact: {lst}")
    both = sorted(set(hits["delta"]) & set(hits["gamma(k5)"]))
    print(f"  same widths give Delta at 3x3 AND Gamma at 5x5: {both}\n")
    return hits


# ---------------------------------------------------------------- section 3: 'paper' preset
def alpha_candidates(max_levels: int = 8):
    """Widths w_1..w_L from MENU_WIDTHS, w_0 solved so that conv_products == S_A."""
    out = set()
    for L in range(3, max_levels + 1):
        C = _combos(MENU_WIDTHS, L)                     # w_1 .. w_L
        w = lambda i: C[:, i - 1]                        # noqa: E731
        R = w(1) ** 2
        for i in range(2, L + 1):
            R = R + w(i - 1) * w(i) + w(i) ** 2
        for i in range(L - 1, 0, -1):
            R = R + (w(i + 1) + w(i)) * w(i) + w(i) ** 2
        # terms with w_0: w_0 (input conv) + 3 w_0^2 + 2 w_0 w_1
        a, b, c = 3, 1 + 2 * w(1), R - S_ALPHA
        disc = b * b - 4 * a * c
        r = np.sqrt(np.maximum(disc, 0)).astype(np.int64)
        for rr in (r - 1, r, r + 1):
            ok = (disc >= 0) & (rr * rr == disc) & ((rr - b) % (2 * a) == 0)
            w0 = (rr - b) // (2 * a)
            ok &= (w0 >= 4) & (w0 <= w(1))
            for j in np.nonzero(ok)[0]:
                out.add((int(w0[j]),) + tuple(int(x) for x in C[j]))
    out = sorted(out)
    assert all(conv_products(ws) == S_ALPHA for ws in out)
    return out


def symmetric_mlps(flat: int, target: int):
    """(u1, u2) with u2 <= u1 and mlp_params(flat, (u1, u2, u1)) == target."""
    sols = []
    for u1 in range(1, target // (2 * flat) + 2):
        num = target - 2 * flat * u1 - 2 * u1 - flat
        if num < 0:
            break
        if num % (2 * u1 + 1) == 0 and 1 <= num // (2 * u1 + 1) <= u1:
            sols.append((u1, num // (2 * u1 + 1)))
    return sols


def beta_candidates(alpha_ws, hidden):
    """Beta: same levels and dense layers, every width >= Alpha's (MENU_WIDTHS, ratio <= 2),
    bottleneck width solved for the exact count."""
    L = len(alpha_ws) - 1
    sols = []

    def rec(pref):
        i = len(pref)
        if i == L:
            lo = max(alpha_ws[L], pref[-1])
            for wl in range(lo, 4 * lo + 1):
                t = total_params(tuple(pref) + (wl,), 3, hidden)
                if t == B:
                    sols.append(tuple(pref) + (wl,))
                if t > B:
                    break
            return
        for v in MENU_WIDTHS:
            if v < alpha_ws[i] or (pref and (v < pref[-1] or v > 2 * pref[-1])):
                continue
            rec(pref + [v])

    rec([])
    return sols


def search_paper(plain_hits):
    print("== 3. 'paper' preset: every sentence of the text AND every count")
    cands = alpha_candidates()
    print(f"Alpha conv widths with sum(c_in*c_out) == S_A exactly: {len(cands)} "
          f"(w_1.. from {len(MENU_WIDTHS)} menu widths, w_0 solved, L <= 8)")
    scored = []
    for ws in cands:
        mlps = symmetric_mlps(flat_size(ws), A - conv_params(ws))
        irregular = sum(not is_round(w) for w in ws)
        ratio_dev = sum(abs(math.log2(b / a) - 1) for a, b in zip(ws[:-1], ws[1:]))
        scored.append(((irregular, not mlps, ws[0] < 8, round(ratio_dev, 3)), ws, mlps))
    scored.sort()
    with_mlp = [s for s in scored if s[2]]
    print(f"  of which with an exact symmetric dense bottleneck F->u1->u2->u1->F: {len(with_mlp)}")
    print("  best by (non-round widths, no exact MLP, w_0 < 8, sum|log2 ratio - 1|):")
    for key, ws, mlps in scored[:6]:
        print(f"    {key} {ws} mlps={mlps[:3]}")
    key, alpha_ws, mlps = with_mlp[0]
    u1, u2 = min(mlps, key=lambda m: (m[1] > alpha_ws[-1], -m[0]))   # code narrower than w_L
    hidden = (u1, u2, u1)
    assert total_params(alpha_ws, 3, hidden) == A and total_params(alpha_ws, 5, hidden) == G
    print(f"  chosen Alpha: widths {alpha_ws}, dense {hidden} (all MLPs: {mlps})")
    betas = beta_candidates(alpha_ws, hidden)
    same_dense = [b for b in betas if b[-1] == alpha_ws[-1]]
    print(f"  Beta (same dense units, widths >= Alpha's): {len(betas)} exact, "
          f"{len(same_dense)} keep the bottleneck width (identical dense layers): {same_dense}")
    beta_ws = same_dense[0]
    deltas = [ws for ws in plain_hits["delta"] if len(ws) < len(alpha_ws)]
    print(f"  Delta (no dense block, fewer levels, round widths): {deltas}")
    delta_ws = deltas[0]
    print()
    return {"alpha": (alpha_ws, 3, hidden), "gamma": (alpha_ws, 5, hidden),
            "beta": (beta_ws, 3, hidden), "delta": (delta_ws, 3, ())}


def table_preset(plain_hits):
    print("== 4. 'table' preset: what the numbers themselves point to")
    delta_ws = [ws for ws in plain_hits["delta"] if ws in plain_hits["gamma(k5)"]][0]
    beta_ws = plain_hits["beta"][0]
    alpha_ws = plain_hits["alpha"][0]
    print(f"  Delta {delta_ws}; Gamma = the same widths with 5x5; Beta {beta_ws}; "
          f"Alpha {alpha_ws} (the only round-width plain fit)\n")
    return {"alpha": (alpha_ws, 3, ()), "gamma": (delta_ws, 5, ()),
            "beta": (beta_ws, 3, ()), "delta": (delta_ws, 3, ())}


def verify(presets) -> int:
    import os
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir))
    from depthlab.models import enhancers

    bad = 0
    print("== 5. Keras check (depthlab.models.enhancers: specs equal the search's choice)")
    for preset, specs in presets.items():
        for variant, (ws, k, hidden) in specs.items():
            spec = enhancers.ENHANCER_SPECS[preset][variant]
            model = enhancers.build_enhancer(variant, preset=preset)
            n = int(sum(np.prod(w.shape) for w in model.trainable_weights))
            found = (tuple(spec.widths), spec.kernel_size, tuple(spec.dense_units))
            same = found == (ws, k, hidden)
            ok = n == TABLE_III[variant] and same
            bad += not ok
            print(f"  {preset:6s} {variant:6s} {n:>12,}  {'ok' if ok else 'MISMATCH'}")
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verify", action="store_true", help="build the Keras models and count")
    args = p.parse_args(argv)
    lemma()
    plain = search_plain()
    presets = {"paper": search_paper(plain), "table": table_preset(plain)}
    for name, specs in presets.items():
        for variant, (ws, k, hidden) in specs.items():
            assert total_params(ws, k, hidden) == TABLE_III[variant], (name, variant)
    print("analytic counts equal Table III for both presets")
    return verify(presets) if args.verify else 0


if __name__ == "__main__":
    sys.exit(main())
