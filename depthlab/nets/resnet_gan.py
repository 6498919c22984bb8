"""Paper-neutral ResNet GAN networks: the CycleGAN ResNet generator and the PatchGAN.

Owned by no paper: TS-GAN (``depthlab.models.tsgan``, its presets), its Table 1 baselines,
CycleGAN-depth (Suarez et al.) and the two-stage pix2pix refiner build them from their own
configs through the keyword arguments below (filters, blocks, strides, norms).

- ``ResnetGenerator``: c7s1-F, d2F, d4F, N residual blocks, u2F, uF, c7s1-C + tanh
  (Zhu et al. 2017 / Johnson et al. 2016; TS-GAN reference notes table 1.4).
- ``PatchDiscriminator``: k4 convs + IN + LeakyReLU(0.2) and a final 1-map conv
  (Isola et al. 2017 70x70 PatchGAN; TS-GAN reference notes table 1.5).

The registered Keras names (package ``depthlab``, class names) are unchanged from when the
classes lived in ``depthlab.models.tsgan``, so saved ``.keras`` files still load.
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import layers

from depthlab.layers import ReflectionPad2D, ResnetBlock, conv_norm_act

_PACKAGE = "depthlab"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResnetGenerator(keras.Model):
    """CycleGAN ResNet generator as used by TS-GAN (code: 9 blocks, paper: 6 blocks).

    Convs before IN have no bias; the last 7x7 conv has a bias and a float32 tanh, so the
    output stays float32 under mixed precision.
    """

    def __init__(self, image_size: Optional[int] = 128, input_channels: int = 3,
                 output_channels: int = 3, filters: int = 64, n_downsamplings: int = 2,
                 n_blocks: int = 9, name: str = "resnet_generator", **kwargs):
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
            x = conv_norm_act(x, width, 3, strides=2, transpose=True)
        x = ReflectionPad2D(3)(x)
        x = layers.Conv2D(output_channels, 7, padding="valid", dtype="float32")(x)
        outputs = layers.Activation("tanh", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._config = dict(image_size=image_size, input_channels=input_channels,
                            output_channels=output_channels, filters=filters,
                            n_downsamplings=n_downsamplings, n_blocks=n_blocks)

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PatchDiscriminator(keras.Model):
    """PatchGAN: k4 convs with ``filters``/``strides``, then a k4 conv to 1 score map.

    Code (reference table 1.5): the first conv has a bias and no norm, the others are IN +
    LeakyReLU(0.2), the 1-map conv is s1 with a bias; 64/128/256 s2 + 512 s1 (70x70 field).
    Paper text (l. 536-541): ``first_norm`` (IN on every conv, l. 538-539) and
    ``final_stride=2`` (the 1-map conv "uses the same parameters", k4 s2). ``final_norm``
    also puts IN + LReLU on the 1-map conv (not the paper preset: BUILD_NOTES). Outputs raw
    LSGAN scores (no sigmoid).
    """

    def __init__(self, image_size: Optional[int] = 128, input_channels: int = 3,
                 filters=(64, 128, 256, 512), strides=(2, 2, 2, 1), first_norm: bool = False,
                 final_stride: int = 1, final_norm: bool = False,
                 name: str = "patch_discriminator", **kwargs):
        filters, strides = tuple(int(f) for f in filters), tuple(int(s) for s in strides)
        if len(filters) != len(strides):
            raise ValueError(f"PatchDiscriminator: filters {filters} and strides {strides} "
                             "must have the same length")
        inputs = keras.Input((image_size, image_size, input_channels), name="image")
        x = inputs
        for i, (f, s) in enumerate(zip(filters, strides)):
            x = conv_norm_act(x, f, 4, strides=s, norm=first_norm or i > 0, activation="lrelu")
        if final_norm:
            x = conv_norm_act(x, 1, 4, strides=final_stride, activation="lrelu")
            outputs = layers.Activation("linear", dtype="float32")(x)
        else:
            outputs = layers.Conv2D(1, 4, strides=final_stride, padding="same",
                                    dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._config = dict(image_size=image_size, input_channels=input_channels,
                            filters=list(filters), strides=list(strides),
                            first_norm=bool(first_norm), final_stride=int(final_stride),
                            final_norm=bool(final_norm))

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
