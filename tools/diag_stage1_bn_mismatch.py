"""Issue 21: after STEPS of stage 1, inference-mode activation RMS per layer and each BN input
variance / its moving variance on the guard probe. Usage: ... BATCH SEED STEPS [clip_norm=..]"""
import sys, tempfile, numpy as np, keras
from depthlab.models import two_stage as ts
from depthlab.runners import two_stage as runner
from data_pipelines import sparse
batch, seed, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
kw = {k: (None if v == "none" else float(v)) for k, v in (a.split("=") for a in sys.argv[4:])}
opts = runner.Stage1Options(model_dir=tempfile.mkdtemp(), preset="demo", num_samples=50, epochs=1,
                            steps_per_epoch=steps, batch_size=batch, crop_hw=(32, 32), log_every=steps,
                            seed=seed, **kw)
net = runner.train_stage1(opts, verbose=False)["net"]
r, d = runner.load_split("middlebury_sample", "test", None, (32, 32), 2)
b = next(iter(sparse.rgbd_dataset(r[:4], d[:4], 50, 4, (32, 32), seed=seed + 1000, training=False)))
x = ts.stage1_input(b["rgb"], b["sparse"], 4)
names = [l.name for l in net.layers if isinstance(l, keras.layers.BatchNormalization) or l.name.startswith("upproj") or l.name in ("head_conv",)]
m = keras.Model(net.input, [net.get_layer(n).output for n in names])
inf = m(x, training=False)
for n, a in zip(names, inf):
    a = a.numpy(); l = net.get_layer(n)
    extra = ""
    if isinstance(l, keras.layers.BatchNormalization):
        # the BN input in inference mode vs its moving statistics
        inp = keras.Model(net.input, l.input)(x, training=False).numpy()
        v = inp.reshape(-1, inp.shape[-1]).var(0); mv = l.moving_variance.numpy()
        extra = f" in_var/moving_var median {np.median(v/mv):.3g} max {np.max(v/mv):.3g}  spatial {inp.shape[1]}x{inp.shape[2]}"
    print(f"{n:28s} rms_infer {np.sqrt((a**2).mean()):.4g}{extra}")
