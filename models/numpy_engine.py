"""P1 and P2 in NumPy: the same arithmetic as the Keras models, without TensorFlow.

The reference architectures are small (a per-step dense layer or CNN, an LSTM of 32 units,
a softmax), so a worker can run them with NumPy and never import TensorFlow: a worker's
fixed cost drops by the seconds a TensorFlow import and model load take. The weights come
from the bundle's ``weights.npz`` (written with the ``.keras`` files, the same arrays in
``get_weights()`` order), checked against the bundle's version, which hashes them.
:func:`keras_equivalence` in the tests holds the two engines to float32 round-off.

The engine exposes the four blocks :class:`~neurokube.models.detector.Detector` runs: the
per-step blocks once per step (they end with the LSTM's input projection, which depends on
one step only), the LSTM recurrences on windows of their outputs.
"""
import io
import os
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from neurokube.models.config import ModelConfig

WEIGHTS_FILE = "weights.npz"
# get_weights() order of each model (layers with weights, in order).
P1_LAYOUT = ("dense_kernel", "dense_bias", "lstm_kernel", "lstm_recurrent", "lstm_bias",
             "out_kernel", "out_bias")
P2_LAYOUT = ("conv1_kernel", "conv1_bias", "conv2_kernel", "conv2_bias", "lstm_kernel",
             "lstm_recurrent", "lstm_bias", "out_kernel", "out_bias")


def weights_arrays(folder: str | os.PathLike[str]
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The ``(p1 arrays, p2 arrays)`` of a bundle's ``weights.npz``, in get_weights order."""
    with np.load(os.path.join(str(folder), WEIGHTS_FILE), allow_pickle=False) as data:
        p1 = [data[f"p1/{k:02d}"] for k in range(len(P1_LAYOUT))]
        p2 = [data[f"p2/{k:02d}"] for k in range(len(P2_LAYOUT))]
    return p1, p2


def save_weights(folder: str | os.PathLike[str], p1_weights: Iterable[np.ndarray],
                 p2_weights: Iterable[np.ndarray]) -> None:
    """Write ``weights.npz`` (raw arrays, no pickles)."""
    buffer = io.BytesIO()
    arrays = {f"p1/{k:02d}": w for k, w in enumerate(p1_weights)}
    arrays.update({f"p2/{k:02d}": w for k, w in enumerate(p2_weights)})
    np.savez(buffer, **arrays)
    tmp = os.path.join(str(folder), f".tmp-{WEIGHTS_FILE}")
    with open(tmp, "wb") as handle:
        handle.write(buffer.getvalue())
    os.replace(tmp, os.path.join(str(folder), WEIGHTS_FILE))


def _elu(x):
    """ELU in place (x is a fresh float32 array): x for x > 0, exp(x) - 1 below."""
    below = np.minimum(x, 0.0)
    np.expm1(below, out=below)
    np.maximum(x, 0.0, out=x)
    x += below
    return x


def _halve_sigmoid_gates(kernel):
    """A copy of an LSTM weight with the columns of gates i, f and o halved (exact in
    binary floating point): then one tanh gives all four gates, as
    sigmoid(z) = (tanh(z / 2) + 1) / 2."""
    out = np.array(kernel, np.float32)
    units = out.shape[-1] // 4
    out[..., :2 * units] *= 0.5
    out[..., 3 * units:] *= 0.5
    return out


def _lstm_inputs(x, kernel, bias):
    """The LSTM's input projection of each step, x @ kernel + bias: (N, 4 × units).

    It depends on one step only, so the engine computes it once per step, inside the
    per-step block, rather than once for every window that holds the step."""
    out = x @ kernel
    out += bias
    return out


def _lstm(projected, recurrent):
    """Keras LSTM (gates i, f, c, o; tanh; sigmoid) over input projections (N, steps,
    4 × units), with weights from :func:`_halve_sigmoid_gates`: the last hidden state.
    float32."""
    units = recurrent.shape[0]
    h = c = None
    for t in range(projected.shape[1]):
        z = projected[:, t] if h is None else projected[:, t] + h @ recurrent
        gates = np.tanh(z)
        g = gates[:, 2 * units:3 * units].copy()
        gates += 1.0
        gates *= 0.5  # i, f, o: sigmoid of the unhalved pre-activation
        i_g = gates[:, :units] * g
        c = i_g if c is None else gates[:, units:2 * units] * c + i_g
        h = gates[:, 3 * units:] * np.tanh(c)
    return h


def _softmax_seizure(x, kernel, bias):
    """P(seizure) of a 2-way softmax layer."""
    logits = x @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e[:, 1] / e.sum(axis=1)).astype(np.float32)


