r"""The benchmark suite: every depthlab network's train-step and inference throughput, its
GFLOPs per image, the GFLOP/s it achieves, and the fraction of the machine's peak, at fp32
and bf16; plus the data pipelines' images/s.

  python -m benchmarks.run                               # everything (~15 min on 2 cores)
  python -m benchmarks.run --models=enhancer_delta,dsrnet_x4 --precisions=float32
  python -m benchmarks.run --quick --output_json=/tmp/bench.json
  python -m benchmarks.run --jit_compile --peak_gflops=989000     # e.g. on a GPU

Each row is ONE network at its paper resolution and batch size (MODELS lists them and where
the numbers come from). Train step = forward, MSE to a fixed random target of the output's
shape, backward and one Adam update, in one ``tf.function`` (XLA with --jit_compile): the
network's own cost, without a GAN trainer's bookkeeping (``benchmarks.bench_tsgan`` times the
full TS-GAN step against such references: 1.15x). GFLOPs per image are counted from the
traced graph's convolutions and matrix products (``depthlab.flops.graph_forward_flops``); a
train step is 3x the forward. Timing: warm-up, then the median of repeated runs, all in this
one process.

Two denominators for the fraction of peak, both in the table:
- ``peak``: --peak_gflops, else an estimate from /proc/cpuinfo (cores x MHz x FLOPs/cycle of
  the ISA; the MHz there is often a base clock, so prefer --peak_gflops);
- ``matmul``: a plain 2048^3 ``tf.matmul`` timed in the same run at the same precision, i.e.
  what this TF build actually reaches on this machine: the ratio against a plain reference.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

from absl import app, flags

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One benchmark row: a builder, its input (H, W, C) and batch, and where they come from."""

    build: Callable[[], object]
    input_shape: Tuple[int, int, int]
    batch: int
    source: str


def _tsgan_g():
    from depthlab.models.tsgan import build_generator
    return build_generator("code")


def _tsgan_d():
    from depthlab.models.tsgan import build_discriminator
    return build_discriminator("code")


def _enhancer(variant):
    def build():
        from depthlab.models.enhancers import build_enhancer
        return build_enhancer(variant)
    return build


def _cyclegan_g1():
    from depthlab.models.cyclegan_depth import CycleGANDepthConfig
    from depthlab.nets.resnet_gan import ResnetGenerator
    return ResnetGenerator(**CycleGANDepthConfig().generator_kwargs(), name="g1_image2depth")


def _stage1():
    from depthlab.models.two_stage import build_stage1
    return build_stage1("sparse_to_dense", input_channels=4)


def _stage2():
    from depthlab.models.two_stage import build_stage2
    return build_stage2("paper")[0]


def _dsrnet():
    from depthlab.models.dsr_distill import build_dsrnet, dsr_config
    return build_dsrnet(dsr_config("paper", scale=4))


def _backbone(name):
    def build():
        from depthlab.nets.recognition_backbones import build_backbone
        return build_backbone(name, input_shape=(128, 128, 3))
    return build


MODELS: Dict[str, ModelSpec] = {
    "tsgan_g": ModelSpec(_tsgan_g, (128, 128, 3), 1, "TS-GAN code preset G_A2B, 128 px, batch 1"),
    "tsgan_d": ModelSpec(_tsgan_d, (128, 128, 3), 1, "TS-GAN code preset D_depth, 128 px, batch 1"),
    **{f"enhancer_{v}": ModelSpec(_enhancer(v), (256, 256, 1), 8,
                                  f"DL-{v.capitalize()} (Table III), 256 px; batch 8 (ours: "
                                  "the paper gives none)")
       for v in ("alpha", "beta", "gamma", "delta")},
    "cyclegan_g1": ModelSpec(_cyclegan_g1, (256, 256, 3), 1,
                             "Suarez et al. G1 (ResNet-9), 256 px, batch 1"),
    "stage1_resnet50_upproj": ModelSpec(_stage1, (228, 304, 4), 10,
                                        "sparse-to-dense ResNet-50 UpProj, NYU 228x304, "
                                        "batch 10 (two-stage paper)"),
    "stage2_uresnet": ModelSpec(_stage2, (256, 256, 1), 1,
                                "two-stage pix2pix U-ResNet generator, 256 px, batch 1"),
    "dsrnet_x4": ModelSpec(_dsrnet, (120, 160, 1), 1,
                           "DSRNet paper preset, x4: NYU 480x640 from 120x160, batch 1"),
    **{f"recognition_{b}": ModelSpec(_backbone(b), (128, 128, 3), 32,
                                     f"{b} backbone + embedding, 128 px (ours), batch 32")
       for b in ("vgg16", "resnet50", "se_resnet50", "inception")},
}

