"""Face depth enhancer U-Nets DL-Alpha/Beta/Gamma/Delta (Schlett, Rathgeb, Busch).

"Deep Learning-based Single Image Face Depth Data Enhancement", section III-C, IV-C and
Table III. Depth in, depth out, 256x256x1, trained from scratch. The authors' code is not
public; only the trainable-parameter counts (Table III) and three sentences fix the layouts:
Gamma is Alpha with 5x5 instead of 3x3 kernels; Beta is Alpha with markedly more filters;
Delta is a shrunken and simplified Alpha. The layouts below were derived by an exhaustive
analytic search (``tools/search_enhancer_configs.py``, about 45 s) and reproduce Table III
exactly. They are reconstructions, not the authors' networks.

Family ("classic Keras U-Net", as in the 2016-2019 Keras examples): per level two
Conv2D(k, same, ReLU) and MaxPooling2D(2); a bottleneck of two Conv2D; optionally a
fully-connected bottleneck (Flatten -> Dense(ReLU)... -> Dense(F, ReLU) -> Reshape, F the
flattened bottleneck); decoder UpSampling2D(2) -> concatenate(skip) -> two Conv2D; head
Conv2D(1, 1x1, sigmoid, float32). Widths w_0..w_L, L poolings, w_L the bottleneck.

Derivation (counts are integers, so "exact" is exact):
1. The Gamma sentence fixes Alpha's 3x3 convs: G - A = (25 - 9) * sum(c_in*c_out), so
   sum(c_in*c_out) = S_A = 303,924. S_A = 4 (mod 8), so no Alpha whose widths are all
   multiples of 8 exists (each term would be a multiple of 8); and A - 9 S_A = 3,995,725
   parameters (59 % of Alpha) do not depend on the kernel size; in a plain U-Net biases
   and 2x2 up-convs are at most about 10 % of the parameters. A transposed-conv decoder left at 3x3
   would break the sentence, 1x1 convs would need 13x the 3x3 channel products; a dense
   bottleneck keeps every Gamma kernel 5x5, so the 'paper' preset uses one.
2. Plain U-Nets (no dense block), non-decreasing widths from {2^k, 3*2^k} (1.96 M width
   lists, L <= 9): (16,32,64,128,128,128,128,256) gives exactly Delta (4,175,713) and, with
   5x5 kernels, exactly Gamma (11,593,825) (two 10-level lists do too; D and G together
   require a bias-plus-head sum of (25D - 9G)/16 = 3,025); (32,64,128,256,256,256,256,256),
   the same layout with doubled filters except the bottleneck, gives exactly Beta
   (13,746,881). One Alpha fits, (16,48,64,96,128,256,384); by step 1 no plain layout can
   satisfy Gamma = Alpha at 5x5.
3. 'paper' preset (default: every sentence and every count). Alpha widths: 78 lists from a
   menu of 2^k, 3*2^k, 5*2^k, 7*2^k widths (w_0 solved) have S_A exactly; 30 admit an exact
   symmetric dense bottleneck F->u1->u2->u1->F. Ranked by widths not of the form 2^k,
   3*2^k or 5*2^k, then w_0 >= 8,
   then closeness to doubling, the first is (20,20,20,20,40,48,64,96,384) with dense units
   (2687, 358, 2687) (code of 358 < the 384 bottleneck channels; the alternative (1857, 690)
   is wider than the bottleneck). Gamma: the same with 5x5. Beta: 14 width lists >= Alpha's
   with the same dense units give B exactly; one keeps the bottleneck width, so its dense
   layers are identical to Alpha's: (20,40,56,56,96,128,256,256,384). Delta: the plain
   (16,32,64,128,128,128,128,256) of step 2 (one level fewer, no dense block).
4. 'table' preset: the step-2 layouts, which the numbers point to: Beta and Delta as above,
   Gamma = Delta's layout with 5x5 kernels (so "Gamma = Alpha at 5x5" does not hold), Alpha
   = (16,48,64,96,128,256,384). Use it to train the plain networks the table suggests.
5. The conflict (issue 18): the text, l. 931-934 of face-depth-enhancement-schlett.txt, says
   "DL-Gamma's architecture is identical to DL-Alpha's, except that the 2D convolution window
   kernel size has been increased from 3x3 ... to 5x5", while Table III (l. 884-889) gives
   counts that plain U-Nets reach only as Gamma = Delta at 5x5. Both presets keep the exact
   counts for 'gamma'. The text's reading is the variant 'gamma_text' (:data:`TEXT_VARIANTS`):
   the preset's Alpha with every kernel but the 1x1 head at 5x5. In the 'paper' preset it
   equals 'gamma' (11,593,825); in the 'table' preset it has 18,691,617 parameters, not
   Table III's 11,593,825.

Output activation: sigmoid, the depth normalised to [0, 1] (Table IV's RMSE values are on
that scale); holes are handled by the data pipeline, not the model. The head runs in
float32 under mixed precision. ``build_enhancer`` builds for 256x256; other sizes must be
divisible by 2^L (the dense block then changes size, so only 256 matches Table III).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, Tuple

import keras
from keras import layers

_PACKAGE = "depthlab"

#: Trainable parameters, Schlett et al., Table III (DL-Delta: all four Delta models).
ENHANCER_PARAM_COUNTS: Dict[str, int] = {
    "alpha": 6_731_041,
    "beta": 13_746_881,
    "gamma": 11_593_825,
    "delta": 4_175_713,
}
VARIANTS = ("alpha", "beta", "gamma", "delta")
#: Variants read from the text where it conflicts with Table III (module doc, step 5):
#: 'gamma_text' = the preset's Alpha with 5x5 kernels (l. 931-934).
TEXT_VARIANTS = ("gamma_text",)
ALL_VARIANTS = VARIANTS + TEXT_VARIANTS
PRESETS = ("paper", "table")


@dataclasses.dataclass(frozen=True)
class UNetSpec:
    """Layout of one enhancer.

    widths: filters per level w_0..w_L (L = number of 2x2 poolings, w_L the bottleneck).
    kernel_size: k of every Conv2D except the 1x1 head.
    dense_units: hidden units of the fully-connected bottleneck ('()' = none); it is
      Flatten -> Dense(u) for u in dense_units -> Dense(flattened size) -> Reshape.
    """

    widths: Tuple[int, ...]
    kernel_size: int = 3
    dense_units: Tuple[int, ...] = ()

    def __post_init__(self):
        if len(self.widths) < 2 or any(int(w) < 1 for w in self.widths):
            raise ValueError(f"UNetSpec: widths must be >= 2 positive ints, got {self.widths}")
        if int(self.kernel_size) < 1 or any(int(u) < 1 for u in self.dense_units):
            raise ValueError(f"UNetSpec: bad kernel_size {self.kernel_size} or dense_units "
                             f"{self.dense_units}")

    @property
    def levels(self) -> int:
        return len(self.widths) - 1


_PAPER_ALPHA = (20, 20, 20, 20, 40, 48, 64, 96, 384)
_PAPER_DENSE = (2687, 358, 2687)
_DELTA = (16, 32, 64, 128, 128, 128, 128, 256)

ENHANCER_SPECS: Dict[str, Dict[str, UNetSpec]] = {
    "paper": {
        "alpha": UNetSpec(_PAPER_ALPHA, 3, _PAPER_DENSE),
        "beta": UNetSpec((20, 40, 56, 56, 96, 128, 256, 256, 384), 3, _PAPER_DENSE),
        "gamma": UNetSpec(_PAPER_ALPHA, 5, _PAPER_DENSE),
        "delta": UNetSpec(_DELTA, 3),
    },
    "table": {
        "alpha": UNetSpec((16, 48, 64, 96, 128, 256, 384), 3),
        "beta": UNetSpec((32, 64, 128, 256, 256, 256, 256, 256), 3),
        "gamma": UNetSpec(_DELTA, 5),
        "delta": UNetSpec(_DELTA, 3),
    },
}


def get_spec(variant: str, preset: str = "paper") -> UNetSpec:
    """The layout of ``variant`` (:data:`ALL_VARIANTS`) in ``preset``."""
    if preset not in ENHANCER_SPECS:
        raise ValueError(f"unknown enhancer preset {preset!r}; expected one of {PRESETS}")
    if variant == "gamma_text":        # the text's DL-Gamma: Alpha at 5x5 (l. 931-934)
        return dataclasses.replace(ENHANCER_SPECS[preset]["alpha"], kernel_size=5)
    if variant not in ENHANCER_SPECS[preset]:
        raise ValueError(f"unknown enhancer variant {variant!r}; expected one of "
                         f"{ALL_VARIANTS}")
    return ENHANCER_SPECS[preset][variant]


def count_trainable_params(spec: UNetSpec, image_size: int = 256, in_channels: int = 1) -> int:
    """Closed-form trainable-parameter count of :func:`unet_graph` (used by the search)."""
    w, k, L = spec.widths, spec.kernel_size, spec.levels
    total, prev = 0, in_channels
    for i in range(L + 1):                                    # encoder + bottleneck
        for _ in range(2):
            total += k * k * prev * w[i] + w[i]
            prev = w[i]
    if spec.dense_units:
        total += _dense_params((image_size >> L) ** 2 * w[L], spec.dense_units)
    for i in range(L - 1, -1, -1):                            # decoder
        c_in = w[i + 1] + w[i]
        for _ in range(2):
            total += k * k * c_in * w[i] + w[i]
            c_in = w[i]
    return total + w[0] + 1                                   # 1x1 head


def _dense_params(flat: int, units) -> int:
    total, prev = 0, flat
    for u in tuple(units) + (flat,):
        total += prev * u + u
        prev = u
    return total


def _check_size(spec: UNetSpec, image_size: int) -> None:
    if int(image_size) < 1 or int(image_size) % (2 ** spec.levels):
        raise ValueError(f"image_size {image_size} must be a positive multiple of "
                         f"2^{spec.levels} = {2 ** spec.levels} for widths {spec.widths}")


def unet_graph(inputs, spec: UNetSpec, image_size: int):
    """The functional graph of one enhancer on ``inputs`` (B, S, S, 1) -> (B, S, S, 1)."""
    _check_size(spec, image_size)
    w, k, L = spec.widths, spec.kernel_size, spec.levels

    def conv(x, filters, name):
        return layers.Conv2D(filters, k, padding="same", activation="relu", name=name)(x)

    x, skips = inputs, []
    for i in range(L):
        x = conv(conv(x, w[i], f"enc{i}_conv1"), w[i], f"enc{i}_conv2")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
    x = conv(conv(x, w[L], "bottleneck_conv1"), w[L], "bottleneck_conv2")
    if spec.dense_units:
        side = image_size >> L
        x = layers.Flatten(name="dense_flatten")(x)
        for j, units in enumerate(spec.dense_units):
            x = layers.Dense(units, activation="relu", name=f"dense{j + 1}")(x)
        x = layers.Dense(side * side * w[L], activation="relu", name="dense_out")(x)
        x = layers.Reshape((side, side, w[L]), name="dense_reshape")(x)
    for i in range(L - 1, -1, -1):
        x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
        x = layers.Concatenate(name=f"dec{i}_concat")([x, skips[i]])
        x = conv(conv(x, w[i], f"dec{i}_conv1"), w[i], f"dec{i}_conv2")
    return layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="depth_out")(x)


def ensure_input_shape(x, model: keras.Model) -> None:
    """Raises ValueError naming the shape when ``x`` does not fit ``model``'s fixed input.

    Unknown (None) dimensions of ``x`` are not checked.
    """
    expected = tuple(model.input_shape[1:])
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != len(expected) + 1 or any(
            got is not None and want is not None and int(got) != int(want)
            for got, want in zip(shape[1:], expected)):
        raise ValueError(f"{model.name} expects input of shape (batch, "
                         f"{', '.join(str(d) for d in expected)}), got {shape}")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthEnhancer(keras.Model):
    """One of DL-Alpha/Beta/Gamma/Delta as a functional model named ``dl_<variant>``.

    Calling it with an input of another H, W or channel count raises ValueError.
    """

    def __init__(self, variant: str = "alpha", preset: str = "paper", image_size: int = 256,
                 name: str | None = None, **kwargs):
        spec = get_spec(variant, preset)
        image_size = int(image_size)
        inputs = keras.Input((image_size, image_size, 1), name="depth")
        outputs = unet_graph(inputs, spec, image_size)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"dl_{variant}",
                         **kwargs)
        self.variant, self.preset, self.image_size, self.spec = variant, preset, image_size, spec

    def __call__(self, inputs, *args, **kwargs):
        x = inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
        ensure_input_shape(x, self)
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        return {"variant": self.variant, "preset": self.preset, "image_size": self.image_size,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def init_output_bias(model: keras.Model, mean_output: float) -> float:
    """Sets the sigmoid head's bias to ``logit(mean_output)``, so that the untrained network
    outputs about the targets' mean (returns the bias). Parameter counts do not change.

    Why (issue 21, BUILD_NOTES.md "DL-Delta collapse"): with Keras' zero bias the untrained
    output is 0.5 while face targets average ~0.14, so nearly all of the first loss is one
    shared offset. Adam moves every one of the 4.2 M weights by ~lr in the direction that
    lowers the output; through the ~30 ReLU layers these coherent steps compound, the logits
    overshoot from -0.3 to -5.5 in one step and to < -100 two steps later, the sigmoid
    saturates at 0 and its gradient underflows to exactly 0: a dead constant output.
    """
    if not 0.0 < float(mean_output) < 1.0:
        raise ValueError(f"init_output_bias: mean_output must be in (0, 1), got {mean_output}")
    head = model.get_layer("depth_out")
    bias = math.log(float(mean_output) / (1.0 - float(mean_output)))
    head.bias.assign([bias])
    return bias


def build_enhancer(variant: str, preset: str = "paper", image_size: int = 256) -> DepthEnhancer:
    """DL-Alpha/Beta/Gamma/Delta (``variant``) in the 'paper' or 'table' layout (module doc).

    At 256x256 the trainable-parameter count equals :data:`ENHANCER_PARAM_COUNTS`.
    """
    return DepthEnhancer(variant, preset=preset, image_size=image_size)
