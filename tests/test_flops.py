"""Layer FLOP counting against hand-computed values."""

import keras
from keras import layers

from depthlab import flops
from depthlab.layers import ResnetBlock


def test_conv_dense_and_transpose_flops_by_hand():
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inp)             # 2*64*9*3*4 = 13,824
    x = layers.Conv2D(2, 1, strides=2)(x)                    # 2*16*1*4*2 = 256
    x = layers.Conv2DTranspose(5, 3, strides=2, padding="same")(x)  # 2*16(in)*9*2*5 = 2,880
    x = layers.Flatten()(x)
    out = layers.Dense(7)(x)                                 # 2*(8*8*5)*7 = 4,480
    model = keras.Model(inp, out)
    assert flops.forward_flops(model) == 13_824 + 256 + 2_880 + 4_480
    assert flops.train_step_flops(model) == 3 * (13_824 + 256 + 2_880 + 4_480)


def test_resnet_block_counts_its_two_convs():
    inp = keras.Input((4, 4, 8))
    model = keras.Model(inp, ResnetBlock(8)(inp))
    assert flops.forward_flops(model) == 2 * (2 * 16 * 9 * 8 * 8)
