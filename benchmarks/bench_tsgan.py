r"""TS-GAN train-step throughput against plain Keras references, at fp32 and bf16.

  python -m benchmarks.bench_tsgan --preset=code --batch_size=1
  python -m benchmarks.bench_tsgan --preset=demo --batch_size=8 --peak_gflops=300

Reference: one full TS-GAN step runs 3 generator and 8 discriminator forward+backward passes
(teacher: G_A2B + D_depth; student: G_A2B, G_B2A, D_depth, D_RGB; D step: D_depth x3,
D_RGB x2). Each of the four networks is rebuilt as a *plain* Keras functional model (stock
layers only: ZeroPadding2D for the reflection pad, GroupNormalization for IN) and timed
alone in a minimal tf.function train step (MSE to a constant, Adam). The reference time is
3 t_G + 8 t_D; the ratio reference / TS-GAN says how much the trainer's plumbing (pools,
three optimizers, loss bookkeeping) costs. Target >= 0.9.

FLOPs are counted from the layers (depthlab.flops); a step is 3x forward. Timings: warm-up,
then the median of repeated runs, everything in this one process.
"""

from __future__ import annotations

import statistics
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "code", ["code", "paper", "demo"], "TS-GAN preset.")
flags.DEFINE_integer("batch_size", 1, "Images per step (the paper uses 1).", lower_bound=1)
flags.DEFINE_integer("steps", 5, "Steps per timed run.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed runs; the median is reported.", lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed warm-up steps.", lower_bound=1)
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Keras dtype policies to time.")
flags.DEFINE_float("peak_gflops", None, "Machine fp32 peak GFLOP/s (default: estimated from "
                   "/proc/cpuinfo; bf16 peak is taken from the ISA).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the steps.")


def _median_seconds(fn, steps, repeats, warmup):
    import tensorflow as tf

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            out = fn()
        _ = [float(tf.reduce_sum(tf.cast(v, tf.float32))) for v in (out.values() if isinstance(out, dict) else [out])]  # sync
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def plain_generator(cfg, in_ch, out_ch):
    import keras
    from keras import layers

    def norm_relu(x):
        return layers.ReLU()(layers.GroupNormalization(groups=-1, epsilon=1e-3)(x))

    inp = keras.Input((cfg.image_size, cfg.image_size, in_ch))
    x = layers.ZeroPadding2D(3)(inp)
    x = norm_relu(layers.Conv2D(cfg.gen_filters, 7, use_bias=False)(x))
    w = cfg.gen_filters
    for _ in range(cfg.gen_downsamplings):
        w *= 2
        x = norm_relu(layers.Conv2D(w, 3, 2, "same", use_bias=False)(x))
    for _ in range(cfg.gen_blocks):
        h = norm_relu(layers.Conv2D(w, 3, padding="same", use_bias=False)(x))
        h = layers.GroupNormalization(groups=-1, epsilon=1e-3)(
            layers.Conv2D(w, 3, padding="same", use_bias=False)(h))
        x = layers.Add()([x, h])
    for _ in range(cfg.gen_downsamplings):
        w //= 2
        x = norm_relu(layers.Conv2DTranspose(w, 3, 2, "same", use_bias=False)(x))
    x = layers.ZeroPadding2D(3)(x)
    out = layers.Activation("tanh", dtype="float32")(layers.Conv2D(out_ch, 7, dtype="float32")(x))
    return keras.Model(inp, out)


def plain_discriminator(cfg, in_ch):
    import keras
    from keras import layers

    inp = keras.Input((cfg.image_size, cfg.image_size, in_ch))
    x = inp
    for i, (f, s) in enumerate(zip(cfg.disc_filters, cfg.disc_strides)):
        x = layers.Conv2D(f, 4, s, "same", use_bias=i == 0)(x)
        if i:
            x = layers.GroupNormalization(groups=-1, epsilon=1e-3)(x)
        x = layers.LeakyReLU(0.2)(x)
    return keras.Model(inp, layers.Conv2D(1, 4, padding="same", dtype="float32")(x))


def _plain_step(model, batch, in_ch, jit):
    import keras
    import tensorflow as tf

    opt = keras.optimizers.Adam(1e-4)
    x = tf.random.stateless_uniform((batch,) + tuple(model.input.shape[1:3]) + (in_ch,), [1, 2],
                                    -1.0, 1.0)

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.cast(model(x, training=True), tf.float32) - 0.5))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
        return loss

    return step


