"""The app's web server: Starlette routes over convlearn's public API.

Starlette (with uvicorn to serve it) is small, maintained, async (training progress is pushed
with Server-Sent Events from a plain async generator) and ships what a safe local server
needs: ``StaticFiles`` refuses paths outside its folder, ``TrustedHostMiddleware`` refuses
requests for other host names (DNS rebinding), and a test client drives every route without a
network.  The routes:

=======================  ===========================================================
``GET /``                the page (``static/index.html``); ``/static/...`` its files
``GET /fonts/NAME``      the CJK font subset that ships with ``convlearn.explain``
``GET /api/messages``    the page's labels in ``?lang=en|zh``
``GET /api/model``       the opened model: layers, shapes, parameters, formulas
``POST /api/model``      open a ``.keras`` file (the request body)
``POST /api/predict``    a drawing (``?w=&h=``, one byte per pixel) -> steps, classes, every layer
``POST /api/image``      an image file -> the same
``POST /api/cell``       the arithmetic of one cell of one layer
``POST /api/backward``   the gradient at every layer for a class, and the walk-through
``POST /api/playground`` the guide's convolution and pooling on the page's matrices
``/api/train...``        start, pause, resume, stop, events (SSE), open or download the result
=======================  ===========================================================

Every request is checked (sizes, shapes, types) and refused with a JSON error
``{"error": {"key", "message"}}`` in the page's language.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from typing import Any, Awaitable, Callable

import numpy as np

from ..explain import ExplainError, resolve_lang, tr
from ..explain.i18n import CATALOGUE, FONT_FILES
from . import views
from .training import DATASETS, MODEL_CHOICES, TrainConfig, Trainer, TrainerBusy
from .uploads import (
    MAX_CANVAS_SIDE,
    MAX_IMAGE_BYTES,
    MAX_JSON_BYTES,
    MAX_MODEL_BYTES,
    RequestError,
    canvas_pixels,
    image_pixels,
    load_model_bytes,
)

__all__ = ["create_app", "AppState", "STATIC_DIR", "LOOPBACK_HOSTS", "check_model"]

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
FONT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "explain", "fonts")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Seconds between two looks at the training's events by an SSE stream.
EVENT_POLL = 0.2

_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                 b"script-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
                                 b"base-uri 'none'; frame-ancestors 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def check_model(model: Any) -> None:
    """Refuse a model the app cannot draw for: one 28x28x1 input, outputs of class scores.

    Raises
    ------
    RequestError
    """
    shape = tuple(model.input_shape) if isinstance(model.input_shape, tuple) else None
    if shape != (None, 28, 28, 1):
        raise RequestError("app_err_model_input", shape=str(model.input_shape))
    out = model.output_shape if isinstance(model.output_shape, tuple) else model.output_shape[0]
    if len(out) != 2 or out[-1] is None or out[-1] < 2:
        raise RequestError("app_err_model_output", shape=str(model.output_shape))


class AppState:
    """What the server holds: the opened model (replaced as a whole, never changed) and the trainer."""

    def __init__(self, model: Any = None, source: str | None = None, save_dir: str = ".") -> None:
        self.lock = threading.Lock()
        self.model = None
        self.model_id = 0
        self.source = None
        self.closing = False
        self._described: dict[tuple[int, str], dict[str, Any]] = {}
        self.trainer = Trainer(save_dir)
        if model is not None:
            self.set_model(model, source)

    def set_model(self, model: Any, source: str | None) -> int:
        check_model(model)
        with self.lock:
            self.model_id += 1
            self.model, self.source = model, source
            self._described.clear()
            return self.model_id

    def current(self) -> tuple[Any, int]:
        with self.lock:
            if self.model is None:
                raise RequestError("app_err_no_model", status=409)
            return self.model, self.model_id

    def describe(self, lang: str) -> dict[str, Any] | None:
        with self.lock:
            model, model_id, source = self.model, self.model_id, self.source
            cached = self._described.get((model_id, lang))
        if model is None:
            return None
        if cached is None:
            cached = dict(views.describe_model(model, lang), id=model_id, source=source)
            with self.lock:
                self._described[(model_id, lang)] = cached
        return cached


# --------------------------------------------------------------------------------------
# request helpers
# --------------------------------------------------------------------------------------
def _lang(value: Any) -> str:
    try:
        return resolve_lang(value) if value else "en"
    except ValueError:
        return "en"


async def _body(request: Any, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError("app_err_bad_request", detail="content-length")
        if int(declared) > limit:
            raise RequestError("app_err_too_big", status=413, limit=_size(limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError("app_err_too_big", status=413, limit=_size(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


async def _json(request: Any) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError("app_err_content_type", status=415, expected="application/json", got=kind or "none")
    body = await _body(request, MAX_JSON_BYTES)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RequestError("app_err_bad_json") from None
    if not isinstance(data, dict):
        raise RequestError("app_err_bad_json")
    return data


def _int(data: dict[str, Any], key: str, low: int, high: int, default: Any = ...) -> int:
    value = data.get(key, default)
    if value is ... or isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError("app_err_field_int", field=key, low=low, high=high, got=json.dumps(value if value is not ... else None)[:40])
    return value


def _float(data: dict[str, Any], key: str, low: float, high: float, default: Any = ...) -> float:
    value = data.get(key, default)
    if value is ... or isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError("app_err_field_number", field=key, low=low, high=high,
                           got=json.dumps(value if value is not ... else None)[:40])
    return float(value)


def _choice(data: dict[str, Any], key: str, choices: tuple, default: Any = ...) -> Any:
    value = data.get(key, default)
    if value not in choices:
        raise RequestError("app_err_field_choice", field=key, choices=", ".join(map(str, choices)),
                           got=json.dumps(value if value is not ... else None)[:40])
    return value


def _matrix(data: dict[str, Any], key: str, max_rows: int, max_cols: int) -> np.ndarray:
    value = data.get(key)
    ok = isinstance(value, list) and 0 < len(value) <= max_rows and all(
        isinstance(row, list) and 0 < len(row) <= max_cols and len(row) == len(value[0])
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and abs(v) <= 1e6 for v in row)
        for row in value)
    if not ok:
        raise RequestError("app_err_field_matrix", field=key, rows=max_rows, cols=max_cols)
    return np.array(value, dtype=np.float64)


def _input(data: dict[str, Any], model: Any) -> np.ndarray:
    shape = tuple(model.input_shape[1:])
    try:
        return views.decode_f32(data.get("input"), shape)
    except ValueError as exc:
        raise RequestError("app_err_input", shape=str(shape), reason=str(exc)) from None


def _check_model_id(data: dict[str, Any], model_id: int) -> None:
    if "model" in data and data["model"] != model_id:
        raise RequestError("app_err_model_changed", status=409)


# --------------------------------------------------------------------------------------
# the application
# --------------------------------------------------------------------------------------
def create_app(model: Any = None, source: str | None = None, save_dir: str = ".",
               allowed_hosts: tuple[str, ...] | list[str] | None = None) -> Any:
    """The Starlette application of ``convlearn app``.

    Parameters
    ----------
    model : convlearn.models.Model, optional
        The model to open (a 28x28x1 image classifier); without it the page offers to train one
        or to open a file.
    source : str, optional
        What to call it on the page (the file name).
    save_dir : str
        Folder where trained models are saved.
    allowed_hosts : sequence of str, optional
        Host names the server answers to (default: the loopback names); ``["*"]`` for any.

    Returns
    -------
    starlette.applications.Starlette
        With ``app.state.convlearn`` holding the :class:`AppState`.

    Raises
    ------
    ImportError
        Without Starlette (``pip install "convlearn[app]"``).
    RequestError
        If ``model`` is not a 28x28x1 image classifier.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    state = AppState(model, source, save_dir)

    def error_response(exc: Exception, lang: str) -> Any:
        if isinstance(exc, RequestError):
            return JSONResponse({"error": {"key": exc.key, "message": exc.message(lang)}}, status_code=exc.status)
        if isinstance(exc, ExplainError):
            return JSONResponse({"error": {"key": exc.key, "message": exc.message(lang)}}, status_code=400)
        raise exc

    def api(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def endpoint(request: Any) -> Any:
            lang = _lang(request.query_params.get("lang"))
            try:
                return await handler(request, lang)
            except (RequestError, ExplainError) as exc:
                return error_response(exc, lang)
        return endpoint

    async def index(request: Any) -> Any:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), headers={"cache-control": "no-cache"})

    async def font(request: Any) -> Any:
        name = request.path_params["name"]
        if name not in FONT_FILES.values():
            return JSONResponse({"error": {"key": "app_err_not_found", "message": "not found"}}, status_code=404)
        return FileResponse(os.path.join(FONT_DIR, name), media_type="font/otf",
                            headers={"cache-control": "public, max-age=86400"})

    @api
    async def messages(request: Any, lang: str) -> Any:
        texts = {k: v for k, v in CATALOGUE[lang].items() if k.startswith("app_")}
        return JSONResponse({"lang": lang, "messages": texts})

    @api
    async def get_model(request: Any, lang: str) -> Any:
        described = await run_in_threadpool(state.describe, lang)
        return JSONResponse({"model": described, "training": state.trainer.status(),
                             "limits": {"canvas": MAX_CANVAS_SIDE, "image_bytes": MAX_IMAGE_BYTES,
                                        "model_bytes": MAX_MODEL_BYTES}})

    @api
    async def post_model(request: Any, lang: str) -> Any:
        if state.trainer.active:
            raise RequestError("app_err_training_busy", status=409)
        data = await _body(request, MAX_MODEL_BYTES)
        name = request.query_params.get("name", "upload.keras")[:120]
        loaded = await run_in_threadpool(load_model_bytes, data)
        state.set_model(loaded, os.path.basename(name))
        return JSONResponse({"model": await run_in_threadpool(state.describe, lang)})

    def _predict(model: Any, model_id: int, pixels: np.ndarray) -> dict[str, Any]:
        from ..datasets import load_digit_image

        try:
            image, steps = load_digit_image(pixels, return_steps=True)
        except ValueError:
            raise RequestError("app_err_blank", status=422) from None
        return dict(views.predict_view(model, image[..., None], steps), model=model_id)

    @api
    async def predict(request: Any, lang: str) -> Any:
        model, model_id = state.current()
        body = await _body(request, MAX_CANVAS_SIDE * MAX_CANVAS_SIDE)
        pixels = canvas_pixels(body, request.query_params.get("w"), request.query_params.get("h"))
        return JSONResponse(await run_in_threadpool(_predict, model, model_id, pixels))

    @api
    async def image(request: Any, lang: str) -> Any:
        model, model_id = state.current()
        body = await _body(request, MAX_IMAGE_BYTES)
        pixels = await run_in_threadpool(image_pixels, body)
        return JSONResponse(await run_in_threadpool(_predict, model, model_id, pixels))

    async def model_and_input(request: Any) -> tuple[dict[str, Any], Any, int, np.ndarray]:
        """The JSON body, the opened model (the one the page drew with) and the input it sends back."""
        data = await _json(request)
        model, model_id = state.current()
        _check_model_id(data, model_id)
        return data, model, model_id, _input(data, model)

    @api
    async def cell(request: Any, lang: str) -> Any:
        data, model, model_id, x = await model_and_input(request)
        count = len(model.program().steps)
        step = _int(data, "step", 0, count - 1)
        position = data.get("position")
        if not isinstance(position, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in position):
            raise RequestError("app_err_position")
        return JSONResponse(dict(await run_in_threadpool(views.cell_view, model, x, step, position), model=model_id))

    @api
    async def backward(request: Any, lang: str) -> Any:
        data, model, model_id, x = await model_and_input(request)
        classes = model.output_shape[-1] if isinstance(model.output_shape, tuple) else model.output_shape[0][-1]
        target = _int(data, "target", 0, classes - 1)
        return JSONResponse(dict(await run_in_threadpool(views.backward_view, model, x, target, lang), model=model_id))

    def _playground(image_m: np.ndarray, kernel: np.ndarray, stride: int, padding: Any, mode: str, size: int,
                    pool_stride: int | None, lang: str) -> dict[str, Any]:
        from ..explain import explain_conv, explain_pool, explain_relu

        conv = explain_conv(image_m, kernel, stride, padding)
        relu = explain_relu(conv.output)
        if size > min(relu.output.shape):
            raise RequestError("app_err_pool_too_big", size=size, h=relu.output.shape[0], w=relu.output.shape[1])
        pool = explain_pool(relu.output, size, pool_stride, mode)
        return views.playground_view(conv, relu, pool, lang)

    @api
    async def playground(request: Any, lang: str) -> Any:
        data = await _json(request)
        image_m = _matrix(data, "image", 12, 12)
        kernel = _matrix(data, "kernel", 5, 5)
        stride = _int(data, "stride", 1, 4, 1)
        padding = data.get("padding", "valid")
        if padding not in ("valid", "same") and not (isinstance(padding, int) and not isinstance(padding, bool)
                                                      and 0 <= padding <= 3):
            raise RequestError("app_err_field_choice", field="padding", choices="valid, same, 0, 1, 2, 3",
                               got=json.dumps(padding)[:40])
        mode = _choice(data, "pool", ("max", "avg"), "max")
        size = _int(data, "pool_size", 1, 4, 2)
        pool_stride = data.get("pool_stride")
        if pool_stride is not None:
            pool_stride = _int(data, "pool_stride", 1, 4)
        return JSONResponse(await run_in_threadpool(_playground, image_m, kernel, stride, padding, mode, size,
                                                    pool_stride, lang))

    # ------------------------------------------------------------------ training
    @api
    async def train_status(request: Any, lang: str) -> Any:
        return JSONResponse(state.trainer.status())

    @api
    async def train_start(request: Any, lang: str) -> Any:
        data = await _json(request)
        config = TrainConfig(
            model=_choice(data, "model", MODEL_CHOICES, "guide"),
            dataset=_choice(data, "dataset", DATASETS, "mnist"),
            epochs=_int(data, "epochs", 1, 50, 1),
            learning_rate=_float(data, "learning_rate", 1e-5, 1.0, 0.001),
            batch_size=_int(data, "batch_size", 1, 1024, 32),
            images=_int(data, "images", 100, 60000, 60000),
        )
        current = None
        sample = None
        with state.lock:
            current = state.model
        if config.model == "current" and current is None:
            raise RequestError("app_err_no_model", status=409)
        if data.get("input") is not None:
            sample = views.decode_f32(data["input"], (28, 28, 1)) if isinstance(data.get("input"), str) else None
            if sample is None:
                raise RequestError("app_err_input", shape="(28, 28, 1)", reason="not a string")
        try:
            run = state.trainer.start(config, current, sample)
        except TrainerBusy:
            raise RequestError("app_err_training_busy", status=409) from None
        return JSONResponse({"run": run, "state": state.trainer.status()}, status_code=202)

    def _control(action: str) -> Callable[..., Awaitable[Any]]:
        @api
        async def control(request: Any, lang: str) -> Any:
            done = getattr(state.trainer, action)()
            return JSONResponse({"ok": bool(done), "state": state.trainer.status()},
                                status_code=200 if done else 409)
        return control

    @api
    async def train_open(request: Any, lang: str) -> Any:
        trainer = state.trainer
        if trainer.active or trainer.model is None or trainer.result is None:
            raise RequestError("app_err_no_trained", status=409)
        state.set_model(trainer.model, trainer.result["file"])
        return JSONResponse({"model": await run_in_threadpool(state.describe, lang)})

    @api
    async def train_download(request: Any, lang: str) -> Any:
        result = state.trainer.result
        if result is None or not os.path.isfile(result["path"]):
            raise RequestError("app_err_no_trained", status=404)
        return FileResponse(result["path"], media_type="application/octet-stream", filename=result["file"])

    async def train_events(request: Any) -> Any:
        """Server-Sent Events of the current run, from ``Last-Event-ID`` (or ``?since=``) on.

        The stream ends once the run is over and every event has been sent; the page then
        closes its EventSource.
        """
        trainer = state.trainer
        try:
            since = int(request.headers.get("last-event-id") or request.query_params.get("since") or 0)
        except ValueError:
            since = 0
        run = trainer.run_id

        async def stream() -> Any:
            nonlocal since
            yield "retry: 1000\n\n"
            sent_version = -1
            quiet = 0.0
            while not state.closing:
                if trainer.run_id != run:
                    break
                events = trainer.events_since(since)
                snap = trainer.snapshot    # read after the events: with the run's end, its final snapshot
                for event in events:
                    if event["type"] in ("done", "failed") and snap is not None and snap["version"] != sent_version:
                        sent_version = snap["version"]      # the last snapshot goes before the run's end
                        yield f"event: snapshot\ndata: {json.dumps(snap)}\n\n"
                    since = event["seq"]
                    yield f"id: {since}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
                if snap is not None and snap["version"] != sent_version:
                    sent_version = snap["version"]
                    yield f"event: snapshot\ndata: {json.dumps(snap)}\n\n"
                if not trainer.active and not trainer.events_since(since):
                    break
                await asyncio.sleep(EVENT_POLL)
                quiet += EVENT_POLL
                if quiet >= 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    async def not_found(request: Any, exc: Exception) -> Any:
        return JSONResponse({"error": {"key": "app_err_not_found", "message": tr("app_err_not_found", "en")}},
                            status_code=404)

    async def server_error(request: Any, exc: Exception) -> Any:
        return JSONResponse({"error": {"key": "app_err_internal", "message": tr("app_err_internal", "en",
                                                                                  reason=f"{type(exc).__name__}: {exc}"[:300])}},
                            status_code=500)

    routes = [
        Route("/", index),
        Route("/fonts/{name}", font),
        Route("/api/messages", messages),
        Route("/api/model", get_model, methods=["GET"]),
        Route("/api/model", post_model, methods=["POST"]),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/image", image, methods=["POST"]),
        Route("/api/cell", cell, methods=["POST"]),
        Route("/api/backward", backward, methods=["POST"]),
        Route("/api/playground", playground, methods=["POST"]),
        Route("/api/train", train_status, methods=["GET"]),
        Route("/api/train/start", train_start, methods=["POST"]),
        Route("/api/train/pause", _control("pause"), methods=["POST"]),
        Route("/api/train/resume", _control("resume"), methods=["POST"]),
        Route("/api/train/stop", _control("stop"), methods=["POST"]),
        Route("/api/train/open", train_open, methods=["POST"]),
        Route("/api/train/model", train_download, methods=["GET"]),
        Route("/api/train/events", train_events, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR, follow_symlink=False), name="static"),
    ]
    hosts = list(allowed_hosts) if allowed_hosts else list(LOOPBACK_HOSTS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        state.closing = True  # open event streams end, and a running training stops
        state.trainer.stop()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(_SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        exception_handlers={404: not_found, 500: server_error},
        lifespan=lifespan,
    )
    app.state.convlearn = state
    return app


class _SecurityHeaders:
    """Pure ASGI middleware: the same safety headers on every response (streams included)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/api/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _SECURITY_HEADERS
                if api:
                    headers.append((b"cache-control", b"no-store"))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
