"""How fast the app answers, measured through its HTTP API (not part of pytest).

Two measurements, each against a real ``convlearn app`` server started in its own process:

* **stroke to prediction and layer views**: the page sends the canvas after every bit of a stroke;
  this sends the canvases of a "7" being drawn, one request at a time as the page does, and times
  each from sending the pixels to having the prediction, the preprocessing steps and every layer's
  data decoded (8-bit values out of base64, as the page decodes them).  The target is a median of
  at most 50 ms for the guide's model.
* ``--training``: images per second of a training started from the page (with a listener on its
  Server-Sent Events) against the same ``fit`` in a plain process, rounds interleaved.  The target is
  at least 90 % of ``fit``'s speed.

::

    python benchmarks/app_latency.py                 # latency, 300 requests
    python benchmarks/app_latency.py --training      # and the training speed, 3 rounds

Prints a small table; the numbers in the README come from this script.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model_path: str | None, save_dir: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "convlearn.app", "--port", str(port), "--no-browser", "--save-dir", save_dir]
    if model_path:
        cmd.insert(3, model_path)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(300):
        try:
            if httpx.get(url + "/api/model", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the app did not start:\n" + (proc.stdout.read() if proc.stdout else ""))


def strokes(count: int) -> list[np.ndarray]:
    """Canvases (280x280, white paper, black ink) of a "7" drawn bit by bit, as the page sends them."""
    canvas = np.full((280, 280), 255, np.uint8)
    path = [(70, 80 + 10 * i) for i in range(15)] + [(70 + 10 * i, 220 - 6 * i) for i in range(1, 19)]
    frames = []
    yy, xx = np.mgrid[0:280, 0:280]
    for k in range(count):
        r, c = path[k % len(path)]
        if k % len(path) == 0:
            canvas[:] = 255
        canvas[(yy - r) ** 2 + (xx - c) ** 2 <= 100] = 0  # a round pen of radius 10
        frames.append(canvas.copy())
    return frames


def latency(url: str, requests: int, warmup: int = 20) -> dict[str, float]:
    """Time each drawing's request on one kept-alive connection, as a browser tab sends them.

    The client is the standard library's ``http.client`` with Nagle's algorithm off, as browsers
    have it (the server turns it off on its side too: see ``convlearn.app.cli.serve``).
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times, sizes = [], []
    try:
        for k, frame in enumerate(strokes(requests + warmup)):
            start = time.perf_counter()
            conn.request("POST", "/api/predict?w=280&h=280", body=frame.tobytes(),
                         headers={"content-type": "application/octet-stream"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
            payload = json.loads(body)
            for view in payload["layers"] + payload["steps"]:
                np.frombuffer(base64.b64decode(view["data"]), np.uint8)
            elapsed = time.perf_counter() - start
            if k >= warmup:
                times.append(elapsed)
                sizes.append(len(body))
    finally:
        conn.close()
    times.sort()
    return {"median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * times[int(0.9 * len(times))],
            "min_ms": 1000 * times[0], "bytes": statistics.median(sizes), "requests": len(times)}


PLAIN_FIT = """
import json, sys, time
import numpy as np
import convlearn
from convlearn import optimizers, zoo
from convlearn.datasets import mnist
images, epochs, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
(x, y), _ = mnist.load_data()
x = (x[:images, ..., None] / 255).astype(np.float32)
y = y[:images]
model = zoo.guide()
model.compile(optimizer=optimizers.Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
start = time.perf_counter()
model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def app_training(url: str, images: int, epochs: int, batch: int) -> float:
    """Seconds of ``fit`` inside the app (as its trainer measures them), with an SSE listener attached."""
    import httpx

    with httpx.Client(base_url=url, timeout=None) as client:
        r = client.post("/api/train/start", json={"model": "guide", "epochs": epochs, "images": images,
                                                  "batch_size": batch, "learning_rate": 0.001})
        r.raise_for_status()
        result = None
        with client.stream("GET", "/api/train/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event.get("type") == "done":
                        result = event["result"]
                    elif event.get("type") == "failed":
                        raise RuntimeError(event["error"])
        return float(result["seconds"])


def plain_training(images: int, epochs: int, batch: int) -> float:
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    out = subprocess.run([sys.executable, "-c", PLAIN_FIT, str(images), str(epochs), str(batch)], env=env,
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras file (default: the guide's model with seeded weights)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--training", action="store_true", help="also compare the training speed with fit")
    parser.add_argument("--images", type=int, default=20000, help="training images per round (--training)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import convlearn
    from convlearn import zoo

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            convlearn.utils.set_random_seed(0)
            path = os.path.join(tmp, "guide.keras")
            zoo.guide().save(path)
        proc, url = _start_server(path, tmp)
        try:
            stats = latency(url, args.requests)
            print(f"stroke -> prediction + layer views ({stats['requests']} requests, {os.path.basename(path)}): "
                  f"median {stats['median_ms']:.1f} ms, p90 {stats['p90_ms']:.1f} ms, min {stats['min_ms']:.1f} ms, "
                  f"{stats['bytes'] / 1024:.0f} KiB per answer", flush=True)
            if args.training:
                app_s, plain_s = [], []
                for k in range(args.rounds):
                    plain_s.append(plain_training(args.images, 1, 32))
                    app_s.append(app_training(url, args.images, 1, 32))
                    print(f"round {k + 1}: fit {plain_s[-1]:.2f} s, app {app_s[-1]:.2f} s", flush=True)
                ratio = statistics.median(plain_s) / statistics.median(app_s)
                print(f"training {args.images} images, batch 32: app at {100 * ratio:.0f}% of fit's speed "
                      f"(medians: fit {statistics.median(plain_s):.2f} s, app {statistics.median(app_s):.2f} s)")
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