def _conv_same(images, kernel):
    """3×3 'same' convolution of (N, H, W, C) with (3, 3, C, K), without bias or
    activation: one matrix product over the patches. float32."""
    kh, kw, c_in, c_out = kernel.shape
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    patches = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    # (N, H, W, C, kh, kw) -> (N * H * W, kh * kw * C), in the kernel's (dy, dx, c) order.
    patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * c_in)
    return (patches @ kernel.reshape(kh * kw * c_in, c_out)).reshape(n, h, w, c_out)


def _conv_elu_pool(images, kernel, bias, ph, pw):
    """Keras Conv2D('same', ELU) then MaxPooling2D((ph, pw)). The bias and ELU are
    monotonic, so they commute with the maximum: applied after pooling, on ph × pw fewer
    values, they give the same numbers."""
    pooled = _max_pool(_conv_same(images, kernel), ph, pw)
    pooled += bias
    return _elu(pooled)


def _max_pool(images, ph, pw):
    """Max pooling with a (ph, pw) window and stride (valid padding), by elementwise maxima."""
    h2, w2 = images.shape[1] // ph, images.shape[2] // pw
    rows = images[:, 0:h2 * ph:ph]
    for dy in range(1, ph):
        rows = np.maximum(rows, images[:, dy:h2 * ph:ph])
    out = rows[:, :, 0:w2 * pw:pw]
    for dx in range(1, pw):
        out = np.maximum(out, rows[:, :, dx:w2 * pw:pw])
    return out


class NumpyEngine:
    """The per-step blocks and heads of P1 and P2 (see the module doc)."""

    def __init__(self, p1_weights: Iterable[np.ndarray], p2_weights: Iterable[np.ndarray],
                 config: "ModelConfig") -> None:
        self.p1 = dict(zip(P1_LAYOUT, (np.asarray(w, np.float32) for w in p1_weights)))
        self.p2 = dict(zip(P2_LAYOUT, (np.asarray(w, np.float32) for w in p2_weights)))
        for weights in (self.p1, self.p2):
            for name in ("lstm_kernel", "lstm_recurrent", "lstm_bias"):
                weights[name] = _halve_sigmoid_gates(weights[name])
        self.config = config
        # The per-step blocks end with the heads' LSTM input projections (4 × units).
        self.p1_step_units = self.p1["lstm_kernel"].shape[1]
        self.p2_step_units = self.p2["lstm_kernel"].shape[1]

    def p1_step(self, x: np.ndarray) -> np.ndarray:
        """(N, P1 step inputs) -> (N, 4 × LSTM units): the dense layer, then the LSTM's
        input projection."""
        out = x @ self.p1["dense_kernel"]
        out += self.p1["dense_bias"]
        return _lstm_inputs(_elu(out), self.p1["lstm_kernel"], self.p1["lstm_bias"])

    def p1_head(self, windows: np.ndarray) -> np.ndarray:
        """(N, W, 4 × LSTM units) -> (N,) P(seizure)."""
        h = _lstm(windows, self.p1["lstm_recurrent"])
        return _softmax_seizure(h, self.p1["out_kernel"], self.p1["out_bias"])

    def p2_step(self, maps: np.ndarray) -> np.ndarray:
        """(N, C, M, 1) -> (N, 4 × LSTM units): the per-step CNN, then the LSTM's input
        projection."""
        x = _conv_elu_pool(maps.astype(np.float32), self.p2["conv1_kernel"],
                           self.p2["conv1_bias"], 2, 4)
        x = _conv_elu_pool(x, self.p2["conv2_kernel"], self.p2["conv2_bias"], 2, 2)
        return _lstm_inputs(x.reshape(len(x), -1), self.p2["lstm_kernel"],
                            self.p2["lstm_bias"])

    def p2_head(self, windows: np.ndarray) -> np.ndarray:
        """(N, W, 4 × LSTM units) -> (N,) P(seizure)."""
        h = _lstm(windows, self.p2["lstm_recurrent"])
        return _softmax_seizure(h, self.p2["out_kernel"], self.p2["out_bias"])
