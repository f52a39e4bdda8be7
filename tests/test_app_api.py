"""The app's HTTP API through Starlette's test client: every route, its checks, its numbers."""

import base64
import io
import json
import os
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("starlette", reason='the app needs Starlette: pip install "convlearn[app]"')
pytest.importorskip("httpx", reason="Starlette's test client needs httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # newer Starlette suggests another HTTP client for its test client
    from starlette.testclient import TestClient

import convlearn as keras  # noqa: E402
from convlearn import layers, zoo  # noqa: E402
from convlearn.app import views  # noqa: E402
from convlearn.app.server import STATIC_DIR, create_app  # noqa: E402
from convlearn.app.uploads import MAX_IMAGE_BYTES  # noqa: E402
from convlearn.datasets import load_digit_image  # noqa: E402
from convlearn.explain import explain_cell, explain_conv, explain_layer, gradient_flow  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(11)
    return zoo.guide()


def _client(app):
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture()
def client(model, tmp_path):
    return _client(create_app(model, "guide.keras", save_dir=str(tmp_path)))


def _canvas():
    """A white 280x280 canvas with a black "7" drawn on it, as the page sends it."""
    c = np.full((280, 280), 255, np.uint8)
    c[60:80, 70:210] = 0
    for k in range(140):
        r, col = 80 + k, 205 - k // 2
        c[r:r + 18, col - 9:col + 9] = 0
    return c


def _predict(client, canvas=None):
    canvas = _canvas() if canvas is None else canvas
    h, w = canvas.shape
    r = client.post(f"/api/predict?w={w}&h={h}", content=canvas.tobytes())
    assert r.status_code == 200, r.text
    return r.json()


def _u8(view):
    return np.frombuffer(base64.b64decode(view["data"]), np.uint8)


def _decoded(view):
    return view["lo"] + _u8(view) / 255.0 * (view["hi"] - view["lo"])


def _error(r, status, key):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["key"] == key, body
    assert body["error"]["message"]
    return body["error"]["message"]


# ------------------------------------------------------------------ the page and its files
def test_page_and_assets_are_served_with_safety_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and "data-testid=\"draw-canvas\"" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/js/main.js", "/static/css/app.css"):
        assert client.get(path).status_code == 200
    font = client.get("/fonts/ConvlearnCJKSubset-Regular.otf")
    assert font.status_code == 200 and font.headers["content-type"] == "font/otf" and len(font.content) > 100_000


def test_nothing_comes_from_the_network():
    """Every asset is in the package: no http(s) URL is fetched by the page."""
    for folder, _, files in os.walk(STATIC_DIR):
        for name in files:
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                text = fh.read()
            for marker in ('src="http', "href=\"http", "url(http", 'from "http', "fetch(\"http", "//cdn"):
                assert marker not in text, (name, marker)


@pytest.mark.parametrize("path", [
    "/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py", "/static/%2e%2e%2fserver.py",
    "/static/js/../../server.py", "/static//etc/passwd", "/fonts/OFL.txt", "/fonts/..%2f..%2fcli.py",
    "/fonts/%2e%2e%2fi18n.py", "/../../etc/passwd", "/static/", "/server.py",
])
def test_paths_outside_the_assets_are_refused(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "import" not in r.text and "root:" not in r.text


def test_other_host_names_are_refused(client):
    r = client.get("/api/model", headers={"host": "attacker.example"})
    assert r.status_code == 400


def test_messages_in_both_languages(client):
    en = client.get("/api/messages?lang=en").json()
    zh = client.get("/api/messages?lang=zh").json()
    assert set(en["messages"]) == set(zh["messages"]) and len(en["messages"]) > 100
    assert zh["lang"] == "zh" and zh["messages"]["app_tab_backward"] == "反向传播"
    assert client.get("/api/messages?lang=xx").json()["lang"] == "en"


# ------------------------------------------------------------------ the model
def test_model_description_uses_summary_explain(client, model):
    d = client.get("/api/model?lang=zh").json()["model"]
    assert [layer["kind"] for layer in d["layers"]] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert d["layers"][0]["explain"] == explain_layer(model.layers[0], "zh")
    assert d["layers"][3]["inputs"] == [2] and d["layers"][0]["inputs"] == [-1]
    assert d["params"] == model.count_params() and d["classes"] == 10 and not d["is_graph"]


def test_a_graph_model_is_described_as_a_graph(tmp_path):
    inputs = keras.Input((28, 28, 1))
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = layers.Conv2D(4, 3, padding="same")(a)
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(layers.add([a, b])))
    app = create_app(keras.Model(inputs, out), save_dir=str(tmp_path))
    d = _client(app).get("/api/model").json()["model"]
    assert d["is_graph"] and d["layers"][2]["kind"] == "Add" and d["layers"][2]["inputs"] == [0, 1]


# ------------------------------------------------------------------ predictions
def test_prediction_is_the_models_own(client, model):
    p = _predict(client)
    image, steps = load_digit_image(_canvas(), return_steps=True)
    x = views.decode_f32(p["input"], (28, 28, 1))
    np.testing.assert_array_equal(x[..., 0], image)
    expected = model.predict(x[None], verbose=0)[0]
    np.testing.assert_allclose(p["probabilities"], expected, rtol=1e-5, atol=1e-7)
    assert p["predicted"] == int(np.argmax(expected))
    assert [s["name"] for s in p["steps"]] == [name for name, _ in steps]
    assert all(max(s["shown"]) <= views.STEP_DISPLAY_SIDE for s in p["steps"])
    outs = [o[0] for _, o in model.layer_outputs(x[None])]
    for view, out in zip(p["layers"], outs):
        if view["kind"] == "maps":
            out = np.transpose(out, (2, 0, 1))
        tol = (view["hi"] - view["lo"]) / 255 / 2 + 1e-6
        np.testing.assert_allclose(_decoded(view), out.reshape(-1), atol=tol)
    assert p["layers"][-1]["values"] == pytest.approx(list(expected), abs=1e-6)


def test_layer_data_is_compact(client):
    r = client.post("/api/predict?w=280&h=280", content=_canvas().tobytes())
    sizes = 26 * 26 * 32 + 13 * 13 * 32 * 2 + 100 + 10
    assert len(r.content) < 1.45 * sizes + 40_000  # 8-bit values in base64, not lists of floats


@pytest.mark.parametrize("query, body, status, key", [
    ("w=280&h=280", b"\x00" * 100, 400, "app_err_canvas_bytes"),
    ("w=2000&h=10", b"\x00" * 20000, 400, "app_err_canvas_size"),
    ("w=7&h=7", b"\x00" * 49, 400, "app_err_canvas_size"),
    ("w=abc&h=10", b"\x00" * 10, 400, "app_err_canvas_size"),
    ("w=10.5&h=10", b"\x00" * 105, 400, "app_err_canvas_size"),
    ("h=10", b"\x00" * 100, 400, "app_err_canvas_size"),
    ("w=28&h=28", b"\xff" * 784, 422, "app_err_blank"),
])
def test_bad_drawings_are_refused_clearly(client, query, body, status, key):
    _error(client.post(f"/api/predict?{query}", content=body), status, key)


def test_a_too_large_body_is_refused_before_it_is_read(client):
    _error(client.post("/api/predict?w=1024&h=1024", content=b"\x00" * (1024 * 1024 + 1)), 413, "app_err_too_big")


def test_errors_come_in_the_pages_language(client):
    message = _error(client.post("/api/predict?w=28&h=28&lang=zh", content=b"\xff" * 784), 422, "app_err_blank")
    assert "空" in message


def _png(array, mode="L", fmt="PNG"):
    Image = pytest.importorskip("PIL.Image", reason="image uploads need Pillow")
    buf = io.BytesIO()
    Image.fromarray(array, mode=None).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


def test_image_upload_is_decoded_like_a_drawing(client):
    p = client.post("/api/image", content=_png(_canvas()), headers={"content-type": "image/png"}).json()
    assert p["input"] == _predict(client)["input"]
    rgba = np.dstack([_canvas()] * 3 + [np.full((280, 280), 255, np.uint8)])
    q = client.post("/api/image", content=_png(rgba, "RGBA"))
    assert q.status_code == 200 and q.json()["input"] == p["input"]
    jpeg = client.post("/api/image", content=_png(_canvas(), "L", "JPEG"))
    assert jpeg.status_code == 200


def test_bad_uploads_are_refused(client):
    _error(client.post("/api/image", content=b"not an image at all"), 400, "app_err_not_image")
    _error(client.post("/api/image", content=b""), 400, "app_err_empty")
    _error(client.post("/api/image", content=_png(_canvas())[:200]), 400, "app_err_bad_image")
    _error(client.post("/api/image", content=_png(_canvas(), "L", "TIFF")), 400, "app_err_not_image")
    huge = _png(np.zeros((4200, 4200), np.uint8))  # small file, too many pixels: refused from its header
    assert len(huge) < MAX_IMAGE_BYTES
    _error(client.post("/api/image", content=huge), 413, "app_err_too_many_pixels")
    _error(client.post("/api/image", content=b"\x89PNG" + b"\x00" * MAX_IMAGE_BYTES), 413, "app_err_too_big")


# ------------------------------------------------------------------ a cell's arithmetic
def test_conv_cell_arithmetic_is_the_models(client, model):
    p = _predict(client)
    x = views.decode_f32(p["input"], (28, 28, 1))
    r = client.post("/api/cell", json={"input": p["input"], "step": 0, "position": [12, 9, 5], "model": p["model"]})
    c = r.json()
    expected = explain_cell(model, x, 0, (12, 9, 5))
    value = float(model.layer_outputs(x[None])[0][1][0, 12, 9, 5])
    assert c["kind"] == "conv" and c["value"] == pytest.approx(value)
    assert c["total"] == expected.total and c["bias"] == expected.bias and c["output"] == expected.output
    window = np.array(c["window"])[0]  # (kh, kw) of the one input channel
    np.testing.assert_array_equal(window, x[12:15, 9:12, 0])
    assert np.sum(np.array(c["products"])) == pytest.approx(c["total"])
    assert max(c["z"], 0.0) == pytest.approx(value, abs=1e-6)


def test_pool_and_dense_cells(client, model):
    p = _predict(client)
    pool = client.post("/api/cell", json={"input": p["input"], "step": 1, "position": [6, 6, 0]}).json()
    assert pool["mode"] == "max" and pool["output"] == pytest.approx(pool["value"])
    a, b = pool["winner"]
    assert pool["window"][a][b] == max(max(row) for row in pool["window"])
    dense = client.post("/api/cell", json={"input": p["input"], "step": 4, "position": [p["predicted"]]}).json()
    assert dense["kind"] == "dense" and dense["activation"] == "softmax" and len(dense["terms"]) == 8
    assert dense["output"] == pytest.approx(p["probabilities"][p["predicted"]], abs=1e-6)


@pytest.mark.parametrize("body, status, key", [
    ({"step": 0, "position": [0, 0, 0]}, 400, "app_err_input"),
    ({"input": "@@@", "step": 0, "position": [0, 0, 0]}, 400, "app_err_input"),
    ({"input": base64.b64encode(b"\x00" * 8).decode(), "step": 0, "position": [0, 0, 0]}, 400, "app_err_input"),
    ({"input": base64.b64encode(np.full(784, np.nan, "<f4").tobytes()).decode(), "step": 0, "position": [0, 0, 0]},
     400, "app_err_input"),
    ({"input": "", "step": 9, "position": [0]}, 400, "app_err_input"),
    ({"input": None, "step": "0", "position": [0]}, 400, "app_err_input"),
])
def test_bad_cell_requests(client, body, status, key):
    _error(client.post("/api/cell", json=body), status, key)


def test_bad_cell_positions_and_steps(client):
    good = _predict(client)["input"]
    _error(client.post("/api/cell", json={"input": good, "step": 9, "position": [0]}), 400, "app_err_field_int")
    _error(client.post("/api/cell", json={"input": good, "step": True, "position": [0]}), 400, "app_err_field_int")
    _error(client.post("/api/cell", json={"input": good, "step": 0, "position": "1,2"}), 400, "app_err_position")
    _error(client.post("/api/cell", json={"input": good, "step": 0, "position": [26, 0, 0]}), 400, "err_net_position")
    _error(client.post("/api/cell", json={"input": good, "step": 0, "position": [1, 2, 3], "model": 99}), 409,
           "app_err_model_changed")
    _error(client.post("/api/cell", content=b"{}", headers={"content-type": "text/plain"}), 415, "app_err_content_type")
    _error(client.post("/api/cell", content=b"[1, 2", headers={"content-type": "application/json"}), 400,
           "app_err_bad_json")
    _error(client.post("/api/cell", content=b"[1, 2]", headers={"content-type": "application/json"}), 400,
           "app_err_bad_json")


# ------------------------------------------------------------------ the backward pass
def test_backward_gradients_are_the_engines(client, model):
    p = _predict(client)
    x = views.decode_f32(p["input"], (28, 28, 1))
    r = client.post("/api/backward?lang=zh", json={"input": p["input"], "target": 3, "model": p["model"]})
    d = r.json()
    flow = gradient_flow(model, x, 3)
    assert d["loss"] == pytest.approx(flow.loss) and d["target"] == 3
    sal = d["saliency"]
    np.testing.assert_allclose(_decoded(sal), np.transpose(flow.input_grad[0], (2, 0, 1)).reshape(-1),
                               atol=(sal["hi"] - sal["lo"]) / 255 / 2 + 1e-12)
    assert len(d["gradients"]) == 5 and d["gradients"][0]["kind"] == "maps"
    titles = [s["title"] for s in d["sections"]]
    assert any("交叉熵" in t for t in titles) and "反向传播" in d["text"]
    assert {w["path"] for w in d["weights"]} == {path for path, _ in model.named_weights()}
    _error(client.post("/api/backward", json={"input": p["input"], "target": 10}), 400, "app_err_field_int")


# ------------------------------------------------------------------ the playground
def test_playground_is_the_guides_walkthrough(client):
    body = {"image": [[0, 1, 1, 0], [1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 0, 1]], "kernel": [[1, 0], [0, -1]],
            "stride": 1, "padding": "same", "pool": "avg", "pool_size": 2}
    d = client.post("/api/playground", json=body).json()
    walk = explain_conv(np.array(body["image"], float), np.array(body["kernel"], float), 1, "same")
    np.testing.assert_array_equal(d["conv"]["output"], walk.output)
    assert [s["total"] for s in d["conv"]["steps"]] == [s.total for s in walk.steps]
    assert d["conv"]["size_height"][0] == "out = ceil(4 / 1) = 4"
    assert d["pool"]["mode"] == "avg" and len(d["pool"]["steps"]) == 4
    zh = client.post("/api/playground?lang=zh", json=body).json()
    assert zh["conv"]["size_height"][0].startswith("输出尺寸")


@pytest.mark.parametrize("change, key", [
    ({"kernel": [[1, 2, 3, 4, 5, 6]]}, "app_err_field_matrix"),
    ({"image": [[1, 2], [3]]}, "app_err_field_matrix"),
    ({"image": [["a", 1]]}, "app_err_field_matrix"),
    ({"image": [[1e9]]}, "app_err_field_matrix"),
    ({"image": [[0] * 13] * 3}, "app_err_field_matrix"),
    ({"stride": 0}, "app_err_field_int"),
    ({"padding": "full"}, "app_err_field_choice"),
    ({"pool": "min"}, "app_err_field_choice"),
    ({"kernel": [[1, 1, 1, 1, 1]] * 5}, "err_kernel_too_big"),
    ({"pool_size": 4}, "app_err_pool_too_big"),
])
def test_bad_playground_requests(client, change, key):
    body = {"image": [[0, 1, 1], [1, 0, 1], [0, 0, 1]], "kernel": [[1, 0], [0, -1]]}
    body.update(change)
    _error(client.post("/api/playground", json=body), 400, key)


# ------------------------------------------------------------------ opening models
def test_opening_a_model_file(client, tmp_path):
    other = zoo.convnet()
    path = tmp_path / "convnet.keras"
    other.save(path)
    r = client.post("/api/model?name=convnet.keras", content=path.read_bytes())
    assert r.status_code == 200 and r.json()["model"]["source"] == "convnet.keras"
    assert len(_predict(client)["layers"]) == 7
    _error(client.post("/api/model", content=b"PK\x03\x04 not really a zip"), 400, "app_err_bad_model")
    _error(client.post("/api/model", content=b""), 400, "app_err_empty")
    small = keras.Sequential([layers.Input((8, 8, 3)), layers.Flatten(), layers.Dense(2)])
    small.save(tmp_path / "small.keras")
    _error(client.post("/api/model", content=(tmp_path / "small.keras").read_bytes()), 400, "app_err_model_input")


def test_without_a_model(tmp_path):
    client = _client(create_app(None, save_dir=str(tmp_path)))
    assert client.get("/api/model").json()["model"] is None
    _error(client.post("/api/predict?w=28&h=28", content=_canvas()[:28, :28].tobytes()), 409, "app_err_no_model")
    _error(client.post("/api/train/start", json={"model": "current"}), 409, "app_err_no_model")
    _error(client.post("/api/train/open", json={}), 409, "app_err_no_trained")
    _error(client.get("/api/train/model"), 404, "app_err_no_trained")


# ------------------------------------------------------------------ live training
def _events(client, since=0):
    events = []
    with client.stream("GET", f"/api/train/events?since={since}") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


@pytest.mark.parametrize("body, key", [
    ({"model": "huge"}, "app_err_field_choice"),
    ({"dataset": "cifar"}, "app_err_field_choice"),
    ({"epochs": 0}, "app_err_field_int"),
    ({"learning_rate": "fast"}, "app_err_field_number"),
    ({"learning_rate": 5}, "app_err_field_number"),
    ({"images": 10}, "app_err_field_int"),
    ({"input": 3}, "app_err_input"),
])
def test_bad_training_requests(client, body, key):
    _error(client.post("/api/train/start", json=body), 400, key)


def test_live_training_streams_progress_and_saves_the_model(client, tmp_path):
    p = _predict(client)
    r = client.post("/api/train/start", json={"model": "guide", "epochs": 2, "images": 400, "batch_size": 16,
                                              "input": p["input"]})
    assert r.status_code == 202
    busy = client.post("/api/train/start", json={"model": "guide", "images": 400})
    _error(busy, 409, "app_err_training_busy")
    events = _events(client)
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done", kinds
    progress = [e for k, e in events if k == "progress"]
    assert progress and all(e["loss"] is not None for e in progress)
    assert [e["epoch"] for k, e in events if k == "epoch"] == [0, 1]
    snap = [e for k, e in events if k == "snapshot"][-1]
    assert snap["filters"]["shape"] == [32, 3, 3] and len(snap["layers"]) == 5
    result = [e for k, e in events if k == "done"][0]["result"]
    assert os.path.dirname(result["path"]) == str(tmp_path) and os.path.isfile(result["path"])
    assert 0 <= result["test_accuracy"] <= 1
    # a tab that comes later sees the whole run again (and the latest snapshot)
    again = [k for k, _ in _events(client)]
    assert [k for k in again if k != "snapshot"] == [k for k in kinds if k != "snapshot"]
    assert again.count("snapshot") == 1
    assert len(_events(client, since=3)) < len(events)
    download = client.get("/api/train/model")
    assert download.status_code == 200 and download.content[:2] == b"PK"
    opened = client.post("/api/train/open", json={})
    assert opened.status_code == 200 and opened.json()["model"]["source"] == result["file"]
    assert _predict(client)["model"] == opened.json()["model"]["id"]


def test_pause_resume_and_stop(client):
    r = client.post("/api/train/start", json={"model": "guide", "epochs": 5, "images": 2000})
    assert r.status_code == 202
    trainer = client.app.state.convlearn.trainer
    for _ in range(500):
        if trainer.state == "running":
            break
        time.sleep(0.02)
    assert client.post("/api/train/pause", json={}).json()["ok"]
    assert client.get("/api/train").json()["state"] == "paused"
    assert client.post("/api/train/resume", json={}).json()["ok"]
    assert client.post("/api/train/stop", json={}).json()["ok"]
    events = _events(client)
    assert events[-1][0] == "done" and client.get("/api/train").json()["state"] == "stopped"
    assert sum(1 for k, _ in events if k == "epoch") < 5
    assert client.post("/api/train/pause", json={}).status_code == 409


def test_a_failed_training_is_reported(client, monkeypatch):
    from convlearn.app import training

    def no_data(name):
        raise FileNotFoundError("Fashion-MNIST is not on this computer")

    monkeypatch.setattr(training, "_load", no_data)
    assert client.post("/api/train/start", json={"dataset": "fashion_mnist"}).status_code == 202
    events = _events(client)
    assert events[-1][0] == "failed" and "Fashion-MNIST is not on this computer" in events[-1][1]["error"]


# ------------------------------------------------------------------ the command line
def test_app_command_line_refuses_clearly(tmp_path, capsys):
    from convlearn.cli import main

    assert main(["app", str(tmp_path / "missing.keras"), "--no-browser"]) == 2
    assert "no model file at" in capsys.readouterr().err
    (tmp_path / "bad.keras").write_bytes(b"not a model")
    assert main(["app", str(tmp_path / "bad.keras"), "--no-browser"]) == 2
    assert "cannot load the model" in capsys.readouterr().err
    small = keras.Sequential([layers.Input((8, 8, 3)), layers.Flatten(), layers.Dense(2)])
    small.save(tmp_path / "small.keras")
    assert main(["app", str(tmp_path / "small.keras"), "--no-browser"]) == 2
    assert "(None, 28, 28, 1)" in capsys.readouterr().err
    assert main(["app", "--port", "70000", "--no-browser"]) == 2
    assert main(["app", "--save-dir", str(tmp_path / "nope"), "--no-browser"]) == 2


def test_app_command_line_reports_a_busy_port(tmp_path, capsys):
    import socket

    from convlearn.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", "--port", str(port), "--no-browser", "--save-dir", str(tmp_path)]) == 2
    assert "--port" in capsys.readouterr().err


def test_app_is_listed_in_the_help(capsys):
    from convlearn.cli import main

    assert main(["--help"]) == 0
    assert "app" in capsys.readouterr().out
    assert main(["app", "--help"]) == 0
    assert "--no-browser" in capsys.readouterr().out


def test_a_model_with_two_outputs_shows_the_first(tmp_path):
    keras.utils.set_random_seed(4)
    inputs = keras.Input((28, 28, 1))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu")(inputs))
    digit = layers.Dense(10, activation="softmax", name="digit")(x)
    odd = layers.Dense(1, activation="sigmoid", name="odd")(x)
    model = keras.Model(inputs, [digit, odd])
    client = _client(create_app(model, save_dir=str(tmp_path)))
    d = client.get("/api/model").json()["model"]
    assert d["classes"] == 10 and d["layers"][d["output_step"]]["name"] == "digit"
    p = _predict(client)
    x = views.decode_f32(p["input"], (28, 28, 1))
    np.testing.assert_allclose(p["probabilities"], model.predict(x[None], verbose=0)[0][0], rtol=1e-5, atol=1e-7)
    r = client.post("/api/backward", json={"input": p["input"], "target": 2})
    assert r.status_code == 200 and r.json()["target"] == 2
