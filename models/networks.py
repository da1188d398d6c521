"""Keras 3 builders of the P1 (channel LSTM) and P2 (multichannel CNN+LSTM) models.

Both output softmax [P(background), P(seizure)] for the centre step of their window.
Sizes come from :class:`~neurokube.models.config.ModelConfig`.

Example::

    p1 = build_p1(ModelConfig())   # (batch, 7, 260) -> (batch, 2)
    p2 = build_p2(ModelConfig())   # (batch, 7, 22, 56) -> (batch, 2)
"""
from typing import TYPE_CHECKING

import keras
from keras import layers

if TYPE_CHECKING:
    from neurokube.models.config import ModelConfig


def build_p1(config: "ModelConfig") -> "keras.Model":
    """P1: one channel's window of steps -> P(seizure) at the centre step (weights shared
    by all channels)."""
    inputs = keras.Input((config.window_steps, config.p1_input_values), name="channel_window")
    # Training-time regularisation only (identity at inference).
    x = layers.GaussianNoise(config.p1_input_noise, name="input_noise")(inputs)
    x = layers.Dropout(config.p1_input_dropout, name="input_dropout")(x)
    x = layers.TimeDistributed(layers.Dense(config.p1_dense_units, activation="elu"),
                               name="step_projection")(x)
    x = layers.LSTM(config.p1_lstm_units, name="lstm")(x)
    x = layers.Dropout(config.p1_dropout, name="dropout")(x)
    outputs = layers.Dense(2, activation="softmax", name="posterior")(x)
    return keras.Model(inputs, outputs, name="p1_channel_lstm")


def build_p2(config: "ModelConfig") -> "keras.Model":
    """P2: a window of (channels × features) maps -> P(seizure) at the centre step.

    The maps already carry the channel mask (absent channels are zero); the mask is also
    appended as one more feature column so the model can tell absent from silent.
    """
    inputs = keras.Input((config.window_steps, config.n_channels, config.map_values + 1),
                         name="map_window")
    x = layers.Dropout(config.p2_input_dropout, name="input_dropout")(inputs)
    x = layers.Reshape((config.window_steps, config.n_channels, config.map_values + 1, 1),
                       name="as_images")(x)
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


def split_per_step(model: "keras.Model", step_input_shape: tuple[int, ...]
                   ) -> tuple["keras.Model", "keras.Model"]:
    """Split a windowed model into its per-step part and its window head.

    P1 and P2 apply a ``TimeDistributed`` block to every step of a window, then an LSTM
    head. Run whole, each step is processed once per window it falls in (7 times);
    split, the per-step block runs once per step and only the head sees windows. Same
    weights, same arithmetic per step.

    Returns
    -------
    (keras.Model, keras.Model)
        ``step_model``: one step ``step_input_shape`` -> its feature vector;
        ``head``: (window_steps, feature) -> posterior.
    """
    index = next(i for i, layer in enumerate(model.layers)
                 if isinstance(layer, layers.TimeDistributed))
    # Layers before the per-step block must be the identity at inference.
    skipped = [layer for layer in model.layers[1:index] if not isinstance(
        layer, (layers.GaussianNoise, layers.Dropout, layers.Reshape))]
    if skipped:
        raise ValueError(f"{model.name}: cannot split across {[l.name for l in skipped]}")
    inner = model.layers[index].layer
    step_in = keras.Input(step_input_shape, name="step")
    step_model = keras.Model(step_in, inner(step_in), name=f"{model.name}_step")
    window_steps = model.input_shape[1]
    head_in = keras.Input((window_steps, step_model.output_shape[-1]), name="step_features")
    x = head_in
    for layer in model.layers[index + 1:]:
        x = layer(x)
    return step_model, keras.Model(head_in, x, name=f"{model.name}_head")
