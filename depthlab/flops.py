"""Model FLOPs counted from the layers (for benchmarks' fraction-of-peak figures).

Counts multiply-adds of convolutions and dense layers as 2 FLOPs each, from each layer's
own input/output shapes; normalisation, activations and additions are ignored (they are a
few percent of a conv net). A training step is counted as 3x the forward pass (forward,
gradient w.r.t. inputs, gradient w.r.t. weights).
"""

from __future__ import annotations

import os
from typing import Optional

import keras
from keras import layers


def _conv_flops(layer, in_shape, out_shape) -> int:
    k = 1
    for d in layer.kernel_size:
        k *= int(d)
    cin = int(in_shape[-1])
    cout = int(layer.filters)
    if isinstance(layer, layers.Conv2DTranspose):
        # Each input pixel scatters a k x k x cout patch.
        positions = int(in_shape[1]) * int(in_shape[2])
    else:
        positions = int(out_shape[1]) * int(out_shape[2])
    groups = int(getattr(layer, "groups", 1) or 1)
    return 2 * positions * k * (cin // groups) * cout


def forward_flops(model: keras.Model) -> int:
    """Forward FLOPs for ONE example of a built functional model (nested models/blocks too)."""
    total = 0
    for layer in model.layers:
        total += _layer_flops(layer)
    return total


def _layer_flops(layer) -> int:
    if isinstance(layer, keras.Model):
        return forward_flops(layer)
    if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
        return _conv_flops(layer, layer.input.shape, layer.output.shape)
    if isinstance(layer, layers.Dense):
        return 2 * int(layer.input.shape[-1]) * int(layer.units)
    inner = getattr(layer, "flops_per_example", None)
    if callable(inner):
        return int(inner())
    return 0


def train_step_flops(model: keras.Model) -> int:
    return 3 * forward_flops(model)


def estimate_cpu_peak_gflops(dtype: str = "float32") -> Optional[float]:
    """Rough peak: cores x MHz (as /proc/cpuinfo reports it) x FLOPs/cycle from the ISA.

    Returns None when it cannot be read; benchmarks accept --peak_gflops instead.
    """
    try:
        cores = os.cpu_count() or 1
        mhz = None
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("cpu MHz"):
                mhz = float(line.split(":")[1])
                break
        if mhz is None:
            return None
        flags = text
        # two FMA pipes x vector width x 2 FLOPs: AVX-512 64, AVX2 32, else SSE 16 (fp32)
        per_cycle = 64 if "avx512f" in flags else (32 if "avx2" in flags else 16)
        if dtype == "bfloat16":
            per_cycle *= 2 if ("avx512_bf16" in flags or "amx_bf16" in flags) else 1
            if "amx_bf16" in flags:
                per_cycle = 1024
        return cores * mhz * 1e-3 * per_cycle
    except OSError:
        return None
