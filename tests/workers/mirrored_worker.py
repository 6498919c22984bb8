"""One process of tests/test_distributed_training.py: with 2 logical devices, runs the given
cases under ``--strategy=mirrored`` and the default strategy on the same global batches and
writes what the test compares into ``<out>/<case>.npz`` (``<case>.error`` holds a traceback).

  python -m tests.workers.mirrored_worker --out=/tmp/mirrored --cases=loss_scaling,recognition_score

The test runs the first two ``CASES``; ``recognition_feature`` (feature fusion, the same check,
~40 CPU-s more) runs on request; ``recognition_feature_frozen`` (members, then the classifier on
their frozen embeddings) and ``recognition_score_validated`` (members, then validation members
on a held-out image per identity) run in the opt-in tests/test_mirrored_trainers.py.

--devices=cpu (default) splits the CPU into 2 logical devices; --devices=gpu splits GPU 0 into
2 logical GPUs (NCCL/all-reduce path on a one-GPU machine).
"""

import argparse
import os
import sys
import time
import traceback

TRAIN_ORDER = ("rgb", "depth", "fused", "rgb_val", "depth_val")    # the runner's role order
CASES = ("loss_scaling", "recognition_score", "recognition_feature",
         "recognition_feature_frozen", "recognition_score_validated")


def _devices(kind: str) -> None:
    import tensorflow as tf

    if kind == "gpu":
        gpu = tf.config.list_physical_devices("GPU")[0]
        tf.config.set_logical_device_configuration(
            gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=8192)] * 2)
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def _weights(prefix, weights):
    return {f"{prefix}{i}": w for i, w in enumerate(weights)}


def loss_scaling(out_dir):
    """Keras' compiled-loss path under strategy.run, SGD (the update is lr x gradient, so a
    wrongly scaled loss shows; Adam's first steps would hide it): FaceAreaLoss on a conv net,
    and sparse cross-entropy on a BatchNorm net with and without synchronised BN."""
    import keras
    import numpy as np
    import tensorflow as tf

    from depthlab import training
    from depthlab.losses import FaceAreaLoss

    strategy = training.get_strategy("mirrored")   # the runners' instance
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1)).astype(np.float32)
    y = rng.random((4, 8, 8, 1)).astype(np.float32)
    # Replica 0 gets images 0-1, replica 1 images 2-3: very different hole fractions.
    for i, frac in enumerate((0.0, 0.2, 0.7, 0.9)):
        y[i][rng.random((8, 8, 1)) < frac] = 1.0
    face = tf.data.Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True).repeat()
    labels = np.array([0, 1, 2, 1])
    xc = (3.0 * rng.random((4, 6, 6, 2)) + 1.0).astype(np.float32)
    cls = tf.data.Dataset.from_tensor_slices((xc, labels)).batch(4, drop_remainder=True).repeat()

    def conv_net():
        inp = keras.Input((8, 8, 1))
        h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
        return keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same",
                                                    activation="sigmoid")(h))

    def bn_net():
        inp = keras.Input((6, 6, 2))
        h = keras.layers.Conv2D(4, 3, padding="same")(inp)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(h))
        return keras.Model(inp, keras.layers.Dense(3)(h))

    def run(make, loss, ds, distributed, sync=False, optimizer=None, steps=2):
        """``optimizer``: a factory, called inside the scope (Keras optimizers keep the
        strategy they are created under)."""
        keras.utils.set_random_seed(1)
        with strategy.scope() if distributed else tf.distribute.get_strategy().scope():
            model = make()
            model.compile(optimizer=(optimizer or (lambda: keras.optimizers.SGD(0.5)))(),
                          loss=loss)
            if sync:
                for layer in training.batchnorm_layers(model):
                    layer.synchronized = True
        init = [np.array(w) for w in model.get_weights()]
        rec = training.BatchLossRecorder()
        training.fit(model, ds, epochs=1, steps_per_epoch=steps, callbacks=[rec],
                     strategy=strategy if distributed else None)
        return init, model, np.array([h["loss"] for h in rec.history])

    out = {}
    init, single, loss_1 = run(conv_net, FaceAreaLoss("mse"), face, False)
    _, mirrored, loss_2 = run(conv_net, FaceAreaLoss("mse"), face, True)
    plain = conv_net()
    plain.set_weights(init)
    p = plain(x).numpy()
    valid = y < 1.0
    per_image = [((p[i] - y[i]) ** 2)[valid[i]].mean() for i in range(4)]
    out.update(face_init_loss=np.float64(np.mean(per_image)), face_loss_single=loss_1,
               face_loss_mirrored=loss_2, **_weights("face_init", init),
               **_weights("face_single", single.get_weights()),
               **_weights("face_mirrored", mirrored.get_weights()))
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    init, single, loss_1 = run(bn_net, ce, cls, False)
    for name, sync in (("bn_sync", True), ("bn_local", False)):
        _, model, loss_2 = run(bn_net, ce, cls, True, sync=sync)
        out.update({f"{name}_loss": loss_2, **_weights(f"{name}_w", model.get_weights())})
    out.update(bn_loss_single=loss_1, **_weights("bn_init", init),
               **_weights("bn_single", single.get_weights()))
    # Resuming across strategies: a ResumableCheckpoint (weights, Adam slots, epoch) written
    # by a mirrored model restores into a default-strategy one and the other way round.
    def state_of(model):
        return [np.array(v) for v in model.weights + model.optimizer.variables]

    for name, (src_mirrored, dst_mirrored) in (("to_default", (True, False)),
                                               ("to_mirrored", (False, True))):
        _, src, _ = run(conv_net, FaceAreaLoss("mse"), face, src_mirrored,
                        optimizer=lambda: keras.optimizers.Adam(0.01), steps=3)
        folder = os.path.join(out_dir, f"ckpt_{name}")
        training.ResumableCheckpoint(folder, model=src, optimizer=src.optimizer).save(4)
        keras.utils.set_random_seed(7)
        with strategy.scope() if dst_mirrored else tf.distribute.get_strategy().scope():
            dst = conv_net()
            dst.compile(optimizer=keras.optimizers.Adam(0.01), loss=FaceAreaLoss("mse"))
            dst.optimizer.build(dst.trainable_variables)
            state = training.ResumableCheckpoint(folder, model=dst, optimizer=dst.optimizer)
        before = state_of(dst)
        out[f"resume_{name}_epoch"] = state.restore_latest()
        out[f"resume_{name}_same"] = all(np.array_equal(a, b) for a, b in
                                         zip(state_of(src), state_of(dst)))
        out[f"resume_{name}_changed"] = not all(np.array_equal(a, b) for a, b in
                                                zip(before, state_of(dst)))
        out[f"resume_{name}_iterations"] = int(dst.optimizer.iterations.numpy())
    np.savez(os.path.join(out_dir, "loss_scaling.npz"), **out)