def bench_precision(precision: str):
    import keras
    import tensorflow as tf

    from depthlab import flops
    from depthlab.configs import tsgan_config
    from depthlab.models.tsgan import TSGAN

    keras.mixed_precision.set_global_policy(precision)
    cfg = tsgan_config(FLAGS.preset, batch_size=FLAGS.batch_size)
    b, s, dc = FLAGS.batch_size, cfg.image_size, cfg.depth_channels
    steps, reps, warm = FLAGS.steps, FLAGS.repeats, FLAGS.warmup

    model = TSGAN(cfg)
    roles = ("teacher", "student", "disc") + (
        ("d_rgb",) if cfg.update_order == "algorithm1" else ())
    model.compile(**{f"{r}_optimizer": keras.optimizers.Adam(1e-4, name=r) for r in roles})
    u = lambda seed, c: tf.random.stateless_uniform((b, s, s, c), [seed, 0], -1.0, 1.0)  # noqa
    batch = {"rgb": u(1, 3), "depth": u(2, 1), "mask": tf.ones((b, s, s, 1)), "target_rgb": u(3, 3)}
    step = tf.function(lambda: model.train_step(batch), jit_compile=FLAGS.jit_compile)
    t_tsgan = _median_seconds(step, steps, reps, warm)

    g_ref = plain_generator(cfg, 3, dc)
    d_ref = plain_discriminator(cfg, dc)
    t_g = _median_seconds(_plain_step(g_ref, b, 3, FLAGS.jit_compile), steps, reps, warm)
    t_d = _median_seconds(_plain_step(d_ref, b, dc, FLAGS.jit_compile), steps, reps, warm)
    t_ref = 3 * t_g + 8 * t_d

    g_fwd = tf.function(lambda: model.g_a2b(batch["rgb"], training=False),
                        jit_compile=FLAGS.jit_compile)
    t_fwd = _median_seconds(g_fwd, steps, reps, warm)

    step_flops = b * (3 * flops.train_step_flops(model.g_a2b) + 8 * flops.train_step_flops(model.d_depth))
    fwd_flops = b * flops.forward_flops(model.g_a2b)
    keras.mixed_precision.set_global_policy("float32")
    return dict(precision=precision, tsgan_step_s=t_tsgan, img_per_s=b / t_tsgan,
                plain_G_step_s=t_g, plain_D_step_s=t_d, reference_step_s=t_ref,
                ratio_vs_plain=t_ref / t_tsgan, step_gflops=step_flops / 1e9,
                achieved_gflops_per_s=step_flops / t_tsgan / 1e9,
                g_forward_img_per_s=b / t_fwd, g_forward_gflops_per_s=fwd_flops / t_fwd / 1e9)


def main(argv):
    del argv
    from depthlab import flops, reporting

    rows = [bench_precision(p) for p in FLAGS.precisions]
    for r in rows:
        dtype = "bfloat16" if "bfloat16" in r["precision"] else "float32"
        peak = (FLAGS.peak_gflops * (2 if dtype == "bfloat16" else 1) if FLAGS.peak_gflops
                else flops.estimate_cpu_peak_gflops(dtype))
        r["fraction_of_peak"] = (r["achieved_gflops_per_s"] / peak) if peak else None
        r["peak_gflops"] = peak
    print(f"TS-GAN preset={FLAGS.preset} batch={FLAGS.batch_size} jit={FLAGS.jit_compile}")
    print(reporting.markdown_table(rows, digits=3))
    by = {r["precision"]: r for r in rows}
    if "float32" in by and "mixed_bfloat16" in by:
        speedup = by["mixed_bfloat16"]["g_forward_img_per_s"] / by["float32"]["g_forward_img_per_s"]
        print(f"\nbf16 / fp32 generator forward throughput: {speedup:.2f}x")


if __name__ == "__main__":
    app.run(main)