flags.DEFINE_list("models", list(MODELS), f"Rows to run, from {list(MODELS)}.")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"],
                  "Keras dtype policies: float32, mixed_bfloat16, mixed_float16.")
flags.DEFINE_integer("steps", 2, "Steps per timed run.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed runs; the median is reported.", lower_bound=1)
flags.DEFINE_integer("warmup", 1, "Untimed warm-up steps (after tracing).", lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "XLA-compile the steps (jit_compile=True).")
flags.DEFINE_float("peak_gflops", None, "The machine's fp32 peak GFLOP/s (bf16 peak: x2 where "
                   "the ISA doubles it); default: estimated from /proc/cpuinfo.", lower_bound=0)
flags.DEFINE_bool("pipelines", True, "Also time the data pipelines.")
flags.DEFINE_bool("quick", False, "Batch 1, one step, one repeat: a smoke run, not a figure.")
flags.DEFINE_string("output_json", None, "Also write the rows here.")

flags.register_validator("models", lambda v: set(v) <= set(MODELS),
                         message=f"--models must be a subset of {list(MODELS)}")
flags.register_validator("precisions",
                         lambda v: set(v) <= {"float32", "mixed_bfloat16", "mixed_float16"},
                         message="--precisions: float32, mixed_bfloat16, mixed_float16")


def median_seconds(fn, steps: int, repeats: int, warmup: int) -> float:
    """Median seconds per call of ``fn`` (which returns tensors) after ``warmup`` calls."""
    import tensorflow as tf

    def sync(out):
        for t in tf.nest.flatten(out):
            _ = float(tf.reduce_sum(tf.cast(t, tf.float32)))

    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            out = fn()
        sync(out)
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def _outputs(out):
    import tensorflow as tf
    return [t for t in tf.nest.flatten(out) if hasattr(t, "dtype") and t.dtype.is_floating]


def time_model(spec: ModelSpec, batch: int, policy: str, jit: bool, steps: int, repeats: int,
               warmup: int) -> Dict[str, float]:
    """Train-step and inference seconds per batch of one network under ``policy``."""
    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy(policy)
    model = spec.build()
    x = tf.random.stateless_uniform((batch,) + spec.input_shape, [1, 2], -1.0, 1.0)
    targets = [tf.stop_gradient(tf.random.stateless_uniform(tf.shape(t), [3, i]))
               for i, t in enumerate(_outputs(model(x, training=False)))]
    optimizer = keras.optimizers.Adam(1e-4)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def train_step():
        with tf.GradientTape() as tape:
            outs = _outputs(model(x, training=True))
            loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, tf.float32) - t))
                             for o, t in zip(outs, targets)])
            scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(jit_compile=jit)
    def infer():
        return _outputs(model(x, training=False))

    t_train = median_seconds(train_step, steps, repeats, warmup)
    t_infer = median_seconds(infer, steps, repeats, warmup)
    keras.mixed_precision.set_global_policy("float32")
    return {"train_s": t_train, "infer_s": t_infer}


