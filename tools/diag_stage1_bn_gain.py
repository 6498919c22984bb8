"""Issue 21: per-BN-layer training-mode batch variance and 1/sqrt(var+eps) of an untrained
stage 1 on its first batch. Usage: python tools/diag_stage1_bn_gain.py BATCH SEED"""
import sys, numpy as np, keras, tensorflow as tf
from depthlab import training
from depthlab.models import two_stage as ts
from depthlab.runners import two_stage as runner
batch, seed = int(sys.argv[1]), int(sys.argv[2])
training.set_seeds(seed)
cfg = ts.stage1_config("demo", 4, input_hw=(32, 32))
net = ts.Stage1Net(cfg)
stream, _ = runner.train_stream("middlebury_sample", None, (32, 32), 2, None, 50, batch, seed, 0, cfg.out_hw)
x, depth, valid = next(iter(runner.network_batches(stream, 4)))
bns = [l for l in net.layers if isinstance(l, keras.layers.BatchNormalization)]
m = keras.Model(net.input, [l.input for l in bns])
outs = m(x, training=True)
for l, a in zip(bns, outs):
    a = a.numpy(); v = a.reshape(-1, a.shape[-1]).var(0)
    print(f"{l.name:26s} {a.shape[1]}x{a.shape[2]} values/channel {a.shape[0]*a.shape[1]*a.shape[2]:5d}  batch var min {v.min():.2e} median {np.median(v):.2e}  max 1/sqrt(var+eps) {np.max(1/np.sqrt(v+1e-5)):.3g}")
