"""One process of the multi-worker tests: trains a tiny TS-GAN or a DL-Delta enhancer (the
paper's 256x256 network, 2 ground truths, batch 2) under the given strategy, then writes its
weights and per-step losses to an .npz file.

  python -m tests.workers.train_worker --model=tsgan --strategy=multi_worker \
      --worker_index=0 --ports=23451,23452 --model_dir=/tmp/mw --out=/tmp/w0.npz

With --strategy=multi_worker the cluster is ``worker`` tasks on 127.0.0.1 at --ports, this
process being --worker_index (TF_CONFIG is set here, before TensorFlow starts).
"""

import argparse
import json
import os
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["tsgan", "enhancer"], required=True)
    p.add_argument("--strategy", choices=["default", "multi_worker"], required=True)
    p.add_argument("--worker_index", type=int, default=0)
    p.add_argument("--ports", default="")
    p.add_argument("--model_dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.strategy == "multi_worker":
        workers = [f"127.0.0.1:{port}" for port in args.ports.split(",")]
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                              "task": {"type": "worker",
                                                       "index": args.worker_index}})
    import numpy as np

    from depthlab import training

    import keras

    class InitialWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            net = getattr(self.model, "g_a2b", self.model)
            self.weights = [np.array(w) for w in net.get_weights()]

    recorder, initial = training.BatchLossRecorder(), InitialWeights()
    if args.model == "tsgan":
        from depthlab.runners import tsgan as runner

        opts = runner.TSGANOptions(model_dir=args.model_dir, batch_size=4, epochs=args.epochs,
                                 steps_per_epoch=args.steps, synthetic_identities=8,
                                 synthetic_images_per_identity=5, seed=3, log_every=1000,
                                 strategy=args.strategy)
        tiny = dict(image_size=32, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
                    disc_strides=(2, 2, 1), pool_size=50)   # never full in the test: the
        # distributed pool stores replica 0's images only (ImagePool docs)
        summary = runner.train(opts, preset="demo", overrides=tiny, extra_callbacks=[recorder, initial],
                               verbose=False)
        weights = summary["model"].g_a2b.get_weights()
    else:
        from depthlab.runners import enhancer as runner

        # The runner builds DL-Delta at 256x256 only: the cheapest run is a small global batch.
        opts = runner.EnhancerRunOptions(model_dir=args.model_dir, variant="delta",
                                         ground_truths=2, chunk_size=2,
                                         epochs_per_chunk=args.epochs, batch_size=2,
                                         steps_per_epoch=args.steps, seed=3,
                                         strategy=args.strategy)
        summary = runner.train(opts, extra_callbacks=[recorder, initial], verbose=False)
        weights = summary["model"].get_weights()
    losses = {k: np.array([h[k] for h in recorder.history]) for k in recorder.history[0]}
    np.savez(args.out, **{f"w{i}": w for i, w in enumerate(weights)},
             **{f"init{i}": w for i, w in enumerate(initial.weights)},
             **{f"loss_{k}": v for k, v in losses.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
