"""Paper-neutral networks (depthlab/nets): registered names and the layouts papers build."""

import subprocess
import sys

import keras

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
