"""The engine every model runs on: a graph of layer calls, run forward and backward.

- :mod:`.tensors`: symbolic tensors and nodes (how a graph is written down);
- :mod:`.graph`: from the nodes to a flat program of steps (and tracing ``call``);
- :mod:`.run`: forward and backward over a program, the heart of it all;
- :mod:`.plan`: faster equivalent steps, chosen by pattern;
- :mod:`.schedule`: which work runs on which core in a training step.
"""
