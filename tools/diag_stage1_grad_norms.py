"""Issue 21: stage-1 global / per-group gradient norms per step and the largest relative
kernel changes. Usage: python tools/diag_stage1_grad_norms.py BATCH SEED STEPS [clip_norm=none|X]"""
import sys, tempfile, numpy as np, keras, tensorflow as tf
from depthlab import losses
from depthlab.models import two_stage as ts
from depthlab.runners import two_stage as runner
batch, seed, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
kw = {k: (None if v == "none" else float(v)) for k, v in (a.split("=") for a in sys.argv[4:])}

def train_step(self, data):
    x, depth, valid = data
    depth, valid = tf.cast(depth, tf.float32), tf.cast(valid, tf.bool)
    with tf.GradientTape() as tape:
        pred = tf.cast(self.net(x, training=True), tf.float32)
        loss = self.loss_fn(pred, depth, valid)
    variables = self.net.trainable_variables
    grads = tape.gradient(loss, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    out = {"loss": loss, "gnorm": tf.linalg.global_norm(grads)}
    groups = {"enc_conv1": [], "layer1": [], "layer4": [], "bottleneck": [], "upproj": []}
    for v, g in zip(variables, grads):
        for k in groups:
            if k in v.path: groups[k].append(g)
    out.update({f"g_{k}": tf.linalg.global_norm(g) for k, g in groups.items() if g})
    return out
ts.Stage1Trainer.train_step = train_step

class Rec(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.w0 = {v.path: v.numpy() for v in self.model.net.trainable_variables}
    def on_train_batch_end(self, b, logs=None):
        print(b + 1, " ".join(f"{k}={float(v):.3g}" for k, v in logs.items()), flush=True)
    def on_train_end(self, logs=None):
        ch = sorted(((np.linalg.norm(v.numpy() - self.w0[v.path]) / (np.linalg.norm(self.w0[v.path]) + 1e-12), v.path)
                     for v in self.model.net.trainable_variables if "kernel" in v.path), reverse=True)
        for c, p in ch[:8]: print(f"  rel change {c:.3g} {p}")
opts = runner.Stage1Options(model_dir=tempfile.mkdtemp(), preset="demo", num_samples=50, epochs=1,
                            steps_per_epoch=steps, batch_size=batch, crop_hw=(32, 32), log_every=steps,
                            seed=seed, collapse_guard="off", **kw)
f = runner.train_stage1(opts, extra_callbacks=[Rec()], verbose=False)["final"]
print("rmse", f["rmse"])
