"""Tests for depthlab.models.enhancers (Schlett et al., DL-Alpha/Beta/Gamma/Delta)."""
import functools

import keras
import numpy as np
import pytest

from depthlab.models import enhancers

# Independent source: Schlett, Rathgeb, Busch, Table III (trainable parameters).
TABLE_III = {"alpha": 6_731_041, "beta": 13_746_881, "gamma": 11_593_825, "delta": 4_175_713}


@functools.lru_cache(maxsize=None)
def _model(variant, preset="paper"):
    return enhancers.build_enhancer(variant, preset=preset)


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _layers(model):
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


@pytest.mark.parametrize("preset", enhancers.PRESETS)
@pytest.mark.parametrize("variant", ["alpha", "beta", "gamma", "delta"])
def test_trainable_params_equal_table_iii(variant, preset):
    model = _model(variant, preset)
    assert model.name == f"dl_{variant}"
    assert _trainable(model) == TABLE_III[variant]
    assert enhancers.ENHANCER_PARAM_COUNTS[variant] == TABLE_III[variant]


def test_closed_form_count_matches_keras():
    # the search script counts analytically; the formula must agree with Keras
    for spec in (enhancers.UNetSpec((3, 5, 7)), enhancers.UNetSpec((4, 6, 6, 10), 5, (9, 2)),
                 enhancers.UNetSpec((2, 8), 3, (7,))):
        inputs = keras.Input((32, 32, 1))
        model = keras.Model(inputs, enhancers.unet_graph(inputs, spec, 32))
        assert enhancers.count_trainable_params(spec, image_size=32) == _trainable(model)


def _configs_without(model, key):
    out = []
    for layer in _layers(model):
        cfg = dict(layer.get_config())
        cfg.pop(key, None)
        out.append((type(layer).__name__, cfg))
    return out


@pytest.mark.parametrize("preset,base", [("paper", "alpha"), ("table", "delta")])
def test_gamma_is_base_with_5x5_kernels_only(preset, base):
    # paper text: Gamma identical to Alpha except 3x3 -> 5x5 ('table' preset: to Delta)
    ref, gamma = _model(base, preset), _model("gamma", preset)
    assert _configs_without(ref, "kernel_size") == _configs_without(gamma, "kernel_size")
    for a, g in zip(_layers(ref), _layers(gamma)):
        if isinstance(a, keras.layers.Conv2D):
            want = (1, 1) if a.name == "depth_out" else (5, 5)
            assert tuple(a.kernel_size) == ((1, 1) if a.name == "depth_out" else (3, 3))
            assert tuple(g.kernel_size) == want


def test_alpha_3x3_products_match_gamma_minus_alpha():
    # G - A = (25 - 9) * sum(c_in * c_out) over Alpha's 3x3 convs
    total = sum(layer.kernel.shape[2] * layer.kernel.shape[3] for layer in _layers(_model("alpha"))
                if isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (3, 3))
    assert 16 * total == TABLE_III["gamma"] - TABLE_III["alpha"]


def test_beta_is_alpha_with_more_filters():
    alpha, beta = _layers(_model("alpha")), _layers(_model("beta"))
    assert [type(x).__name__ for x in alpha] == [type(x).__name__ for x in beta]
    conv_a = conv_b = 0
    for a, b in zip(alpha, beta):
        assert a.name == b.name
        if isinstance(a, keras.layers.Conv2D):
            assert a.kernel_size == b.kernel_size and b.filters >= a.filters
            conv_a += int(np.prod(a.kernel.shape))
            conv_b += int(np.prod(b.kernel.shape))
        if isinstance(a, keras.layers.Dense) and a.name != "dense_out":
            assert a.units == b.units
    assert conv_b > 3 * conv_a            # "markedly increased filter size"


def test_delta_is_shrunken_simplified_alpha():
    alpha, delta = _model("alpha"), _model("delta")

    def count(model, cls):
        return sum(isinstance(x, cls) for x in model.layers)

    assert count(delta, keras.layers.MaxPooling2D) < count(alpha, keras.layers.MaxPooling2D)
    assert count(delta, keras.layers.Dense) == 0 < count(alpha, keras.layers.Dense)
    assert _trainable(delta) < _trainable(alpha)


