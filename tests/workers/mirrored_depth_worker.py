"""One process of the MirroredStrategy tests: 2 logical CPU devices, a tiny trainer run under
``--strategy=default`` and ``mirrored`` on the same global batch and seed; writes the
per-step losses and weights of every run to an .npz file.

  python -m tests.workers.mirrored_depth_worker --trainer=cyclegan --tmp=/tmp/x --out=/tmp/x.npz

Runs (each 1 step per epoch, trackers reset per epoch, so every logged value is one step's):
  ``default``  default strategy, 2 epochs (the reference);
  ``mirrored`` mirrored, 2 epochs, in a fresh model_dir (step 2 is computed with the weights
               after the first mirrored update);
  ``resumed``  mirrored again on ``mirrored``'s model_dir: restores its epoch-2 checkpoint
               into mirrored variables, nothing left to train.
Keys: ``<trainer>/<run>_loss_<name>`` (one value per step), ``<trainer>/<run>_w<i>`` (final
weights of the main network), ``<trainer>/<run>_replicas``. ``dsr_role`` writes the stage-2
role of one step on a constructed batch (see ``dsr_role``). ``--trainer=all``: every one, in
one process (one TensorFlow start).
"""

import argparse
import os
import sys
import time


def _two_cpus():
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    assert len(tf.config.list_logical_devices("CPU")) == 2


def _runs(train, tmp):
    """``train(model_dir, strategy, epochs, callbacks) -> (main network, replicas)`` per run."""
    import numpy as np

    from depthlab import training

    out = {}
    plan = (("default", "default", 2, "d"), ("mirrored", "mirrored", 2, "m"),
            ("resumed", "mirrored", 2, "m"))
    for run, strategy, epochs, folder in plan:
        recorder, t0 = training.BatchLossRecorder(), time.process_time()
        net, replicas = train(os.path.join(tmp, folder), strategy, epochs, [recorder])
        print(f"[mirrored_depth_worker]   {run}: {time.process_time() - t0:.1f} s CPU", flush=True)
        out[f"{run}_replicas"] = np.array(replicas)
        out[f"{run}_steps"] = np.array(len(recorder.history))
        for key in (recorder.history or [{}])[0]:
            out[f"{run}_loss_{key}"] = np.array([h[key] for h in recorder.history])
        for i, w in enumerate(net.get_weights()):
            out[f"{run}_w{i}"] = w
    return out


def cyclegan(tmp):
    from depthlab.models.cyclegan_depth import cyclegan_depth_config
    from depthlab.runners import cyclegan_depth as runner

    # 'suarez': every term (LSGAN both ways, PatchNCE x and y, identity, cycle) and both pools.
    cfg = cyclegan_depth_config("demo", variant="suarez", image_size=16, gen_filters=4,
                                gen_downsamplings=1, gen_blocks=1, disc_filters=(4, 8),
                                disc_strides=(2, 1), num_patches=16, nce_units=8)

    def train(model_dir, strategy, epochs, callbacks):
        opts = runner.RunOptions(model_dir=model_dir, epochs=epochs, steps_per_epoch=1,
                                 batch_size=4, synthetic_identities=4,
                                 synthetic_images_per_identity=2, eval_limit=2, seed=5,
                                 log_every=1000, strategy=strategy)
        summary = runner.train(opts, cfg, extra_callbacks=callbacks, verbose=False)
        return summary["model"].g1, _replicas(strategy)

    return _runs(train, tmp)


def two_stage(tmp):
    from depthlab.runners import two_stage as runner

    def stage1(model_dir, strategy, epochs, callbacks):
        opts = runner.Stage1Options(model_dir=model_dir, preset="demo", num_samples=50,
                                    loss="berhu", epochs=epochs, steps_per_epoch=1,
                                    batch_size=4, crop_hw=(64, 64), base_filters=4, seed=2,
                                    learning_rate=1e-3,
                                    log_every=1000, strategy=strategy)
        return runner.train_stage1(opts, extra_callbacks=callbacks, verbose=False)["net"], \
            _replicas(strategy)

    out = {f"stage1_{k}": v for k, v in _runs(stage1, os.path.join(tmp, "s1")).items()}
    stage1_dir = os.path.join(tmp, "s1", "d")
    tiny = dict(gen_filters=4, n_res_blocks=1, disc_filters=(4, 8), disc_strides=(2, 1))

    def stage2(model_dir, strategy, epochs, callbacks):
        opts = runner.Stage2Options(model_dir=model_dir, stage1_dir=stage1_dir,
                                    stage2_preset="demo", epochs=epochs, steps_per_epoch=1, batch_size=4, seed=3,
                                    log_every=1000, strategy=strategy)
        return runner.train_stage2(opts, overrides=tiny, extra_callbacks=callbacks,
                                   verbose=False)["generator"], _replicas(strategy)

    out.update({f"stage2_{k}": v for k, v in _runs(stage2, os.path.join(tmp, "s2")).items()})
    return out


