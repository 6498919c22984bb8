"""TS-GAN Figure 4 (t-SNE of gray RGB / D / D~ embeddings): helpers with hand-worked values,
the missing-scikit-learn message, and the runner + eval_recognition --tsne_png on a tiny run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn  # noqa: F401  (in the test extra: a missing install fails here, never skips)

from depthlab.recognition import tsne

pytestmark = pytest.mark.slow  # the slow end-to-end set (.ci/run; pytest --slow)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSGAN_TINY = dict(image_size=32, gen_filters=8, gen_blocks=2, disc_filters=(8, 16, 32),
                  disc_strides=(2, 2, 1), pool_size=8)
RUN_TINY = dict(backbone="se_resnet50", width=0.0625, image_size=32, embedding_dim=8,
                batch_size=6, synthetic_identities=3, synthetic_images_per_identity=4,
                log_every=10 ** 6, run_eagerly=True)


def test_gray_rgb_is_bt601_luma_replicated():
    rgb = np.array([[[[1.0, 0.0, 0.0], [0.2, 0.4, 0.6]]]], np.float32)       # (1, 1, 2, 3)
    g = tsne.gray_rgb(rgb)
    assert g.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(g[0, 0, 0], [0.299] * 3, rtol=1e-6)
    np.testing.assert_allclose(g[0, 0, 1], [0.2 * 0.299 + 0.4 * 0.587 + 0.6 * 0.114] * 3,
                               rtol=1e-6)                                       # 0.3630
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        tsne.gray_rgb(np.zeros((2, 4, 4)))


def test_modality_separation_hand_worked():
    # nearest neighbours: 0<->1 (d=1), 2<->3 (d=1.5); groups 0,1,1,0
    points = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.5]])
    out = tsne.modality_separation(points, np.array([0, 1, 1, 0]), ("a", "b"))
    assert out == {"a": {"a": 0.0, "b": 1.0}, "b": {"a": 1.0, "b": 0.0}}
    out = tsne.modality_separation(points, np.array([0, 0, 1, 1]), ("a", "b", "c"))
    assert out == {"a": {"a": 1.0, "b": 0.0, "c": 0.0}, "b": {"a": 0.0, "b": 1.0, "c": 0.0}}


def test_scatter_png_puts_each_point_where_the_scaling_says(tmp_path):
    import cv2

    path = str(tmp_path / "scatter.png")
    # size 100, margin 24: scale 52 px per unit, centre (0.5, 0.5) -> pixel (24, 75), (76, 23)
    image = tsne.scatter_png(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 2]),
                             ("gray RGB", "D", "D~"), path, size=100, radius=2)
    assert image.shape == (100, 100, 3)
    assert tuple(image[75, 24]) == tsne.MODALITY_COLOURS[0]
    assert tuple(image[23, 76]) == tsne.MODALITY_COLOURS[2]
    assert tuple(image[50, 50]) == (255, 255, 255)
    back = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, image)
    with pytest.raises(ValueError, match="groups must index"):
        tsne.scatter_png(np.zeros((2, 2)), np.array([0, 3]), ("a", "b"), path)


def test_tsne_keeps_separated_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 20.0, (3, 10))
    x = np.concatenate([c + rng.normal(0.0, 1.0, (20, 10)) for c in centres])
    groups = np.repeat(np.arange(3), 20)
    points = tsne.tsne_2d(x, perplexity=10.0, seed=0)
    assert points.shape == (60, 2) and points.dtype == np.float32
    sep = tsne.modality_separation(points, groups, ("a", "b", "c"))
    assert [sep[k][k] for k in "abc"] == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(points, tsne.tsne_2d(x, perplexity=10.0, seed=0))


def test_missing_scikit_learn_is_a_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ModuleNotFoundError, match="pip install scikit-learn"):
        tsne.tsne_2d(np.zeros((10, 3)))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from depthlab.configs import tsgan_config
    from depthlab.export import export_depth_generator
    from depthlab.models.tsgan import build_generator
    from depthlab.runners import recognition as runner

    root = tmp_path_factory.mktemp("tsne")
    generator = str(root / "saved_model")
    export_depth_generator(build_generator(tsgan_config("demo", **TSGAN_TINY)), generator, 32)
    model_dir = str(root / "run")
    runner.train(runner.RunOptions(model_dir=model_dir, epochs=1, inputs="rgbd_hallucinated",
                                   fusion="feature", generator=generator, **RUN_TINY),
                 verbose=False)
    return model_dir, generator


def test_tsne_figure_of_a_trained_run(tmp_path, tiny_run):
    from depthlab.runners import recognition as runner

    model_dir, _ = tiny_run
    png = str(tmp_path / "fig4.png")
    fig = runner.tsne_figure(model_dir, png, max_images=5, perplexity=30.0)
    # 3 identities x 2 test images = 6 test images; 5 kept, each in three modalities
    assert fig["num_images"] == 5 and fig["stream"] == "depth"
    assert fig["points"].shape == (15, 2)
    np.testing.assert_array_equal(fig["groups"], np.repeat([0, 1, 2], 5))
    for table in (fig["nearest_tsne"], fig["nearest_embedding"]):
        assert set(table) == set(runner.TSNE_MODALITIES)
        for row in table.values():
            assert sum(row.values()) == pytest.approx(1.0)
    assert os.path.getsize(png) > 0
    with pytest.raises(ValueError, match="no rgb backbone|streams"):
        runner.tsne_figure(model_dir, png, stream="rgb_x")


def test_eval_recognition_writes_figure4(tmp_path, tiny_run):
    model_dir, generator = tiny_run
    png, out = str(tmp_path / "fig4.png"), str(tmp_path / "eval.json")
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.eval_recognition", f"--model_dirs={model_dir}",
         "--from_results", f"--tsne_png={png}", "--tsne_images=4", "--tsne_stream=rgb",
         f"--generator={generator}", f"--output_json={out}"],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Figure 4" in proc.stdout and "ResNet-50" in proc.stdout
    record = json.load(open(out))["tsne"]
    assert record["num_images"] == 4 and record["stream"] == "rgb" and os.path.exists(png)
