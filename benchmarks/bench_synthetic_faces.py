r"""Procedural faces: images/s of ``data_pipelines.synthetic_faces.generate_face``.

  python -m benchmarks.bench_synthetic_faces                      # demo size (64 px), both domains
  python -m benchmarks.bench_synthetic_faces --image_sizes=64,256 --count=40

What the TS-GAN README demo generates: 64 px faces (``configs.TSGAN_PRESETS['demo']``), the
'source' domain (teacher, paired RGB-D) and the 'target' domain (student RGB). One process,
single-threaded NumPy/OpenCV; each row is ``count`` faces in the loaders' order (identity-major,
``images_per_identity`` samples of each identity), after one untimed warm-up face, the median
of ``repeats`` timed passes. ``--output_json`` writes
the rows for a before/after comparison (BUILD_NOTES "Procedural faces").
"""

from __future__ import annotations

import json
import statistics
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("image_sizes", ["64"], "Face image sizes (pixels) to time.")
flags.DEFINE_list("domains", ["source", "target"], "Domains to time ('source', 'target').")
flags.DEFINE_integer("count", 40, "Faces per timed pass.", lower_bound=1)
flags.DEFINE_integer("images_per_identity", 10, "Consecutive samples of one identity (the "
                     "demo's --synthetic_images_per_identity; loaders go identity-major).",
                     lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed passes; the median is reported.", lower_bound=1)
flags.DEFINE_string("output_json", None, "Write the rows here as JSON.")


def images_per_second(image_size: int, domain: str, count: int, repeats: int,
                      images_per_identity: int) -> float:
    """Median images/s of ``generate_face`` over ``repeats`` passes of ``count`` faces, in
    the loaders' order (identity-major, ``images_per_identity`` samples each)."""
    from data_pipelines import synthetic_faces as sf

    config = sf.FaceConfig(image_size=image_size, domain=domain, seed=0)
    sf.generate_face(0, 0, config)                   # warm-up (imports, caches)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i in range(count):
            k = r * count + i
            sf.generate_face(1000 + k // images_per_identity, k % images_per_identity, config)
        times.append(time.perf_counter() - t0)
    return count / statistics.median(times)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    rows = []
    for size in (int(s) for s in FLAGS.image_sizes):
        for domain in FLAGS.domains:
            ips = images_per_second(size, domain, FLAGS.count, FLAGS.repeats,
                                    FLAGS.images_per_identity)
            rows.append({"image_size": size, "domain": domain, "images_per_s": ips})
            print(f"{size:4d} px  {domain:6s}  {ips:8.1f} images/s", flush=True)
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    app.run(main)