def dsr(tmp):
    from depthlab.runners import dsr_distill as runner

    tiny = dict(filters=4, n_blocks=1, spnet_filters=4, spnet_layers=1, affinity_grid=4)

    def train(model_dir, strategy, epochs, callbacks):
        # epoch 1 is stage 1 (independent), epoch 2 stage 2 (role exchange, SPNet).
        opts = runner.DSROptions(model_dir=model_dir, scale=4, preset="demo", epochs=epochs,
                                 stage1_epochs=1, steps_per_epoch=1, batch_size=4,
                                 patch_size=16, seed=4, log_every=1000, eval_every=0,
                                 strategy=strategy)
        summary = runner.train(opts, overrides=tiny, extra_callbacks=callbacks, verbose=False)
        return summary["model"].dsrnet, _replicas(strategy)

    return _runs(train, tmp)


def dsr_role(tmp):
    """One stage-2 step on a batch of 4 whose halves disagree: HR = DSRNet's output on the
    first two patches (e_dsr = 0 there: DSRNet would teach; a quarter of their pixels valid)
    and DENet's on the last two (e_de = 0: DENet would teach). Writes the errors and roles
    of each half and of the whole batch on one device (``_forward`` + ``dsr_teaches``, the
    step's own decision) and of the mirrored step (``training.fit``: the logs are averaged
    over the replicas, so two replicas choosing differently would log 0.5)."""
    import numpy as np
    import tensorflow as tf

    from depthlab import training
    from depthlab.models.dsr_distill import (CrossTaskDistiller, dsr_config, from_normalized,
                                             normalize_depth)
    from depthlab.runners import dsr_distill as runner

    cfg = dsr_config("demo", scale=4, filters=4, n_blocks=1, spnet_filters=4, spnet_layers=1,
                     affinity_grid=4, role_granularity="batch")   # the batch's own choice
    rng = np.random.default_rng(0)
    lr = rng.uniform(1.0, 2.0, (4, 4, 4, 1)).astype(np.float32)
    rgb = rng.uniform(0.0, 1.0, (4, 16, 16, 3)).astype(np.float32)
    mask = np.ones((4, 16, 16, 1), np.float32)
    mask[:2, :, 4:] = 0.0       # a quarter of the first half counts: the global choice flips
    training.set_seeds(0)
    reference = runner.build_model(cfg)
    x, lo, hi = normalize_depth(lr)
    sr = reference.dsrnet(x, training=True)["depth"].numpy()
    de = reference.denet(rgb, training=True)["depth"].numpy()
    hr = np.concatenate([from_normalized(sr[:2], lo[:2], hi[:2]),
                         from_normalized(de[2:], lo[2:], hi[2:])]).astype(np.float32)
    batch = {"lr": lr, "hr": hr, "mask": mask, "rgb": rgb}
    weights = reference.get_weights()
    out = {}

    def half_errors(sl):
        f = reference._forward({k: v[sl] for k, v in batch.items()}, with_spnet=False)
        return float(f["e_dsr"]), float(f["e_de"])

    for name, sl in (("first_half", slice(0, 2)), ("second_half", slice(2, 4)),
                     ("whole", slice(0, 4))):
        out[f"{name}_errors"] = np.array(half_errors(sl))
        out[f"{name}_role"] = np.array(float(CrossTaskDistiller.dsr_teaches(*half_errors(sl))))
    hr_n = (hr - lo.numpy()) / (hi.numpy() - lo.numpy())     # the step's normalised target
    out["numpy_errors"] = np.array([np.sum(np.abs(p - hr_n) * mask) / np.sum(mask)
                                    for p in (sr, de)])
    strategy = training.get_strategy("mirrored")
    with strategy.scope():
        model = runner.build_model(cfg)
    model.set_weights(weights)
    model.stage.assign(2)
    recorder = training.BatchLossRecorder()
    ds = tf.data.Dataset.from_tensor_slices(batch).batch(4).repeat()
    training.fit(model, ds, epochs=1, steps_per_epoch=1, callbacks=[recorder], strategy=strategy)
    logs = recorder.history[0]
    out["mirrored_role"] = np.array(logs["role"])
    out["mirrored_errors"] = np.array([logs["step_e_dsr"], logs["step_e_de"]])
    out["mirrored_replicas"] = np.array(strategy.num_replicas_in_sync)
    return out


def _replicas(strategy_name):
    from depthlab import training

    return training.get_strategy(strategy_name).num_replicas_in_sync


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainer", choices=["cyclegan", "two_stage", "dsr", "dsr_role", "all"],
                   required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    _two_cpus()
    import numpy as np

    names = ["cyclegan", "two_stage", "dsr", "dsr_role"] if args.trainer == "all" else [args.trainer]
    out = {}
    for name in names:
        t0 = time.process_time()
        out.update({f"{name}/{k}": v for k, v in globals()[name](os.path.join(args.tmp, name)).items()})
        print(f"[mirrored_depth_worker] {name}: {time.process_time() - t0:.1f} s CPU", flush=True)
    np.savez(args.out, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
