"""Paper-neutral ResNet GAN networks: the CycleGAN ResNet generator and the PatchGAN.

Owned by no paper: TS-GAN (``depthlab.models.tsgan``, its presets), its Table 1 baselines,
CycleGAN-depth (Suarez et al.) and the two-stage pix2pix refiner build them from their own
configs through the keyword arguments below (filters, blocks, strides, norms, init).

- ``ResnetGenerator``: c7s1-F, d2F, d4F, N residual blocks, u2F, uF, c7s1-C + tanh
  (Zhu et al. 2017 / Johnson et al. 2016; TS-GAN reference notes table 1.4); optionally a
  second c7s1-A + tanh head on the same last features (``aux_channels``, ``with_aux``).
- ``PatchDiscriminator``: k4 convs + norm + LeakyReLU(0.2) and a final 1-map conv
  (Isola et al. 2017 70x70 PatchGAN; TS-GAN reference notes table 1.5). The one PatchGAN of
  the project: instance norm for TS-GAN / CycleGAN-depth / the Table 1 baselines, pix2pix
  batch norm for the two-stage refiner's ``ConditionalPatchGAN``, which builds it.

The registered Keras names (package ``depthlab``, class names) are unchanged from when the
classes lived in ``depthlab.models.tsgan``, so saved ``.keras`` files still load.
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import layers

from depthlab.layers import (KERNEL_INITS, NORMS, ReflectionPad2D, ResnetBlock,
                             conv_norm_act)

_PACKAGE = "depthlab"
#: ResnetGenerator's decoder upsampling: 3x3 stride-2 transposed convs (the CycleGAN / TS-GAN
#: code and text, tsgan-uppal.txt:526-529) or 2x bilinear resize + 3x3 conv ("resize-conv",
#: Odena et al. 2016, which has no uneven-overlap checkerboard).
UPSAMPLING = ("transpose", "resize")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResnetGenerator(keras.Model):
    """CycleGAN ResNet generator as used by TS-GAN (code: 9 blocks, paper: 6 blocks).

    Convs before IN have no bias; the last 7x7 conv has a bias and a float32 tanh, so the
    output stays float32 under mixed precision. ``aux_channels`` > 0 adds a parallel 7x7 conv
    + tanh of that many maps on the same features: the model's output is unchanged (the main
    maps only), ``with_aux`` (a model sharing every layer) returns ``[main, aux]``.
    """

    def __init__(self, image_size: Optional[int] = 128, input_channels: int = 3,
                 output_channels: int = 3, filters: int = 64, n_downsamplings: int = 2,
                 n_blocks: int = 9, upsample: str = "transpose", aux_channels: int = 0,
                 name: str = "resnet_generator", **kwargs):
        if upsample not in UPSAMPLING:
            raise ValueError(f"ResnetGenerator: upsample must be one of {UPSAMPLING}, got "
                             f"{upsample!r}")
        inputs = keras.Input((image_size, image_size, input_channels), name="image")
        x = ReflectionPad2D(3)(inputs)
        x = conv_norm_act(x, filters, 7, padding="valid")
        width = filters
        for _ in range(n_downsamplings):
            width *= 2
            x = conv_norm_act(x, width, 3, strides=2)
        for _ in range(n_blocks):
            x = ResnetBlock(width)(x)
        for _ in range(n_downsamplings):
            width //= 2
            if upsample == "transpose":
                x = conv_norm_act(x, width, 3, strides=2, transpose=True)
            else:
                x = layers.UpSampling2D(2, interpolation="bilinear")(x)
                x = conv_norm_act(x, width, 3)
        features = ReflectionPad2D(3)(x)
        x = layers.Conv2D(output_channels, 7, padding="valid", dtype="float32")(features)
        outputs = layers.Activation("tanh", dtype="float32")(x)
        aux = None
        if aux_channels:
            aux = layers.Conv2D(aux_channels, 7, padding="valid", dtype="float32",
                                name="aux_conv")(features)
            aux = layers.Activation("tanh", dtype="float32", name="aux_tanh")(aux)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        #: ``[main, aux]`` from the same layers (None without ``aux_channels``)
        self.with_aux = (keras.Model(inputs, [outputs, aux], name=f"{name}_with_aux")
                         if aux_channels else None)
        self._config = dict(image_size=image_size, input_channels=input_channels,
                            output_channels=output_channels, filters=filters,
                            n_downsamplings=n_downsamplings, n_blocks=n_blocks,
                            upsample=upsample)
        if aux_channels:     # absent otherwise, so configs saved before it read the same
            self._config["aux_channels"] = int(aux_channels)

    @property
    def main_variables(self):
        """The trainable variables of the main output (all of them without ``aux_channels``)."""
        if self.with_aux is None:
            return self.trainable_variables
        head = {id(v) for v in self.with_aux.get_layer("aux_conv").trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in head]

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PatchDiscriminator(keras.Model):
    """PatchGAN: k4 convs with ``filters``/``strides``, then a k4 conv to 1 score map.

    Code (reference table 1.5): the first conv has a bias and no norm, the others are norm +
    LeakyReLU(0.2), the 1-map conv is s1 with a bias; 64/128/256 s2 + 512 s1 (70x70 field).
    TS-GAN paper text (tsgan-uppal.txt lines 536-541): ``first_norm`` (IN on every conv,
    l. 538-539) and ``final_stride=2`` (the 1-map conv "uses the same parameters", k4 s2).
    ``final_norm`` also puts the norm + LReLU on the 1-map conv (not the paper preset:
    BUILD_NOTES). Outputs raw scores (no sigmoid: LSGAN, or BCE on logits).

    ``norm``: ``'instance'`` (``InstanceNorm``, TS-GAN / CycleGAN) or ``'batch'``
    (``Pix2PixBatchNorm``: the 70x70 PatchGAN of pix2pix with BN, as the two-stage text's D,
    two-stage-rgb-sparse-depth.txt lines 413-415, 497-513). ``kernel_init``: a key of
    ``KERNEL_INITS`` for every conv (``'normal'`` = N(0, 0.02), pix2pix). ``image_size=None``
    takes any H, W. ``input_name`` names the input; ``layer_prefix`` names the layers
    ``{p}1_conv``, ``{p}2_in``/``{p}2_bn``, ``{p}1_lrelu``, ..., ``{p}_logits`` (None: Keras
    numbers them, the TS-GAN layout).
    """

    def __init__(self, image_size: Optional[int] = 128, input_channels: int = 3,
                 filters=(64, 128, 256, 512), strides=(2, 2, 2, 1), first_norm: bool = False,
                 final_stride: int = 1, final_norm: bool = False, norm: str = "instance",
                 kernel_init: str = "glorot_uniform", input_name: str = "image",
                 layer_prefix: Optional[str] = None, name: str = "patch_discriminator",
                 **kwargs):
        who = type(self).__name__
        filters, strides = tuple(int(f) for f in filters), tuple(int(s) for s in strides)
        if len(filters) != len(strides):
            raise ValueError(f"{who}: filters {filters} and strides {strides} "
                             "must have the same length")
        if norm not in NORMS:
            raise ValueError(f"{who}: norm must be one of {sorted(NORMS)}, got {norm!r}")
        if kernel_init not in KERNEL_INITS:
            raise ValueError(f"{who}: kernel_init must be one of {sorted(KERNEL_INITS)}, "
                             f"got {kernel_init!r}")
        init = KERNEL_INITS[kernel_init]

        def named(suffix):
            return None if layer_prefix is None else f"{layer_prefix}{suffix}"

        inputs = keras.Input((image_size, image_size, input_channels), name=input_name)
        x = inputs
        for i, (f, s) in enumerate(zip(filters, strides)):
            x = conv_norm_act(x, f, 4, strides=s, norm=(first_norm or i > 0) and norm,
                              activation="lrelu", kernel_initializer=init,
                              name=named(i + 1))
        if final_norm:
            x = conv_norm_act(x, 1, 4, strides=final_stride, norm=norm, activation="lrelu",
                              kernel_initializer=init, name=named("_logits"))
            outputs = layers.Activation("linear", dtype="float32", name=named("_out"))(x)
        else:
            outputs = layers.Conv2D(1, 4, strides=final_stride, padding="same",
                                    kernel_initializer=init(), dtype="float32",
                                    name=named("_logits"))(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._config = dict(image_size=image_size, input_channels=input_channels,
                            filters=list(filters), strides=list(strides),
                            first_norm=bool(first_norm), final_stride=int(final_stride),
                            final_norm=bool(final_norm), norm=norm, kernel_init=kernel_init,
                            input_name=input_name, layer_prefix=layer_prefix)

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
