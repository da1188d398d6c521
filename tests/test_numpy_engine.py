"""The NumPy engine gives the Keras models' posteriors (float32 round-off) without TensorFlow."""
import subprocess
import sys

import numpy as np

from neurokube.core.edf import open_recording
from neurokube.core.model_inputs import iter_model_inputs
from neurokube.models.bundle import ModelBundle


def test_numpy_engine_matches_keras(random_bundle, make_edf):
    path, _ = make_edf(duration_s=90.0, ears=False, reference="LE", seed=9)
    keras_bundle = ModelBundle.load(random_bundle)
    numpy_bundle = ModelBundle.load(random_bundle, engine="numpy")
    assert numpy_bundle.p1 is None and numpy_bundle.version == keras_bundle.version
    with open_recording(str(path), keras_bundle.feature_spec) as src:
        (chunk,) = iter_model_inputs(src, keras_bundle.feature_spec, keras_bundle.config, 3600)
    a = keras_bundle.detector(p1_batch_windows=700).posteriors(chunk)
    b = numpy_bundle.detector(p1_batch_windows=900).posteriors(chunk)
    np.testing.assert_allclose(b.p1, a.p1, atol=2e-5)
    np.testing.assert_allclose(b.p2, a.p2, atol=2e-5)


def test_numpy_engine_never_imports_tensorflow(random_bundle):
    code = ("import sys; from neurokube.models.bundle import ModelBundle; "
            f"b = ModelBundle.load({str(random_bundle)!r}, engine='numpy'); b.detector(); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_altered_weights_are_refused(random_bundle, tmp_path):
    import shutil
    import pytest
    copy = tmp_path / "b"
    shutil.copytree(random_bundle, copy)
    data = dict(np.load(copy / "weights.npz"))
    data["p1/00"] = data["p1/00"] + 1e-3
    np.savez(copy / "weights.npz", **data)
    with pytest.raises(ValueError, match="weights.npz"):
        ModelBundle.load(copy, engine="numpy")