def model_gflops(spec: ModelSpec) -> float:
    """Forward GFLOPs per image, counted from the float32 graph at batch 1."""
    import keras
    import tensorflow as tf

    from depthlab.flops import graph_forward_flops

    keras.mixed_precision.set_global_policy("float32")
    model = spec.build()
    return graph_forward_flops(model, tf.TensorSpec((1,) + spec.input_shape, tf.float32)) / 1e9


def matmul_gflops(policy: str, jit: bool, n: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of a plain n^3 matmul in the policy's compute dtype (the in-run reference)."""
    import tensorflow as tf

    dtype = {"float32": tf.float32, "mixed_bfloat16": tf.bfloat16,
             "mixed_float16": tf.float16}[policy]
    a = tf.cast(tf.random.stateless_uniform((n, n), [5, 6]), dtype)
    b = tf.cast(tf.random.stateless_uniform((n, n), [7, 8]), dtype)
    fn = tf.function(lambda: tf.matmul(a, b), jit_compile=jit)
    return 2.0 * n ** 3 / median_seconds(fn, 3, repeats, 1) / 1e9


def peak_gflops(policy: str) -> Optional[float]:
    from depthlab.flops import estimate_cpu_peak_gflops

    dtype = "float32" if policy == "float32" else "bfloat16"
    if FLAGS.peak_gflops:
        if dtype == "float32":
            return FLAGS.peak_gflops
        est32, est16 = estimate_cpu_peak_gflops("float32"), estimate_cpu_peak_gflops("bfloat16")
        return FLAGS.peak_gflops * (est16 / est32 if est32 and est16 else 1.0)
    return estimate_cpu_peak_gflops(dtype)


def pipeline_rows(repeats: int) -> List[Dict[str, object]]:
    """images/s of the degradation synthesis, the procedural faces and the NYU v2 reader."""
    import tempfile

    import numpy as np
    import tensorflow as tf

    from benchmarks import degradation_reference
    from data_pipelines import degradation as dg
    from data_pipelines import nyu_depth_v2, synthetic_faces

    rows = []
    batch = 32
    faces = [synthetic_faces.generate_face(i, 0, synthetic_faces.FaceConfig(image_size=256))
             for i in range(4)]
    depth = tf.constant(np.stack([faces[i % 4]["depth"] for i in range(batch)]), tf.float32)
    cfg = dg.DegradationConfig()
    seed = tf.constant([0, 1], tf.int64)
    seeds = dg.example_seeds(seed, batch)
    faces_np = depth.numpy()

    def reference():          # bench_degradation's single-threaded per-image NumPy/OpenCV loop
        out = [degradation_reference.reference_degrade(
            faces_np[i], np.random.default_rng([0, i]), cfg) for i in range(batch)]
        return tf.constant(np.stack([o[0] for o in out]))

    t_ref = median_seconds(reference, 1, repeats, 1)
    rows.append({"pipeline": "degradation reference (NumPy/OpenCV, per image)", "batch": batch,
                 "images_per_s": batch / t_ref, "of_reference": 1.0})
    for jit in (False, True):
        fn = tf.function(lambda: dg.degrade(depth, seeds, cfg, jit_compile=jit))
        t = median_seconds(fn, 3, repeats, 1)
        rows.append({"pipeline": f"degradation (TF{' + XLA stages' if jit else ''}, one call)",
                     "batch": batch, "images_per_s": batch / t, "of_reference": t_ref / t})
    # as training pulls it: the XLA function in a tf.data stream, 2 batches in flight
    pull, _ = degradation_reference.degradation_stream(depth, seed, cfg, 4, parallel_calls=2)
    t = median_seconds(pull, 1, repeats, 2) / 4
    rows.append({"pipeline": "degradation (TF + XLA, tf.data stream x2, steady state)",
                 "batch": batch, "images_per_s": batch / t, "of_reference": t_ref / t})
    t0 = time.perf_counter()
    n_faces = 8
    for i in range(n_faces):
        synthetic_faces.generate_face(1000 + i, 0, synthetic_faces.FaceConfig(image_size=256))
    rows.append({"pipeline": "procedural faces (256 px, mesh render)", "batch": 1,
                 "images_per_s": n_faces / (time.perf_counter() - t0)})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nyu_depth_v2_labeled.mat")
        nyu_depth_v2.write_labeled_fixture(path, num_frames=16, height=480, width=640)
        t0 = time.perf_counter()
        count = sum(1 for _ in nyu_depth_v2.iter_labeled(path, "train", image_size=256))
        rows.append({"pipeline": "NYU v2 labeled reader (480x640 -> 256, h5py)", "batch": 1,
                     "images_per_s": count / (time.perf_counter() - t0)})
    return rows


def _fmt(v, digits=2):
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")      # one tf.function per network: retracing is expected

    steps, repeats = (1, 1) if FLAGS.quick else (FLAGS.steps, FLAGS.repeats)
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU x{os.cpu_count()}"
    print(f"depthlab benchmark suite on {device}, TF {tf.__version__}, "
          f"jit_compile={FLAGS.jit_compile}{', QUICK (not a figure)' if FLAGS.quick else ''}")
    refs = {}
    for policy in FLAGS.precisions:
        refs[policy] = matmul_gflops(policy, FLAGS.jit_compile, repeats=repeats)
        peak = peak_gflops(policy)
        print(f"  {policy}: plain 2048^3 matmul {refs[policy]:.1f} GFLOP/s; "
              f"peak {_fmt(peak, 1)} GFLOP/s ({'flag' if FLAGS.peak_gflops else 'estimated'})")
    rows = []
    for name in FLAGS.models:
        spec = MODELS[name]
        batch = 1 if FLAGS.quick else spec.batch
        gflops = model_gflops(spec)
        for policy in FLAGS.precisions:
            t = time_model(spec, batch, policy, FLAGS.jit_compile, steps, repeats, FLAGS.warmup)
            train_ips, infer_ips = batch / t["train_s"], batch / t["infer_s"]
            train_gfs, infer_gfs = 3 * gflops * train_ips, gflops * infer_ips
            peak = peak_gflops(policy)
            row = {"model": name, "precision": policy, "input": "x".join(map(str, spec.input_shape)),
                   "batch": batch, "gflops_per_image": gflops,
                   "train_images_per_s": train_ips, "infer_images_per_s": infer_ips,
                   "train_gflop_per_s": train_gfs, "infer_gflop_per_s": infer_gfs,
                   "train_fraction_of_peak": train_gfs / peak if peak else None,
                   "train_fraction_of_matmul": train_gfs / refs[policy],
                   "infer_fraction_of_matmul": infer_gfs / refs[policy],
                   "source": spec.source}
            rows.append(row)
            print(f"  {name} [{policy}] train {train_ips:.2f} img/s, infer {infer_ips:.2f} img/s",
                  flush=True)
    cols = ["model", "precision", "input", "batch", "gflops_per_image", "train_images_per_s",
            "infer_images_per_s", "train_gflop_per_s", "train_fraction_of_peak",
            "train_fraction_of_matmul", "infer_fraction_of_matmul"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(_fmt(r[c], 3 if "fraction" in c else 2) for c in cols) + " |")
    pipes = pipeline_rows(repeats) if FLAGS.pipelines else []
    if pipes:
        print("\n| pipeline | batch | images/s | x reference |\n|---|---|---|---|")
        for p in pipes:
            ratio = p.get("of_reference")
            print(f"| {p['pipeline']} | {p['batch']} | {p['images_per_s']:.1f} | "
                  f"{'-' if ratio is None else f'{ratio:.2f}'} |")
    if FLAGS.output_json:
        from depthlab.training import write_json
        write_json(FLAGS.output_json, {"device": device, "jit_compile": FLAGS.jit_compile,
                                       "quick": FLAGS.quick, "matmul_gflop_per_s": refs,
                                       "models": rows, "pipelines": pipes})
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
