"""Take the README's screenshots of ``convlearn app`` in headless Chromium.

Starts the app on a free loopback port with a model (by default the guide's model, trained here
with seed 0 for one epoch on 12,000 MNIST images: a few seconds), draws a "7" with the mouse and
writes three PNGs:

* ``app_layers.png``: every layer of the model, channel 4 of the convolution opened and the
  arithmetic of one of its cells;
* ``app_backward_zh.png``: the backward pass, in Chinese;
* ``app_training.png``: a short training run (curves, filters, feature maps).

::

    apt-get install -y chromium            # Debian's Chromium; Playwright drives it
    pip install -e ".[app,test]"           # Starlette, uvicorn, Playwright for Python
    python tools/app_screenshots.py        # or: --model mnist_cnn.keras --out docs/images
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _model(path: str | None):
    import numpy as np

    import convlearn
    from convlearn import zoo
    from convlearn.datasets import mnist
    from convlearn.models import load_model

    if path:
        return load_model(path), os.path.basename(path)
    convlearn.utils.set_random_seed(0)
    (x, y), _ = mnist.load_data()
    model = zoo.guide()
    model.fit((x[:12000, ..., None] / 255).astype(np.float32), y[:12000], epochs=1, verbose=0)
    return model, "mnist_cnn.keras"


def _serve(app):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio: no Nagle delay
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _draw_seven(page) -> None:
    box = page.locator("[data-testid=draw-canvas]").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 75, y0 + 70)
    page.mouse.down()
    for i in range(1, 16):
        page.mouse.move(x0 + 75 + i * 10, y0 + 68 + i * 0.4)
    for i in range(1, 19):
        page.mouse.move(x0 + 225 - i * 5.5, y0 + 74 + i * 10)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('[data-testid=prediction]').dataset.class !== ''")
    page.wait_for_load_state("networkidle")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras file (default: train the guide's model briefly)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"), help="folder for the PNGs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from convlearn.app.server import create_app

    model, name = _model(args.model)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = _serve(create_app(model, name, save_dir=tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1050}, locale="en-US")
                page.goto(url)
                page.wait_for_selector("body[data-ready=true]")
                _draw_seven(page)
                conv = page.locator("[data-testid=layer-view][data-step='0']")
                conv.locator("[data-testid=channel]").nth(4).click()
                detail = conv.locator("[data-testid=layer-detail-canvas]")
                box = detail.bounding_box()
                detail.click(position={"x": 14.5 * box["width"] / 26, "y": 6.5 * box["height"] / 26})
                page.wait_for_selector("[data-testid=cell-arithmetic]:not([hidden])")
                page.wait_for_timeout(300)
                page.screenshot(path=os.path.join(args.out, "app_layers.png"))

                page.click("[data-testid=lang-zh]")
                page.wait_for_function("() => document.documentElement.lang === 'zh-Hans'")
                page.click("[data-testid=tab-backward]")
                page.wait_for_selector("[data-testid=walkthrough-section]")
                page.evaluate("document.fonts.ready")
                page.locator("[data-testid=walkthrough-section]").nth(3).scroll_into_view_if_needed()
                page.wait_for_timeout(300)
                page.screenshot(path=os.path.join(args.out, "app_backward_zh.png"))

                page.click("[data-testid=lang-en]")
                page.wait_for_function("() => document.documentElement.lang === 'en'")
                page.click("[data-testid=tab-train]")
                page.fill("[data-testid=train-images]", "6000")
                page.fill("[data-testid=train-epochs]", "3")
                page.click("[data-testid=train-start]")
                page.wait_for_selector("[data-testid=train-status][data-state=done]", timeout=300_000)
                page.wait_for_timeout(500)
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=os.path.join(args.out, "app_training.png"))
                browser.close()
        finally:
            server.should_exit = True
    for shot in ("app_layers.png", "app_backward_zh.png", "app_training.png"):
        print(os.path.join(args.out, shot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