def _recognition(out_dir, fusion, **extra):
    """A tiny BN-Inception RGB+D run (width 1/16, 32x32; BN everywhere, synchronised under
    the strategy), one step of global batch 6 per role, mirrored vs default. The trained
    weights come from each run's saved model.keras; the worker stores distances only."""
    import keras
    import numpy as np

    from depthlab import training
    from depthlab.runners import recognition as runner

    class InitialWeights(keras.callbacks.Callback):       # one fit per role, in TRAIN_ORDER
        def on_train_begin(self, logs=None):
            # the lifecycle fits runner.RoleModels: the role being trained is its .role
            model = getattr(self.model, "role", self.model)
            fit_starts.setdefault(strategy, []).append(_flat(model.get_weights()))

    def _flat(weights):
        return np.concatenate([np.ravel(w) for w in weights])

    case = fusion + ("_validated" if extra.get("score_validation_per_identity") else "")
    fit_starts, initial, final, out = {}, {}, {}, {}
    for strategy in ("default", "mirrored"):
        rec = training.BatchLossRecorder()
        model_dir = os.path.join(out_dir, f"rec_{case}_{strategy}")
        opts = runner.RunOptions(model_dir=model_dir, backbone="inception", width=0.0625,
                                 image_size=32,
                                 embedding_dim=8, batch_size=6, epochs=1,
                                 synthetic_identities=3, synthetic_images_per_identity=4,
                                 inputs="rgbd", fusion=fusion, log_every=10 ** 6,
                                 run_eagerly=True, strategy=strategy, seed=2, **extra)
        result = runner.train(opts, extra_callbacks=[rec, InitialWeights()], verbose=False)
        fold_dir = os.path.join(model_dir, "all")
        roles = sorted(r for r in os.listdir(fold_dir) if os.path.isdir(os.path.join(fold_dir, r)))
        trained = [r for r in TRAIN_ORDER if r in roles]
        assert len(trained) == len(roles) == len(fit_starts[strategy]), (roles, trained)
        for role, start in zip(trained, fit_starts[strategy]):
            model = keras.saving.load_model(os.path.join(model_dir, "all", role, "model.keras"))
            final[(strategy, role)] = _flat(model.get_weights())
            initial[(strategy, role)] = start
        out[f"{strategy}_loss"] = np.array([h["loss"] for h in rec.history])
        out[f"{strategy}_rank1"] = np.float64(result["folds"]["all"]["test"]["rank1"])
        out["roles"] = np.array(roles)
        if "score_validation" in result:
            out[f"{strategy}_weight"] = np.float64(result["score_validation"]["all"]["weight"])
    names = sorted({name for _, name in final})
    out["names"] = np.array(names)
    for name in names:
        start = initial[("default", name)]
        out[f"{name}_same_init"] = np.array_equal(start, initial[("mirrored", name)])
        # a role trained on top of trained members (feature_frozen's 'fused') starts from the
        # members' weights, which the two strategies give only to all-reduce rounding
        out[f"{name}_init_gap"] = np.linalg.norm(initial[("mirrored", name)] - start)
        out[f"{name}_travel"] = np.linalg.norm(final[("default", name)] - start)
        out[f"{name}_gap"] = np.linalg.norm(final[("mirrored", name)] - final[("default", name)])
    np.savez(os.path.join(out_dir, f"recognition_{case}.npz"), **out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--cases", default=",".join(CASES[:2]))
    p.add_argument("--devices", choices=["cpu", "gpu"], default="cpu")
    args = p.parse_args()
    if args.devices == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _devices(args.devices)
    os.makedirs(args.out, exist_ok=True)
    cases = {"loss_scaling": loss_scaling,
             "recognition_feature": lambda d: _recognition(d, "feature"),
             "recognition_score": lambda d: _recognition(d, "score"),
             "recognition_feature_frozen": lambda d: _recognition(d, "feature_frozen"),
             "recognition_score_validated": lambda d: _recognition(
                 d, "score", score_validation_per_identity=1)}
    for name in args.cases.split(","):
        start = time.perf_counter()
        try:
            cases[name](args.out)
            print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
        except Exception:  # noqa: BLE001 - recorded for the test to show
            with open(os.path.join(args.out, f"{name}.error"), "w") as f:
                f.write(traceback.format_exc())
    return 0


if __name__ == "__main__":
    sys.exit(main())
