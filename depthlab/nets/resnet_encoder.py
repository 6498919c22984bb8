"""Paper-neutral ResNet encoders: the ResNet-50 trunk of fb.resnet.torch (He et al. 2016).

Used by the two-stage paper's stage 1 (sparse-to-dense, Ma & Karaman 2018, reference notes
3.2); any paper needing a Torch-layout ResNet trunk builds it here. The trunk ends at the last
bottleneck stage: no average pooling and no linear layer (the two-stage text, lines 356-360,
"we remove the last average pooling layer and linear conversion layer of ResNet-50"). ``ResNetEncoder`` keeps
its registered Keras name (package ``depthlab``) from when it lived in
``depthlab.models.two_stage``.
"""

from __future__ import annotations

import keras
from keras import layers

_PACKAGE = "depthlab"

#: Torch BN: momentum 0.1 (Keras 0.9), eps 1e-5.
TORCH_BN = dict(momentum=0.9, epsilon=1e-5)
#: Torch ``nn.init.kaiming_normal_(mode='fan_out')``: He normal on the fan-out.
HE_FAN_OUT = dict(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def torch_conv(x, filters, kernel, stride=1, name=None):
    """Torch-style conv: symmetric zero padding k // 2, then a valid conv, no bias."""
    pad = kernel // 2
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=False,
                         kernel_initializer=keras.initializers.VarianceScaling(**HE_FAN_OUT),
                         name=name)(x)


def torch_bn(x, name):
    return layers.BatchNormalization(name=name, **TORCH_BN)(x)


def _bottleneck(x, filters, stride, project, name):
    """ResNet bottleneck 1x1 -> 3x3 (stride here, as fb.resnet.torch) -> 1x1 x4, type-B shortcut."""
    h = torch_bn(torch_conv(x, filters, 1, name=f"{name}_conv1"), f"{name}_bn1")
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = torch_bn(torch_conv(h, filters, 3, stride, f"{name}_conv2"), f"{name}_bn2")
    h = layers.ReLU(name=f"{name}_relu2")(h)
    h = torch_bn(torch_conv(h, 4 * filters, 1, name=f"{name}_conv3"), f"{name}_bn3")
    shortcut = x
    if project:
        shortcut = torch_bn(torch_conv(x, 4 * filters, 1, stride, f"{name}_proj"),
                            f"{name}_proj_bn")
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([h, shortcut]))


def resnet_encoder(inputs, base_filters: int = 64, blocks=(3, 4, 6, 3)):
    """ResNet-50 trunk without fc (He et al. 2016; fb.resnet.torch layout), 1/32 resolution.

    conv1 7x7 s2 p3 -> BN -> ReLU -> maxpool 3x3 s2 p1 -> stages of ``blocks`` bottlenecks
    with widths base x (1, 2, 4, 8) (x4 out). 23,508,032 parameters for 3 input channels
    at base 64. Layer names start with ``enc_`` (used by ``load_backbone_weights``).
    """
    x = torch_conv(inputs, base_filters, 7, 2, "enc_conv1")
    x = layers.ReLU(name="enc_relu1")(torch_bn(x, "enc_bn1"))
    x = layers.ZeroPadding2D(1, name="enc_pool_pad")(x)     # after ReLU, 0-padding == -inf
    x = layers.MaxPooling2D(3, strides=2, name="enc_pool")(x)
    for stage, n in enumerate(blocks):
        for b in range(n):
            stride = 2 if (b == 0 and stage > 0) else 1
            x = _bottleneck(x, base_filters * 2 ** stage, stride, b == 0,
                            f"enc_layer{stage + 1}_block{b}")
    return x


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResNetEncoder(keras.Model):
    """The ResNet-50 trunk alone as a model (two-stage stage 1 reads its ``--backbone_weights``
    files: ``depthlab.models.two_stage.load_backbone_weights``)."""

    def __init__(self, input_channels: int = 3, base_filters: int = 64, blocks=(3, 4, 6, 3),
                 name: str = "resnet_encoder", **kwargs):
        inputs = keras.Input((None, None, input_channels), name="image")
        super().__init__(inputs=inputs, outputs=resnet_encoder(inputs, base_filters, blocks),
                         name=name, **kwargs)
        self._config = dict(input_channels=input_channels, base_filters=base_filters,
                            blocks=list(blocks))

    def get_config(self):
        return dict(self._config, name=self.name)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
