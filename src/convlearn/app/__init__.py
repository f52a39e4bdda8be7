"""``convlearn app``: see inside a CNN in the web browser.

Draw or upload a digit and watch it go through every layer of a model; click a cell of a
feature map for its arithmetic (window, filter, products, sum, bias, activation) with the
model's own numbers; follow the backward pass; play with convolution and pooling; train a model
live.  English and 简体中文.

Run it with ``convlearn app [MODEL]`` (needs ``pip install "convlearn[app]"``: Starlette and
uvicorn).  In Python, :func:`convlearn.app.server.create_app` gives the ASGI application.
The server only wraps convlearn's public API (:mod:`convlearn.explain`, ``model.layer_outputs``,
``model.fit``); the page is plain JavaScript modules in ``static/``, with no build step and
nothing loaded from the network.
"""
