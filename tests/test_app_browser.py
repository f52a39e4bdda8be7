"""The app end to end in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Draw a digit with the mouse and read the prediction, open a layer, click a cell and check the
arithmetic against the model's own numbers, switch to Chinese (with the font the package ships),
follow the backward pass and the playground, train for a moment and see the curve move; the
browser console must stay free of errors.  Skipped, saying why, where Chromium or Playwright is
missing (CI installs both).
"""

import base64
import os
import socket
import threading
import time

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (CI installs it)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the browser tests need Playwright for Python: pip install playwright")
pytest.importorskip("uvicorn", reason='the app needs uvicorn: pip install "convlearn[app]"')
pytest.importorskip("starlette", reason='the app needs Starlette: pip install "convlearn[app]"')

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import convlearn as keras  # noqa: E402
from convlearn import zoo  # noqa: E402
from convlearn.app.server import create_app  # noqa: E402
from convlearn.explain import explain_cell, explain_conv, gradient_flow  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(21)
    return zoo.guide()


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    """The app on a free loopback port, served by uvicorn in a thread."""
    app = create_app(model, "guide.keras", save_dir=str(tmp_path_factory.mktemp("trained")))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio: no Nagle delay
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page of the app, with its console errors and the answers of /api/predict recorded."""

    def __init__(self, browser, url, locale="en-US"):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors = []
        self.predictions = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", self._record)
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]")

    def _record(self, response):
        if "/api/predict" in response.url and response.ok:
            self.predictions.append(response)

    def draw_seven(self):
        """A "7" drawn with the mouse on the canvas."""
        box = self.page.locator("[data-testid=draw-canvas]").bounding_box()
        x0, y0 = box["x"], box["y"]
        m = self.page.mouse
        m.move(x0 + 80, y0 + 70)
        m.down()
        for i in range(1, 15):
            m.move(x0 + 80 + i * 10, y0 + 70)
        for i in range(1, 18):
            m.move(x0 + 220 - i * 6, y0 + 70 + i * 10)
        m.up()
        self.page.wait_for_function("() => document.querySelector('[data-testid=prediction]').dataset.class !== ''")
        self.page.wait_for_load_state("networkidle")

    def last_input(self):
        """The prepared 28x28x1 image the server used for the latest prediction."""
        payload = self.predictions[-1].json()
        x = np.frombuffer(base64.b64decode(payload["input"]), "<f4").reshape(28, 28, 1)
        return x, payload

    def close(self):
        self.context.close()


@pytest.fixture()
def page(browser, server):
    p = Page(browser, server)
    yield p
    errors = list(p.errors)
    p.close()
    assert errors == [], errors


def test_draw_a_digit_and_read_the_prediction(page, model):
    page.draw_seven()
    x, payload = page.last_input()
    expected = int(np.argmax(model.predict(x[None], verbose=0)[0]))
    shown = page.page.locator("[data-testid=prediction]")
    assert shown.get_attribute("data-class") == str(expected) == str(payload["predicted"])
    assert page.page.locator("[data-testid=predicted-class]").inner_text() == str(expected)
    assert page.page.locator("[data-testid=probability]").count() == 10
    assert page.page.locator("[data-testid=preprocess-step]").count() == 6
    assert x.max() == pytest.approx(1.0) and x.sum() > 20  # the stroke arrived, prepared like MNIST


def test_every_layer_has_a_view_and_a_cell_shows_its_arithmetic(page, model):
    page.draw_seven()
    views = page.page.locator("[data-testid=layer-view]")
    assert views.count() == len(model.program().steps)
    conv = page.page.locator("[data-testid=layer-view][data-step='0']")
    assert conv.locator("[data-testid=channel]").count() == 32
    conv.locator("[data-testid=channel]").nth(4).click()  # open channel 4 of the convolution
    detail = conv.locator("[data-testid=layer-detail-canvas]")
    box = detail.bounding_box()
    row, col = 9, 13
    detail.click(position={"x": (col + 0.5) * box["width"] / 26, "y": (row + 0.5) * box["height"] / 26})
    panel = page.page.locator("[data-testid=cell-arithmetic]")
    panel.wait_for(state="visible")
    page.page.wait_for_function("() => document.querySelector('[data-testid=cell-arithmetic]').dataset.position === '9,13,4'")
    x, _ = page.last_input()
    cell = explain_cell(model, x, 0, (row, col, 4))
    value = float(model.layer_outputs(x[None])[0][1][0, row, col, 4])
    read = lambda testid: float(panel.locator(f"[data-testid={testid}]").get_attribute("data-value"))  # noqa: E731
    assert read("cell-sum") == pytest.approx(cell.total, abs=1e-9)
    assert read("cell-sum") == pytest.approx(float(np.sum(x[row:row + 3, col:col + 3, 0] *
                                                          model.layers[0].params["kernel"][:, :, 0, 4])), abs=1e-5)
    assert read("cell-bias") == pytest.approx(float(model.layers[0].params["bias"][4]))
    assert read("cell-output") == pytest.approx(max(read("cell-z"), 0.0))
    assert read("cell-value") == pytest.approx(value, abs=1e-6)
    assert read("cell-output") == pytest.approx(value, abs=1e-5)
    assert panel.locator("[data-testid=cell-window] td").count() == 9
    # a dense unit: its largest contributions
    page.page.locator("[data-testid=layer-view][data-step='4'] [data-testid=unit]").nth(7).click()
    page.page.wait_for_function("() => document.querySelector('[data-testid=cell-arithmetic]').dataset.kind === 'dense'")
    assert panel.locator("[data-testid=cell-terms] tr").count() == 9  # a header and 8 terms


def test_switch_to_chinese_with_the_shipped_font(page):
    page.page.click("[data-testid=lang-zh]")
    page.page.wait_for_function("() => document.documentElement.lang === 'zh-Hans'")
    assert page.page.locator("[data-testid=tab-backward]").inner_text() == "反向传播"
    assert page.page.locator("[data-testid=clear-canvas]").inner_text() == "清除"
    loaded = page.page.evaluate("""async () => {
        await document.fonts.load('16px "Convlearn CJK Subset"', '卷积层');
        await document.fonts.ready;
        return [...document.fonts].filter(f => f.family.includes('Convlearn') && f.status === 'loaded').length;
    }""")
    assert loaded >= 1
    page.draw_seven()
    formulas = page.page.locator("[data-testid=layer-view][data-step='0'] [data-testid=layer-formulas] pre").text_content()
    assert "输出尺寸" in formulas
    page.page.click("[data-testid=lang-en]")
    page.page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.page.locator("[data-testid=tab-backward]").inner_text() == "Backward pass"


def test_a_chinese_browser_gets_chinese(browser, server):
    p = Page(browser, server, locale="zh-CN")
    try:
        assert p.page.evaluate("document.documentElement.lang") == "zh-Hans"
        assert p.errors == []
    finally:
        p.close()


def test_backward_pass_view(page, model):
    page.draw_seven()
    page.page.click("[data-testid=tab-backward]")
    loss = page.page.locator("[data-testid=backward-loss]")
    page.page.wait_for_function("() => document.querySelector('[data-testid=backward-loss]').dataset.loss !== undefined")
    x, payload = page.last_input()
    flow = gradient_flow(model, x, payload["predicted"])
    assert float(loss.get_attribute("data-loss")) == pytest.approx(flow.loss, rel=1e-6)
    assert page.page.locator("[data-testid=gradient-view]").count() == 5
    assert page.page.locator("[data-testid=walkthrough-section]").count() >= 5
    page.page.click("[data-testid=backward-class-3]")
    page.page.wait_for_function("() => document.querySelector('[data-testid=backward-loss]').dataset.target === '3'")
    assert float(loss.get_attribute("data-loss")) == pytest.approx(gradient_flow(model, x, 3).loss, rel=1e-6)


def test_playground_steps_through_the_convolution(page):
    page.page.click("[data-testid=tab-playground]")
    page.page.wait_for_selector("[data-testid=play-sum]")
    page.page.click("[data-testid=play-next]")
    page.page.click("[data-testid=play-next]")
    walk = explain_conv()
    assert float(page.page.locator("[data-testid=play-sum]").get_attribute("data-value")) == walk.steps[2].total
    assert "3 of 16" in page.page.locator("[data-testid=play-step]").inner_text()
    page.page.select_option("[data-testid=play-stride]", "2")
    page.page.wait_for_function("() => document.querySelector('[data-testid=play-step]').textContent.includes('of 4')")
    assert "floor((6 + 2×0 − 3) / 2) + 1 = 2" in page.page.locator("[data-testid=play-formula]").inner_text()


def test_live_training_moves_the_curve(page):
    page.page.click("[data-testid=tab-train]")
    page.page.fill("[data-testid=train-images]", "300")
    page.page.fill("[data-testid=train-epochs]", "2")
    page.page.click("[data-testid=train-start]")
    page.page.wait_for_selector("[data-testid=train-status][data-state=done]", timeout=90_000)
    assert int(page.page.locator("[data-testid=train-curve]").get_attribute("data-points")) >= 2
    assert page.page.locator("[data-testid=train-filter]").count() == 32
    assert page.page.locator("[data-testid=train-result]").is_visible()
    page.page.click("[data-testid=train-open]")
    page.page.wait_for_function("() => document.querySelector('[data-testid=model-status]').textContent.includes('mnist_guide')")


def test_closing_the_tab_during_training_and_a_second_tab(browser, server):
    first = Page(browser, server)
    second = None
    try:
        first.page.click("[data-testid=tab-train]")
        first.page.fill("[data-testid=train-images]", "6000")
        first.page.fill("[data-testid=train-epochs]", "3")
        first.page.click("[data-testid=train-start]")
        first.page.wait_for_selector("[data-testid=train-status][data-state=running]")
        assert first.errors == []
        first.close()  # the tab goes away in the middle of the training, its event stream with it
        second = Page(browser, server)
        second.page.click("[data-testid=tab-train]")
        second.page.wait_for_selector("[data-testid=train-status][data-state=done]", timeout=120_000)
        assert int(second.page.locator("[data-testid=train-curve]").get_attribute("data-points")) >= 3
        assert second.page.locator("[data-testid=train-result]").is_visible()
        assert second.errors == []
    finally:
        if second is not None:
            second.close()
