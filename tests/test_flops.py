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


def test_graph_count_matches_layer_count_and_hand_values():
    import tensorflow as tf

    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inp)
    x = layers.DepthwiseConv2D(3, padding="same")(x)               # 2*64*9*4 = 4,608
    x = layers.Conv2DTranspose(5, 3, strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    out = layers.Dense(7)(x)
    model = keras.Model(inp, out)
    spec = tf.TensorSpec((2, 8, 8, 3), tf.float32)
    # conv 13,824; depthwise 4,608; transpose 2*64(in)*9*4*5 = 23,040; dense 2*1280*7 = 17,920
    by_layers = 13_824 + 4_608 + 23_040 + 17_920
    assert flops.graph_forward_flops(model, spec) == by_layers
    plain = keras.Model(inp, layers.Dense(7)(layers.Flatten()(layers.Conv2D(4, 3, padding="same")(inp))))
    assert flops.graph_forward_flops(plain, spec) == flops.forward_flops(plain)


def test_graph_count_sees_matmuls_of_a_subclassed_model():
    import tensorflow as tf

    class Attn(keras.Model):
        def call(self, x, training=False):
            return tf.matmul(x, x, transpose_b=True)              # (B, 6, 4) x (B, 4, 6)

    spec = tf.TensorSpec((3, 6, 4), tf.float32)
    assert flops.graph_forward_flops(Attn(), spec) == 2 * 6 * 6 * 4
