"""Paper-neutral networks (depthlab/nets): registered names and the layouts papers build."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from depthlab.configs import tsgan_config
from depthlab.models import cyclegan_depth, tsgan
from depthlab.nets import PatchDiscriminator, ResNetEncoder, ResnetGenerator


def test_registered_names_unchanged_by_the_move():
    # Saved .keras files name these classes by package>name; the move to nets/ keeps them.
    for cls, key in ((ResnetGenerator, "depthlab>ResnetGenerator"),
                     (PatchDiscriminator, "depthlab>PatchDiscriminator"),
                     (ResNetEncoder, "depthlab>ResNetEncoder")):
        assert keras.saving.get_registered_name(cls) == key
        assert keras.saving.get_registered_object(key) is cls


def test_cyclegan_depth_nets_match_the_tsgan_layout_they_used_to_borrow():
    cfg = cyclegan_depth.CycleGANDepthConfig(image_size=32, gen_filters=8, gen_blocks=2,
                                             disc_filters=(8, 16), disc_strides=(2, 1))
    g = ResnetGenerator(**cfg.generator_kwargs())
    d = PatchDiscriminator(**cfg.discriminator_kwargs())
    arch = tsgan_config("paper", image_size=32, depth_channels=3, gen_filters=8, gen_blocks=2,
                        disc_filters=(8, 16), disc_strides=(2, 1), disc_first_norm=False,
                        disc_final_stride=1)
    g_ref = tsgan.build_generator(arch, input_channels=3, output_channels=3)
    d_ref = tsgan.build_discriminator(arch, input_channels=3)
    assert g.get_config() | {"name": None} == g_ref.get_config() | {"name": None}
    assert d.get_config() | {"name": None} == d_ref.get_config() | {"name": None}
    assert g.count_params() == g_ref.count_params()
    assert d.count_params() == d_ref.count_params()


def test_no_paper_module_imports_another_paper():
    # tsgan_baselines is TS-GAN's own Table 1 (same paper); every other import must be nets/.
    out = subprocess.run([sys.executable, "-c", "import depthlab.nets"], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    import pathlib
    import re
    models = pathlib.Path(tsgan.__file__).parent
    for path in models.glob("*.py"):
        for mod in re.findall(r"from depthlab\.models\.(\w+) import", path.read_text()):
            assert (path.stem, mod) == ("tsgan_baselines", "tsgan"), (path.name, mod)


def _nyquist_fraction(image):
    """Share of an image's AC power in its period-2 rows and columns of the 2-D spectrum: the
    checkerboard of uneven transposed-conv overlap (Odena et al. 2016) puts it there."""
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    n_row, n_col = image.shape
    return (power[n_row // 2, :].sum() + power[:, n_col // 2].sum()) / power.sum()


def test_resize_upsampling_removes_the_checkerboard():
    """``upsample='resize'`` (bilinear x2 + 3x3 conv) has the transposed conv's parameter count
    (3x3 in->out, no bias before IN) and no period-2 pattern at initialisation, where the 3x3
    stride-2 transposed convs put 10-60 % of a smooth input's output power at period 2."""
    rows, cols = np.mgrid[0:64, 0:64] / 64.0
    smooth = np.stack([np.sin(3 * cols + 1) * np.cos(2 * rows), cols - rows, np.cos(4 * rows)],
                      -1)[None].astype(np.float32)
    for seed in range(3):
        nets = {}
        for upsample in ("transpose", "resize"):
            keras.utils.set_random_seed(seed)
            nets[upsample] = ResnetGenerator(64, 3, 1, filters=8, n_blocks=1, upsample=upsample)
        counts = {k: sum(int(np.prod(w.shape)) for w in net.trainable_weights)
                  for k, net in nets.items()}
        assert counts["resize"] == counts["transpose"]
        kinds = [type(layer).__name__ for layer in nets["resize"].layers]
        assert kinds.count("UpSampling2D") == 2 and "Conv2DTranspose" not in kinds
        assert _nyquist_fraction(nets["transpose"](smooth).numpy()[0, ..., 0]) > 0.1
        assert _nyquist_fraction(nets["resize"](smooth).numpy()[0, ..., 0]) < 0.01
    clone = ResnetGenerator.from_config(nets["resize"].get_config())
    assert clone.get_config()["upsample"] == "resize"
    with pytest.raises(ValueError, match="upsample must be one of"):
        ResnetGenerator(64, upsample="nearest")


def test_aux_head_shares_the_generator_and_survives_a_save(tmp_path):
    """``aux_channels``: the model's output is unchanged in shape and value; ``with_aux`` returns
    [main, aux] from the same layers; ``main_variables`` leaves out exactly the head's 7x7 conv
    (A x (7 x 7 x F + 1) parameters); a .keras round trip restores both outputs; without the
    head the config is the old one (files saved before it load the same)."""
    keras.utils.set_random_seed(0)
    g = ResnetGenerator(16, 3, 3, filters=4, n_blocks=1, aux_channels=2, name="g")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    main, aux = (t.numpy() for t in g.with_aux(x))
    assert main.shape == (2, 16, 16, 3) and aux.shape == (2, 16, 16, 2)
    np.testing.assert_array_equal(main, g(x).numpy())
    assert np.all(np.abs(aux) <= 1.0)
    head = sum(int(np.prod(v.shape)) for v in g.trainable_variables) - sum(
        int(np.prod(v.shape)) for v in g.main_variables)
    assert head == 2 * (7 * 7 * 4 + 1)
    path = str(tmp_path / "g.keras")
    g.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), main, atol=1e-6)
    np.testing.assert_allclose(loaded.with_aux(x)[1].numpy(), aux, atol=1e-6)
    plain = ResnetGenerator(16, 3, 3, filters=4, n_blocks=1)
    assert "aux_channels" not in plain.get_config() and plain.with_aux is None
    assert plain.main_variables == plain.trainable_variables