@pytest.mark.parametrize("variant", ["alpha", "beta", "gamma", "delta"])
def test_forward_pass_shape_and_range(variant):
    x = np.random.default_rng(0).uniform(0, 1, (2, 256, 256, 1)).astype(np.float32)
    y = _model(variant)(x).numpy()
    assert y.shape == (2, 256, 256, 1) and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and y.min() >= 0.0 and y.max() <= 1.0


def test_save_load_round_trip(tmp_path):
    model = _model("alpha")
    path = str(tmp_path / "dl_alpha.keras")
    model.save(path)
    clone = keras.saving.load_model(path)
    assert type(clone) is enhancers.DepthEnhancer and clone.name == "dl_alpha"
    x = np.random.default_rng(3).uniform(0, 1, (1, 256, 256, 1)).astype(np.float32)
    np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("shape", [(1, 128, 128, 1), (1, 256, 256, 3), (256, 256, 1)])
def test_wrong_input_shape_is_a_clear_error(shape):
    model = _model("delta")
    expected = r"dl_delta expects input of shape \(batch, 256, 256, 1\)"
    with pytest.raises(ValueError, match=expected) as err:
        model(np.zeros(shape, np.float32))
    assert str(shape) in str(err.value)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="variant 'epsilon'"):
        enhancers.build_enhancer("epsilon")
    with pytest.raises(ValueError, match="preset 'code'"):
        enhancers.build_enhancer("alpha", preset="code")
    with pytest.raises(ValueError, match="image_size 100"):
        enhancers.build_enhancer("delta", image_size=100)
    with pytest.raises(ValueError, match="widths"):
        enhancers.UNetSpec((16,))


def test_other_size_divisible_by_2_pow_levels():
    model = enhancers.build_enhancer("delta", image_size=128)   # 7 poolings: 128 -> 1
    y = model(np.ones((1, 128, 128, 1), np.float32))
    assert y.shape == (1, 128, 128, 1)
    assert _trainable(model) == TABLE_III["delta"]               # no dense block


def test_mixed_precision_output_is_float32():
    old = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = enhancers.build_enhancer("delta", image_size=128)
        y = model(np.ones((1, 128, 128, 1), np.float32))
        assert model.get_layer("enc0_conv1").compute_dtype == "float16"
        assert y.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(old)


def _hand_count(k):
    """The 'table' preset's DL-Alpha (16,48,64,96,128,256,384) counted layer by layer by hand:
    (c_in, c_out) of every k x k conv (weights k*k*c_in*c_out + c_out biases), decoder inputs
    = upsampled + skip channels, then the 1x1 head 16 + 1."""
    convs = [(1, 16), (16, 16), (16, 48), (48, 48), (48, 64), (64, 64), (64, 96), (96, 96),
             (96, 128), (128, 128), (128, 256), (256, 256),            # encoder
             (256, 384), (384, 384),                                    # bottleneck
             (384 + 256, 256), (256, 256), (256 + 128, 128), (128, 128), (128 + 96, 96),
             (96, 96), (96 + 64, 64), (64, 64), (64 + 48, 48), (48, 48), (48 + 16, 16),
             (16, 16)]                                                  # decoder
    return sum(k * k * ci * co + co for ci, co in convs) + 16 + 1


def test_gamma_text_is_alpha_at_5x5_with_a_hand_counted_size():
    """Issue 18 / Table III: the text (l. 931-934) makes DL-Gamma DL-Alpha with 5x5 kernels;
    the 'table' preset's exact counts make Gamma Delta at 5x5 instead. 'gamma_text' is the
    text's reading: in 'table' 18,691,617 parameters (hand count, not Table III's 11,593,825);
    in 'paper', where Gamma already is Alpha at 5x5, it equals Gamma."""
    assert _hand_count(3) == TABLE_III["alpha"]            # the hand list is table-Alpha
    assert _hand_count(5) == 18_691_617
    text = enhancers.build_enhancer("gamma_text", preset="table")
    assert text.name == "dl_gamma_text" and _trainable(text) == _hand_count(5)
    assert text.get_layer("enc0_conv1").kernel.shape == (5, 5, 1, 16)
    assert enhancers.count_trainable_params(enhancers.get_spec("gamma_text", "paper")) == \
        TABLE_III["gamma"]
