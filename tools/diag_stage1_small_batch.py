"""Issue 21 diagnosis: two-stage stage 1 (demo preset, 32x32 crops, 50 samples) at batch 2 vs 8.

Per step: training loss (berHu), global gradient norm is not available from fit, so the
callback records the weight norm change, the guard's probe MSE in inference mode AND in
training mode (batch statistics of the probe), and the bottleneck BN's moving variance.
Usage: python tools/diag_stage1_small_batch.py BATCH SEED STEPS OUT.json [key=value ...]
"""
import json
import sys
import tempfile

import keras
import numpy as np

from depthlab.models import two_stage as ts
from depthlab.runners import two_stage as runner


class Rec(keras.callbacks.Callback):
    def __init__(self, probe_batch, target, mask):
        super().__init__()
        self.b, self.t, self.m, self.rows = probe_batch, target, mask, []

    def on_train_batch_end(self, batch, logs=None):
        net = self.model.net
        x = ts.stage1_input(self.b["rgb"], self.b["sparse"], net.config.input_channels)
        out = {}
        for mode in (False, True):
            # training=True on the probe would update BN statistics: snapshot and restore
            saved = [v.numpy() for v in net.non_trainable_variables]
            p = net(x, training=mode).numpy()
            for v, s in zip(net.non_trainable_variables, saved):
                v.assign(s)
            err = ((p - self.t)[self.m] ** 2).mean()
            out["probe_mse_" + ("train" if mode else "infer")] = float(err)
            out["pred_mean_" + ("train" if mode else "infer")] = float(p[self.m].mean())
        bn = net.get_layer("bottleneck_bn")
        hb = net.get_layer("head_conv")
        out.update(step=len(self.rows) + 1, loss=float(logs["loss"]),
                   bottleneck_mv_mean=float(np.mean(bn.moving_variance.numpy())),
                   head_w_norm=float(np.linalg.norm(hb.kernel.numpy())),
                   w_norm=float(np.sqrt(sum(np.sum(v.numpy() ** 2) for v in net.trainable_variables))))
        self.rows.append(out)


def main():
    batch, seed, steps, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    extra = dict(a.split("=") for a in sys.argv[5:])
    kw = {k: (None if v == "none" else float(v)) for k, v in extra.items()}
    d = tempfile.mkdtemp()
    opts = runner.Stage1Options(model_dir=d, preset="demo", num_samples=50, epochs=1,
                                steps_per_epoch=steps, batch_size=batch, crop_hw=(32, 32),
                                log_every=2, seed=seed, **kw)
    test_rgb, test_depth = runner.load_split("middlebury_sample", "test", None, opts.crop_hw, 2)
    from data_pipelines import sparse
    ds = sparse.rgbd_dataset(test_rgb[:4], test_depth[:4], 50, 4, opts.crop_hw,
                             seed=seed + runner.EVAL_SEED_OFFSET, training=False)
    b = next(iter(ds))
    rec = Rec(b, b["depth"].numpy(), b["valid"].numpy() > 0)
    s = runner.train_stage1(opts, extra_callbacks=[rec], verbose=False)
    f = s["final"]
    out = {"batch": batch, "seed": seed, "rows": rec.rows, "rmse": f["rmse"],
           "collapsed": f["collapsed"], "reason": f["collapse_reason"],
           "target_mean": float(b["depth"].numpy()[b["valid"].numpy() > 0].mean()), **kw}
    json.dump(out, open(path, "w"), indent=1)
    for r in rec.rows:
        print(" ".join(f"{k}={v:.4g}" for k, v in r.items()))
    print("rmse", f["rmse"], "collapsed", f["collapsed"], f["collapse_reason"])


if __name__ == "__main__":
    main()
