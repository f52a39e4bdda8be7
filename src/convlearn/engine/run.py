"""The engine: run a program forward, then backward. This is all of it.

A :class:`~convlearn.engine.graph.Program` is a list of steps, one per layer
call, each reading some numbered slots and writing one. Forward runs the
steps in order and keeps each call's cache; backward runs them in reverse,
hands each layer the gradient of its output, and sends the gradients of its
inputs further back. Two rules make graphs work:

- a slot read by several steps gets the **sum** of their gradients (fan-out);
- a weight used by several steps (a shared layer) gets the **sum** of the
  weight gradients of every call.

Speed tricks never change this file: :mod:`convlearn.engine.plan` replaces
steps by faster equivalent ones, and :mod:`convlearn.engine.schedule` uses
the ``after_step`` hook to start weight updates early.
"""

from __future__ import annotations


def forward(program, inputs):
    """Run every step; return ``(outputs, caches)``: the output arrays and one cache per step."""
    slots = {}
    for slot, x in zip(program.inputs, inputs):
        slots[slot] = x
    caches = [None] * len(program.steps)
    for i, step in enumerate(program.steps):
        x = [slots[s] for s in step.inputs] if step.as_list else slots[step.inputs[0]]
        slots[step.output], caches[i] = _pair(step.layer.forward(x, training=step.training), step)
        for s in program.release[i]:              # no later step reads it: free the memory
            del slots[s]
    return [slots[s] for s in program.outputs], caches


def forward_all(program, inputs):
    """Like :func:`forward`, but return the output of every step (for pictures of each layer)."""
    slots = dict(zip(program.inputs, inputs))
    outs = []
    for step in program.steps:
        x = [slots[s] for s in step.inputs] if step.as_list else slots[step.inputs[0]]
        slots[step.output], _ = _pair(step.layer.forward(x, training=step.training), step)
        outs.append(slots[step.output])
    return outs


def backward(program, caches, output_grads, weight_grads=None, after_step=None):
    """Run every step's backward pass in reverse order.

    Parameters
    ----------
    output_grads : list of arrays (or None)
        Gradient of the loss with respect to each output of the program.
    weight_grads : dict, optional
        Filled with ``id(weight) -> gradient``, summed over the calls of each weight.
    after_step : callable(i), optional
        Called once the backward pass of step ``i`` is done.

    Returns
    -------
    input_grads : list
        The gradient of each program input (None where not computed).
    weight_grads : dict
    """
    grads = {}                                    # slot -> gradient of the loss
    for slot, g in zip(program.outputs, output_grads):
        if g is not None:
            _add(grads, slot, g)
    weight_grads = {} if weight_grads is None else weight_grads
    for i in range(len(program.steps) - 1, -1, -1):
        step = program.steps[i]
        dout = grads.pop(step.output, None)
        if dout is not None:                      # (None: no loss depends on this step)
            dx, dweights = step.layer.backward(dout, caches[i])
            caches[i] = None
            for name, g in dweights.items():      # a shared layer: gradients of all its calls add up
                _add(weight_grads, id(step.layer.params[name]), g)
            for slot, d in zip(step.inputs, dx if step.as_list else (dx,)):
                if d is not None and slot in program.needs_grad:
                    _add(grads, slot, d)          # fan-out: gradients add up
        if after_step is not None:
            after_step(i)
    return [grads.get(s) for s in program.inputs], weight_grads


def _pair(result, step):
    """``forward``'s ``(out, cache)``; a bare array (convlearn 0.1's layer style) gets a clear error."""
    if type(result) is not tuple or len(result) != 2:
        raise TypeError(
            f"Layer '{step.layer.name}' ({type(step.layer).__name__}): forward() must return (out, cache), the "
            f"output and what backward needs; it returned {type(result).__name__}. Keep the cache in the pair "
            "instead of on self, and write backward(self, dout, cache) returning (dx, grads)."
        )
    return result


def _add(table, key, g):
    # a new array, never +=: the same gradient array may reach several slots (Add passes it on)
    table[key] = g if key not in table else table[key] + g
