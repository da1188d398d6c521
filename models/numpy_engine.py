"""P1 and P2 in NumPy: the same arithmetic as the Keras models, without TensorFlow.

The reference architectures are small (a per-step dense layer or CNN, an LSTM of 32 units,
a softmax), so a worker can run them with NumPy and never import TensorFlow: a worker's
fixed cost drops by the seconds a TensorFlow import and model load take. The weights come
from the bundle's ``weights.npz`` (written with the ``.keras`` files, the same arrays in
``get_weights()`` order), checked against the bundle's version, which hashes them.
:func:`keras_equivalence` in the tests holds the two engines to float32 round-off.

The engine exposes the four blocks :class:`~neurokube.models.detector.Detector` runs: the
per-step blocks once per step, the LSTM heads on windows of their outputs.
"""
import numpy as np

WEIGHTS_FILE = "weights.npz"
# get_weights() order of each model (layers with weights, in order).
P1_LAYOUT = ("dense_kernel", "dense_bias", "lstm_kernel", "lstm_recurrent", "lstm_bias",
             "out_kernel", "out_bias")
P2_LAYOUT = ("conv1_kernel", "conv1_bias", "conv2_kernel", "conv2_bias", "lstm_kernel",
             "lstm_recurrent", "lstm_bias", "out_kernel", "out_bias")


def weights_arrays(folder):
    """The ``(p1 arrays, p2 arrays)`` of a bundle's ``weights.npz``, in get_weights order."""
    import os
    with np.load(os.path.join(str(folder), WEIGHTS_FILE), allow_pickle=False) as data:
        p1 = [data[f"p1/{k:02d}"] for k in range(len(P1_LAYOUT))]
        p2 = [data[f"p2/{k:02d}"] for k in range(len(P2_LAYOUT))]
    return p1, p2


def save_weights(folder, p1_weights, p2_weights):
    """Write ``weights.npz`` (raw arrays, no pickles)."""
    import io
    import os
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


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # = 1 / (1 + exp(-x)), without overflow


def _lstm(windows, kernel, recurrent, bias):
    """Keras LSTM (gates i, f, c, o; tanh; sigmoid): the last hidden state. float32."""
    n, steps, _ = windows.shape
    units = recurrent.shape[0]
    h = np.zeros((n, units), np.float32)
    c = np.zeros((n, units), np.float32)
    projected = windows.reshape(n * steps, -1) @ kernel + bias
    projected = projected.reshape(n, steps, 4 * units)
    for t in range(steps):
        z = projected[:, t] + h @ recurrent
        i = _sigmoid(z[:, :units])
        f = _sigmoid(z[:, units:2 * units])
        g = np.tanh(z[:, 2 * units:3 * units])
        o = _sigmoid(z[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def _softmax_seizure(x, kernel, bias):
    """P(seizure) of a 2-way softmax layer."""
    logits = x @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e[:, 1] / e.sum(axis=1)).astype(np.float32)


def _conv_same(images, kernel, bias):
    """3×3 'same' convolution of (N, H, W, C) with (3, 3, C, K), ELU: one matrix product
    over the patches. float32."""
    kh, kw, c_in, c_out = kernel.shape
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    patches = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    # (N, H, W, C, kh, kw) -> (N * H * W, kh * kw * C), in the kernel's (dy, dx, c) order.
    patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * c_in)
    out = patches @ kernel.reshape(kh * kw * c_in, c_out)
    out += bias
    return _elu(out).reshape(n, h, w, c_out)


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

    def __init__(self, p1_weights, p2_weights, config):
        self.p1 = dict(zip(P1_LAYOUT, (np.asarray(w, np.float32) for w in p1_weights)))
        self.p2 = dict(zip(P2_LAYOUT, (np.asarray(w, np.float32) for w in p2_weights)))
        self.config = config
        self.p1_step_units = self.p1["dense_kernel"].shape[1]
        # P2's per-step feature size: two pools of (2, 4) and (2, 2) over (C, M).
        h = (config.n_channels // 2) // 2
        w = ((config.map_values + 1) // 4) // 2
        self.p2_step_units = h * w * self.p2["conv2_kernel"].shape[3]

    def p1_step(self, x):
        """(N, 260) -> (N, dense units)."""
        out = x @ self.p1["dense_kernel"]
        out += self.p1["dense_bias"]
        return _elu(out)

    def p1_head(self, windows):
        """(N, W, dense units) -> (N,) P(seizure)."""
        h = _lstm(windows, self.p1["lstm_kernel"], self.p1["lstm_recurrent"],
                  self.p1["lstm_bias"])
        return _softmax_seizure(h, self.p1["out_kernel"], self.p1["out_bias"])

    def p2_step(self, maps):
        """(N, C, M, 1) -> (N, features) of the per-step CNN."""
        x = _conv_same(maps.astype(np.float32), self.p2["conv1_kernel"], self.p2["conv1_bias"])
        x = _max_pool(x, 2, 4)
        x = _conv_same(x, self.p2["conv2_kernel"], self.p2["conv2_bias"])
        x = _max_pool(x, 2, 2)
        return x.reshape(len(x), -1)

    def p2_head(self, windows):
        """(N, W, features) -> (N,) P(seizure)."""
        h = _lstm(windows, self.p2["lstm_kernel"], self.p2["lstm_recurrent"],
                  self.p2["lstm_bias"])
        return _softmax_seizure(h, self.p2["out_kernel"], self.p2["out_bias"])
