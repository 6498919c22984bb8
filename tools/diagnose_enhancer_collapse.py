r"""Diagnoses DL-Delta training collapse (issue 21): trains with the runner and logs, on a fixed
probe batch, the face MSE, the output spread over face pixels, the head's pre-sigmoid logits,
the fraction of dead ReLU channels per conv layer and the gradient norms.

  PYTHONPATH=. python3 tools/diagnose_enhancer_collapse.py --seed=0 --ground_truths=200 \
      --out=/tmp/diag_s0.json [--gt_cache=/tmp/gt_s0.npz]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data_seed", type=int, default=None, help="default: --seed")
    p.add_argument("--ground_truths", type=int, default=200)
    p.add_argument("--chunk_size", type=int, default=200)
    p.add_argument("--epochs_per_chunk", type=int, default=1)
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--steps_per_epoch", type=int, default=None)
    p.add_argument("--image_size", type=int, default=256)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--dense_until", type=int, default=30)
    p.add_argument("--gt_cache", default=None)
    p.add_argument("--fix", default="none",
                   help="experiment: none | bias | he | warmup | bias+he | bias+warmup")
    p.add_argument("--warmup_steps", type=int, default=100)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import keras
    import tensorflow as tf

    from data_pipelines import face_enhancement as fe
    from data_pipelines.conventions import UNIT_HOLE
    from depthlab.runners import enhancer

    data_seed = a.seed if a.data_seed is None else a.data_seed
    if a.gt_cache and os.path.exists(a.gt_cache):
        gt = fe.FaceDepthSet(np.load(a.gt_cache)["depth_mm"])
    else:
        gt = fe.synthetic_ground_truth(a.ground_truths, seed=data_seed, image_size=a.image_size)
        if a.gt_cache:
            np.savez(a.gt_cache, depth_mm=gt.depth_mm)
    probe_x, probe_y = next(iter(fe.make_enhancer_dataset(
        fe.FaceDepthSet(gt.depth_mm[:8]), 8, seed=999, variants=fe.DELTA_VARIANTS,
        training=False, repeat=False)))
    face = (probe_y < UNIT_HOLE).numpy()
    face_vals = probe_y.numpy()[face]
    const_loss = float(np.mean([np.mean((probe_y.numpy()[i][face[i]]
                                         - probe_y.numpy()[i][face[i]].mean()) ** 2)
                                for i in range(len(face))]))
    records = []

    class Diag(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            m = self.model
            convs = [l for l in m.layers if isinstance(l, keras.layers.Conv2D)]
            self.names = [l.name for l in convs]
            self.sub = keras.Model(m.inputs, [l.output for l in convs])
            self.step = 0
            self.t0 = time.time()
            variables = m.trainable_variables

            @tf.function
            def probe():
                with tf.GradientTape() as tape:
                    outs = self.sub(probe_x, training=False)
                    pred = outs[-1]
                    err = tf.where(probe_y < UNIT_HOLE, tf.square(pred - probe_y), 0.0)
                    loss = tf.reduce_mean(tf.reduce_sum(err, [1, 2, 3]) / tf.reduce_sum(
                        tf.cast(probe_y < UNIT_HOLE, tf.float32), [1, 2, 3]))
                grads = tape.gradient(loss, variables)
                return loss, outs, [tf.norm(g) if g is not None else tf.constant(0.0)
                                    for g in grads]

            self.probe = probe
            self.log(-1, None)

        def log(self, step, batch_loss):
            m = self.model
            loss, outs, norms = self.probe()
            pred = outs[-1]
            gnorm = {v.path: float(g) for v, g in zip(m.trainable_variables, norms)}
            head = m.get_layer("depth_out")
            feats = outs[-2]
            logits = (tf.tensordot(feats, head.kernel[0, 0], 1) + head.bias).numpy()
            dead = {n: float(np.mean(np.max(o.numpy(), axis=(0, 1, 2)) <= 0.0))
                    for n, o in zip(self.names[:-1], outs[:-1])}
            pv = pred.numpy()
            rec = {
                "step": step, "time": round(time.time() - self.t0, 1),
                "batch_loss_running": batch_loss,
                "probe_face_mse": float(loss),
                "out_face_std": float(np.std(pv[face])),
                "out_face_mean": float(np.mean(pv[face])),
                "logit_face_mean": float(np.mean(logits[face])),
                "logit_face_std": float(np.std(logits[face])),
                "dead_frac": dead,
                "dead_any_layer_all": [n for n, d in dead.items() if d == 1.0],
                "grad_norm_total": float(np.sqrt(sum(g * g for g in gnorm.values()))),
                "grad_norm": gnorm,
                "head_bias": float(head.bias.numpy()[0]),
                "head_kernel_norm": float(np.linalg.norm(head.kernel.numpy())),
            }
            records.append(rec)
            print(f"step {step:4d} t={rec['time']:6.1f}s loss_run={batch_loss} probe={rec['probe_face_mse']:.5f} "
                  f"out_std={rec['out_face_std']:.4f} logit={rec['logit_face_mean']:.3f}+-"
                  f"{rec['logit_face_std']:.3f} gnorm={rec['grad_norm_total']:.3e} "
                  f"dead(dec0_conv2)={dead.get('dec0_conv2', -1):.2f} "
                  f"max_dead={max(dead.values()):.2f} all_dead={rec['dead_any_layer_all'][:4]}",
                  flush=True)

        def on_train_batch_end(self, batch, logs=None):
            s = self.step
            self.step += 1
            if s < a.dense_until or s % a.every == 0:
                self.log(s, float((logs or {}).get("loss", np.nan)))

    fixes = set(a.fix.split("+")) - {"none"}
    orig_build = enhancer.build_and_compile

    def patched(opts_, lr):
        if "he" in fixes:
            orig_conv = keras.layers.Conv2D.__init__

            def conv_init(self, *args, **kw):
                if kw.get("activation") == "relu":
                    kw["kernel_initializer"] = "he_normal"
                orig_conv(self, *args, **kw)
            keras.layers.Conv2D.__init__ = conv_init
            try:
                model = orig_build(opts_, lr)
            finally:
                keras.layers.Conv2D.__init__ = orig_conv
        else:
            model = orig_build(opts_, lr)
        return model

    enhancer.build_and_compile = patched
    extra = []
    if "warmup" in fixes:
        class Warmup(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.i = getattr(self, "i", 0) + 1
                if self.i <= a.warmup_steps:
                    self.model.optimizer.learning_rate.assign(1e-3 * self.i / a.warmup_steps)
        extra.append(Warmup())

    opts = enhancer.EnhancerRunOptions(
        model_dir=a.out + ".model", variant="delta", ground_truths=a.ground_truths,
        chunk_size=a.chunk_size, epochs_per_chunk=a.epochs_per_chunk, batch_size=a.batch_size,
        seed=a.seed, image_size=a.image_size, steps_per_epoch=a.steps_per_epoch,
        output_bias_init="face_mean" if "bias" in fixes else "zeros")
    summary = enhancer.train(opts, gt=gt, extra_callbacks=extra + [Diag()], verbose=True)
    out = {"seed": a.seed, "data_seed": data_seed, "const_probe_loss": const_loss,
           "face_value_std": float(np.std(face_vals)),
           "history": summary["history"], "records": records}
    with open(a.out, "w") as f:
        json.dump(out, f)
    print("epoch losses", [h["loss"] for h in summary["history"]], "const probe loss", const_loss)


if __name__ == "__main__":
    main()
