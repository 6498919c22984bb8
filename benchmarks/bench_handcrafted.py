r"""RealSense filter throughput: depthlab.handcrafted (NumPy, batched) vs the SDK (pyrealsense2).

  python -m benchmarks.bench_handcrafted
  python -m benchmarks.bench_handcrafted --batch_size=32 --image_size=256 --repeats=5

For each of the paper's Table II filters, frames/s of

- sdk: ``pyrealsense2`` (C++), one frame at a time through a software device, the frame
  submission included (that is how the SDK is used offline);
- ours (1): ``depthlab.handcrafted`` on one (H, W) frame at a time;
- ours (B): the same on a (B, H, W) batch in one call,

on degraded synthetic faces (uint16 mm, 0 = hole). The ratio column is ours (B) / sdk in the
same run. Each figure is the median of ``--repeats`` timed runs after one warm-up; every output
is also compared with the SDK's, so the benchmark refuses to time a filter that disagrees.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 32, "Frames per batch.", lower_bound=1)
flags.DEFINE_integer("image_size", 256, "Square frame side in pixels.", lower_bound=16)
flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the faces and their degradation.")

FILTERS = {   # label -> (SDK filter name, SDK options, ours)
    "decimation m2": ("decimation", {"magnitude": 2}),
    "decimation m8": ("decimation", {"magnitude": 8}),
    "hole_filling fill_from_left": ("hole_filling", {"mode": 0}),
    "hole_filling farest": ("hole_filling", {"mode": 1}),
    "hole_filling nearest": ("hole_filling", {"mode": 2}),
    "spatial holes_fill 16px": ("spatial", {"holes_fill": 4}),
    "spatial holes_fill unlimited": ("spatial", {"holes_fill": 5}),
}


def _ours(name, options):
    from depthlab import handcrafted as hc

    fn = getattr(hc, name)
    return lambda d: fn(d, **options)


def _median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def degraded_faces(n, size, seed):
    import tensorflow as tf

    from data_pipelines import degradation as deg
    from data_pipelines import face_enhancement as fe

    gt = fe.synthetic_ground_truth(n, seed=seed, image_size=size)
    out, _ = deg.degrade(tf.constant(gt.depth_mm, tf.float32),
                         deg.example_seeds(tf.constant([seed, 1], tf.int64), n),
                         deg.DegradationConfig(helper="none"))
    return np.round(out.numpy()).clip(0, 65534).astype(np.uint16)


def main(argv):
    del argv
    from depthlab import realsense_sdk as sdk
    from depthlab import reporting

    frames = degraded_faces(FLAGS.batch_size, FLAGS.image_size, FLAGS.seed)
    cam = sdk.SoftwareDepthCamera(FLAGS.image_size, FLAGS.image_size)
    n = len(frames)
    rows = []
    for label, (name, options) in FILTERS.items():
        block = sdk.make_filter(name, **options)
        ours = _ours(name, options)

        def run_sdk():
            return [np.asarray(block.process(cam.frame(f)).get_data()).copy() for f in frames]

        want = np.stack(run_sdk())
        got = ours(frames)
        if got.shape != want.shape or np.any(got != want):
            raise AssertionError(f"{label}: depthlab.handcrafted differs from the SDK; not timed")
        t_sdk = _median_time(run_sdk, FLAGS.repeats)
        t_one = _median_time(lambda: [ours(f) for f in frames], FLAGS.repeats)
        t_batch = _median_time(lambda: ours(frames), FLAGS.repeats)
        rows.append({"filter": label, "sdk frames/s": n / t_sdk, "ours (1) frames/s": n / t_one,
                     f"ours (B={n}) frames/s": n / t_batch, "ours (B) / sdk": t_sdk / t_batch})
        print(f"{label}: done", flush=True)
    print(f"\n{FLAGS.image_size}x{FLAGS.image_size} uint16 frames, {n} per batch, median of "
          f"{FLAGS.repeats}; outputs identical to the SDK's")
    print(reporting.markdown_table(rows, digits=2))


if __name__ == "__main__":
    app.run(main)
