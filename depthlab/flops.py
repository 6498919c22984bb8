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


def _graph_op_flops(op) -> int:
    """FLOPs of one matrix op of a traced graph from its static shapes (0 for other ops)."""
    def dims(t):
        shape = t.shape
        if shape.rank is None or not shape.is_fully_defined():
            raise ValueError(f"graph_forward_flops: {op.type} {op.name} has a non-static "
                             f"shape {shape}; trace with a fully defined input shape")
        return [int(d) for d in shape]

    if op.type in ("Conv2D", "DepthwiseConv2dNative"):
        n, ho, wo, co = dims(op.outputs[0])
        kh, kw, ci, mult = dims(op.inputs[1])
        # Conv2D: filter (kh, kw, ci, co); depthwise: (kh, kw, ci, multiplier), co = ci*mult.
        per_output = kh * kw * (ci if op.type == "Conv2D" else 1)
        return 2 * n * ho * wo * co * per_output
    if op.type == "Conv2DBackpropInput":             # transposed convolution
        kh, kw, co, ci = dims(op.inputs[1])          # filter (kh, kw, out_ch, in_ch)
        n, hi, wi, _ = dims(op.inputs[2])            # the transposed conv's input
        return 2 * n * hi * wi * kh * kw * ci * co
    if op.type == "MatMul":
        a, b = dims(op.inputs[0]), dims(op.inputs[1])
        m = a[1] if op.get_attr("transpose_a") else a[0]
        k = a[0] if op.get_attr("transpose_a") else a[1]
        ncols = b[0] if op.get_attr("transpose_b") else b[1]
        return 2 * m * k * ncols
    if op.type in ("BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"):
        a = dims(op.inputs[0])
        out = dims(op.outputs[0])
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        batch = 1
        for d in out[:-2]:
            batch *= d
        return 2 * batch * out[-2] * out[-1] * k
    return 0


def graph_forward_flops(fn, input_spec) -> float:
    """Forward FLOPs per example of ``fn`` (a model or callable), counted from the ops of its
    traced graph: Conv2D, depthwise and transposed convolutions, MatMul and BatchMatMul, each
    multiply-add 2 FLOPs, divided by the spec's batch size. Works for subclassed models, whose
    layers have no static input shapes for :func:`forward_flops`; the two counts agree on
    functional models (tested). ``input_spec``: a ``tf.TensorSpec`` with a static shape."""
    import tensorflow as tf

    concrete = tf.function(lambda x: fn(x, training=False)).get_concrete_function(input_spec)
    total = sum(_graph_op_flops(op) for op in concrete.graph.get_operations())
    return total / float(input_spec.shape[0])


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
