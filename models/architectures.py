"""Keras 3 builders of the P1 (channel LSTM) and P2 (multichannel CNN+LSTM) models.

Both output softmax [P(background), P(seizure)] for the centre step of their window.
Sizes come from :class:`~neurokube.models.config.ModelConfig`.

Example::

    p1 = build_p1(ModelConfig())   # (batch, 7, 260) -> (batch, 2)
    p2 = build_p2(ModelConfig())   # (batch, 7, 22, 56) -> (batch, 2)
"""
import keras
from keras import layers


def build_p1(config):
    """P1: one channel's window of steps -> P(seizure) at the centre step (weights shared
    by all channels)."""
    inputs = keras.Input((config.window_steps, config.step_values), name="channel_window")
    x = layers.TimeDistributed(layers.Dense(config.p1_dense_units, activation="elu"),
                               name="step_projection")(inputs)
    x = layers.LSTM(config.p1_lstm_units, name="lstm")(x)
    x = layers.Dropout(config.p1_dropout, name="dropout")(x)
    outputs = layers.Dense(2, activation="softmax", name="posterior")(x)
    return keras.Model(inputs, outputs, name="p1_channel_lstm")


def build_p2(config):
    """P2: a window of (channels × features) maps -> P(seizure) at the centre step.

    The maps already carry the channel mask (absent channels are zero); the mask is also
    appended as one more feature column so the model can tell absent from silent.
    """
    inputs = keras.Input((config.window_steps, config.n_channels, config.map_values + 1),
                         name="map_window")
    x = layers.Reshape((config.window_steps, config.n_channels, config.map_values + 1, 1),
                       name="as_images")(inputs)
    f1, f2 = config.p2_conv_filters
    cnn = keras.Sequential([
        layers.Input((config.n_channels, config.map_values + 1, 1)),
        layers.Conv2D(f1, (3, 3), padding="same", activation="elu"),
        layers.MaxPooling2D((2, 4)),
        layers.Conv2D(f2, (3, 3), padding="same", activation="elu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
    ], name="step_cnn")
    x = layers.TimeDistributed(cnn, name="per_step_cnn")(x)
    x = layers.LSTM(config.p2_lstm_units, name="lstm")(x)
    x = layers.Dropout(config.p2_dropout, name="dropout")(x)
    outputs = layers.Dense(2, activation="softmax", name="posterior")(x)
    return keras.Model(inputs, outputs, name="p2_cnn_lstm")
