"""The shipped recognition nets (models/picoface_recog): files match model.json, the embedding
kmodel is at most 554 KB (half Canaan's stock feature model), both kmodels pass
../shared/tools/kv3check (the K210 SDK's own loader and layer loop), and their readouts through
picoface's KPU emulator match what export.json recorded."""

import hashlib
import json

import numpy as np
import pytest

from picoface.paths import REPO_ROOT

SHIPPED = REPO_ROOT / "models" / "picoface_recog"


def _contract():
    return json.loads((SHIPPED / "model.json").read_text())


def test_shipped_files_match_model_json():
    c = _contract()
    assert c["kind"] == "recog" and c["input"] == 64 and c["grid"] == 4 and c["embed"]["dim"] == 128
    for key, f in c["files"].items():
        data = (SHIPPED / f["file"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"], key
    assert c["files"]["embed:kmodel-v3"]["bytes"] <= 554 * 1024
    assert -1.0 < c["thresholds"]["kmodel-v3"] < 1.0 and -1.0 < c["thresholds"]["tflite-int8"] < 1.0
    assert (SHIPPED / "MODEL_CARD.md").is_file()


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("net,channels", [("landmarks", 160), ("embed", 128)])
def test_shipped_recog_kmodels_pass_kv3check(tmp_path, net, channels):
    """The Kendryte SDK's loader and layer loop accept each net and walk every layer (loader only:
    no region layer), on a 64x64 face-sized input."""
    import kv3

    rng = np.random.default_rng(1)
    frame = tmp_path / "in.bin"
    rng.integers(0, 256, (3, 64, 64), dtype=np.uint8).tofile(frame)
    contract = tmp_path / "c.json"
    contract.write_text(json.dumps({"input": {"w": 64, "h": 64, "channels": 3},
                                    "output": {"grid_w": 4, "grid_h": 4, "anchors": [[1, 1]], "channels": channels}}))
    r = kv3.run(SHIPPED / ("%s.kmodel" % net), contract, frame, loader_only=True)
    assert kv3.passed(r), r.stdout + r.stderr
