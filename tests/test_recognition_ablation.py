"""experiments/ablation_table (TS-GAN Table 5) on tiny generators exported as SavedModels."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from depthlab import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSGAN_TINY = dict(image_size=32, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
                  disc_strides=(2, 2, 1), pool_size=8)
FLAGS_TINY = ["--backbone=se_resnet50", "--width=0.0625", "--image_size=32",
              "--embedding_dim=8", "--batch_size=6", "--synthetic_identities=3",
              "--synthetic_images_per_identity=4", "--epochs=1", "--log_every=1000",
              "--run_eagerly", "--inputs=depth_hallucinated"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.ablation_table", *args], cwd=REPO,
                          capture_output=True, text=True,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    from depthlab.configs import tsgan_config
    from depthlab.export import export_depth_generator
    from depthlab.models.tsgan import build_generator

    root = tmp_path_factory.mktemp("gens")
    out = {}
    for name, seed in (("teacher_only", 1), ("full", 2)):
        tf.keras.utils.set_random_seed(seed)          # two different (untrained) generators
        out[name] = str(root / name)
        export_depth_generator(build_generator(tsgan_config("demo", **TSGAN_TINY)), out[name], 32)
    return out


@pytest.mark.slow
def test_ablation_table_one_run_per_generator(tmp_path, generators):
    from depthlab.runners import recognition as runner

    model_dir, out_json = str(tmp_path / "abl"), str(tmp_path / "table5.json")
    spec = ",".join(f"{k}={v}" for k, v in generators.items())
    proc = _run(f"--runs_dir={model_dir}", f"--generators={spec}", f"--output_json={out_json}",
                *FLAGS_TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Table 5" in proc.stdout and "teacher_only" in proc.stdout
    row = json.load(open(out_json))["rows"]["se_resnet50"]
    for name, path in generators.items():
        run_dir = os.path.join(model_dir, name)
        result = training.read_json(os.path.join(run_dir, "results.json"))
        config = training.read_json(os.path.join(run_dir, "config.json"))
        assert config["generator"] == path and config["inputs"] == "depth_hallucinated"
        assert row[name] == pytest.approx(100.0 * result["mean"]["test"])
        # the checkpoint re-evaluated independently gives the tabulated number
        assert 100.0 * runner.evaluate(run_dir)["mean"]["test"] == pytest.approx(row[name])


def test_ablation_table_rejects_bad_generators(tmp_path, generators):
    class Wrong(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.uint8, name="rgb")])
        def serve(self, rgb):
            return {"disparity": tf.cast(rgb[..., :1], tf.float32)}

    wrong = str(tmp_path / "wrong")
    module = Wrong()
    tf.saved_model.save(module, wrong, signatures={"serving_default": module.serve})
    proc = _run(f"--runs_dir={tmp_path / 'x'}",
                f"--generators=full={generators['full']},a2b_only={wrong}", *FLAGS_TINY)
    assert proc.returncode != 0
    assert "a2b_only" in proc.stderr and "with no 'depth'" in proc.stderr
    assert not os.path.exists(tmp_path / "x" / "full")           # checked before any training
    proc = _run(f"--model_dir={tmp_path / 'x'}", "--generators=full", *FLAGS_TINY)
    assert proc.returncode != 0 and "expected name=path" in proc.stderr
    assert "--model_dir is deprecated; use --runs_dir" in proc.stderr     # the old spelling
