"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate and their function forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import check_layer_gradients, distinct_values

import convlearn as keras
from convlearn import layers

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]

# layer class name -> what it computes, written with NumPy (broadcasting included)
EXPECTED = {
    "Add": lambda xs: sum(xs[1:], xs[0]),
    "Subtract": lambda xs: xs[0] - xs[1],
    "Multiply": lambda xs: np.prod(np.broadcast_arrays(*xs), axis=0),
    "Average": lambda xs: sum(xs[1:], xs[0]) / len(xs),
    "Maximum": lambda xs: np.max(np.broadcast_arrays(*xs), axis=0),
    "Minimum": lambda xs: np.min(np.broadcast_arrays(*xs), axis=0),
}

FUNCTIONS = {"Add": layers.add, "Subtract": layers.subtract, "Multiply": layers.multiply,
             "Average": layers.average, "Maximum": layers.maximum, "Minimum": layers.minimum}


def inputs(shapes, seed=0):
    """float64 inputs of ``shapes`` with no two values closer than 0.01 (no near-ties for Maximum/Minimum)."""
    rng = np.random.default_rng(seed)
    sizes = [int(np.prod(s)) for s in shapes]
    values = distinct_values(rng, (sum(sizes),), spacing=0.05)
    pieces = np.split(values, np.cumsum(sizes)[:-1])
    return [piece.reshape(shape) for piece, shape in zip(pieces, shapes)]


# (layer, input shapes): two inputs, three inputs, and broadcasting (size-1 axes, on either input)
GRADIENT_CASES = [
    ("Add", [(2, 3, 4), (2, 3, 4)]),
    ("Add", [(2, 3, 2), (2, 3, 2), (2, 3, 2)]),
    ("Add", [(2, 3, 4), (2, 1, 4), (2, 3, 1)]),
    ("Subtract", [(2, 3, 4), (2, 3, 4)]),
    ("Subtract", [(2, 1, 4), (2, 3, 4)]),
    ("Subtract", [(2, 3, 4), (2, 3, 1)]),
    ("Multiply", [(2, 3, 4), (2, 3, 4)]),
    ("Multiply", [(2, 3, 2), (2, 3, 2), (2, 3, 2)]),
    ("Multiply", [(2, 2, 3, 4), (2, 1, 1, 4)]),
    ("Average", [(2, 3, 4), (2, 3, 4)]),
    ("Average", [(2, 3, 2), (2, 3, 2), (2, 3, 2)]),
    ("Average", [(2, 1, 4), (2, 3, 4), (2, 3, 1)]),
    ("Maximum", [(2, 3, 4), (2, 3, 4)]),
    ("Maximum", [(2, 3, 2), (2, 3, 2), (2, 3, 2)]),
    ("Maximum", [(2, 3, 4), (2, 1, 4)]),
    ("Minimum", [(2, 3, 4), (2, 3, 4)]),
    ("Minimum", [(2, 3, 2), (2, 3, 2), (2, 3, 2)]),
    ("Minimum", [(2, 1, 1, 3), (2, 2, 2, 3)]),
]


@pytest.mark.parametrize("name, shapes", GRADIENT_CASES, ids=lambda v: str(v))
def test_elementwise_gradients(name, shapes):
    check_layer_gradients(getattr(layers, name)(dtype="float64"), inputs(shapes))


@pytest.mark.parametrize("axis, shapes", [
    (-1, [(2, 3, 3, 2), (2, 3, 3, 4)]),             # channels
    (1, [(2, 2, 3), (2, 4, 3)]),
    (2, [(2, 3, 1, 2), (2, 3, 2, 2), (2, 3, 3, 2)]),  # three inputs
    (-3, [(2, 2, 3, 1), (2, 1, 3, 1)]),
])
def test_concatenate_gradients(axis, shapes):
    check_layer_gradients(layers.Concatenate(axis=axis, dtype="float64"), inputs(shapes))


def test_multiply_gradient_with_zeros():
    """The gradient is the product of the other inputs (no division by the input), so zeros are fine."""
    a, b, c = inputs([(2, 3), (2, 3), (2, 3)])
    a[0, 0] = 0.0
    layer = layers.Multiply(dtype="float64")
    check_layer_gradients(layer, [a, b, c])
    dxs, _ = layer.backward(np.ones((2, 3)), layer.forward([a, b, c])[1])
    assert dxs[0][0, 0] == b[0, 0] * c[0, 0] != 0.0
    assert dxs[1][0, 0] == 0.0 and dxs[2][0, 0] == 0.0


# -- PyTorch parity --------------------------------------------------------------------------------

def torch_parity(torch, layer, xs, torch_fn):
    """Compare the layer's output and input gradients with PyTorch's, for a random output gradient."""
    out, cache = layer.forward(xs)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dxs, grads = layer.backward(dout, cache)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    expected = torch_fn(ts)
    expected.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert grads == {} and len(dxs) == len(xs)
    for dx, t in zip(dxs, ts):
        np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def torch_fold(op):
    """``op`` applied left to right over a list of tensors."""
    def fold(ts):
        out = ts[0]
        for t in ts[1:]:
            out = op(out, t)
        return out
    return fold


TORCH = {
    "Add": lambda torch: torch_fold(torch.add),
    "Subtract": lambda torch: torch_fold(torch.sub),
    "Multiply": lambda torch: torch_fold(torch.mul),
    "Average": lambda torch: lambda ts: torch_fold(torch.add)(ts) / len(ts),
    "Maximum": lambda torch: torch_fold(torch.maximum),
    "Minimum": lambda torch: torch_fold(torch.minimum),
}


@pytest.mark.parametrize("name, shapes", GRADIENT_CASES, ids=lambda v: str(v))
def test_elementwise_matches_torch(torch, name, shapes):
    torch_parity(torch, getattr(layers, name)(dtype="float64"), inputs(shapes, seed=3), TORCH[name](torch))


@pytest.mark.parametrize("axis, shapes", [
    (-1, [(2, 4, 4, 3), (2, 4, 4, 5)]),
    (1, [(3, 2, 4), (3, 5, 4), (3, 1, 4)]),
    (2, [(2, 3, 2), (2, 3, 6)]),
])
def test_concatenate_matches_torch(torch, axis, shapes):
    layer = layers.Concatenate(axis=axis, dtype="float64")
    torch_parity(torch, layer, inputs(shapes, seed=4), lambda ts: torch.cat(ts, dim=axis))


# -- ties: Maximum and Minimum send all of a tie's gradient to the first input holding the value ----

@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
def test_tie_gradient_goes_to_first_input(name):
    layer = getattr(layers, name)(dtype="float64")
    a = np.array([[1.0, 2.0, 5.0]])
    b = np.array([[1.0, 2.0, 5.0]])
    c = np.array([[1.0, -9.0, 9.0]])
    out, cache = layer.forward([a, b, c])
    dxs, _ = layer.backward(np.array([[10.0, 20.0, 30.0]]), cache)
    if name == "Maximum":    # column 0: a three-way tie; 1: a and b tie; 2: c wins
        np.testing.assert_array_equal(out, [[1.0, 2.0, 9.0]])
        expected = [[[10.0, 20.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.0, 0.0, 30.0]]]
    else:                    # column 0: a three-way tie; 1: c wins; 2: a and b tie
        np.testing.assert_array_equal(out, [[1.0, -9.0, 5.0]])
        expected = [[[10.0, 0.0, 30.0]], [[0.0, 0.0, 0.0]], [[0.0, 20.0, 0.0]]]
    for dx, e in zip(dxs, expected):
        np.testing.assert_array_equal(dx, e)


def test_tie_with_a_later_input_goes_to_the_earlier_one():
    """A tie between inputs 1 and 2 (input 0 smaller) goes to input 1."""
    layer = layers.Maximum(dtype="float64")
    _, cache = layer.forward([np.array([[0.0]]), np.array([[3.0]]), np.array([[3.0]])])
    dxs, _ = layer.backward(np.array([[1.0]]), cache)
    assert [float(d[0, 0]) for d in dxs] == [0.0, 1.0, 0.0]


def test_tie_gradient_is_whole_where_torch_splits_it(torch):
    """torch.maximum splits a tie equally; convlearn gives it all to the first input; the totals agree."""
    a, b = np.array([[2.0, 1.0]]), np.array([[2.0, 3.0]])
    layer = layers.Maximum(dtype="float64")
    dxs, _ = layer.backward(np.ones((1, 2)), layer.forward([a, b])[1])
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.maximum(ta, tb).backward(torch.ones(1, 2))
    np.testing.assert_array_equal(ta.grad.numpy(), [[0.5, 0.0]])
    np.testing.assert_array_equal(dxs[0], [[1.0, 0.0]])
    np.testing.assert_array_equal(dxs[0] + dxs[1], (ta.grad + tb.grad).numpy())


# -- calling on arrays, function forms ----------------------------------------------------------------

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_called_on_arrays(name):
    xs = [x.astype(np.float32) for x in inputs([(3, 2, 4), (3, 2, 4)])]
    out = getattr(layers, name)()(xs)
    assert out.dtype == np.float32 and out.shape == (3, 2, 4)
    np.testing.assert_allclose(out, EXPECTED[name](xs), rtol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_function_form(name):
    xs = inputs([(2, 3), (2, 1)])
    layer_out = getattr(layers, name)(dtype="float64")(xs)
    np.testing.assert_array_equal(FUNCTIONS[name](xs, dtype="float64"), layer_out)
    np.testing.assert_allclose(layer_out, EXPECTED[name](xs), rtol=1e-12)
    assert layer_out.shape == (2, 3)


@pytest.mark.parametrize("name", ["Add", "Multiply", "Average", "Maximum", "Minimum"])
def test_three_inputs_on_arrays(name):
    xs = inputs([(2, 3), (2, 3), (2, 3)])
    np.testing.assert_allclose(getattr(layers, name)(dtype="float64")(xs), EXPECTED[name](xs), rtol=1e-12)


def test_integer_inputs_become_float32():
    out = layers.Add()([np.array([[1, 2]]), np.array([[3, 4]])])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[4.0, 6.0]])


def test_concatenate_on_arrays_and_function_form():
    a, b = np.ones((2, 3, 4, 2)), np.zeros((2, 3, 4, 5))
    out = layers.Concatenate()([a, b])
    assert out.shape == (2, 3, 4, 7) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=-1))
    np.testing.assert_array_equal(layers.concatenate([a, b]), out)
    c = np.full((2, 1, 4, 2), 7.0)
    np.testing.assert_array_equal(layers.concatenate([a, c], axis=1), np.concatenate([a, c], axis=1))
    assert layers.concatenate([a, c], 1).shape == (2, 4, 4, 2)


def test_backward_leaves_dout_alone():
    xs = inputs([(2, 3, 4), (2, 1, 4)])
    for layer in [getattr(layers, name)(dtype="float64") for name in ELEMENTWISE] + [
            layers.Concatenate(axis=1, dtype="float64")]:
        out, cache = layer.forward(xs)
        dout = np.random.default_rng(0).standard_normal(out.shape)
        kept = dout.copy()
        dxs, grads = layer.backward(dout, cache)
        np.testing.assert_array_equal(dout, kept)
        assert grads == {} and [d.shape for d in dxs] == [x.shape for x in xs]


# -- shapes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_output_shape(name):
    layer = getattr(layers, name)()
    assert layer.compute_output_shape([(None, 4, 4, 8), (None, 1, 1, 8)]) == (None, 4, 4, 8)
    assert layer.compute_output_shape([(None, 1, 3), (None, 2, 1)]) == (None, 2, 3)
    assert layer.compute_output_shape([(None, None, 3), (None, 5, 3)]) == (None, None, 3)
    assert layer.compute_output_shape([(None, 3), (7, 3)]) == (7, 3)
    assert layer.build_for([(None, 2, 3), (None, 2, 3)]) == (None, 2, 3)
    assert layer.input_shape == [(None, 2, 3), (None, 2, 3)]
    assert layer.params == {} and layer.count_params() == 0


def test_concatenate_output_shape():
    layer = layers.Concatenate()
    assert layer.compute_output_shape([(None, 4, 4, 3), (None, 4, 4, 5)]) == (None, 4, 4, 8)
    assert layer.compute_output_shape([(None, 4, 4, 3), (None, 4, 4, None)]) == (None, 4, 4, None)
    assert layer.compute_output_shape([(None, None, 4, 3), (None, 4, 4, 5)]) == (None, 4, 4, 8)
    assert layers.Concatenate(axis=1).compute_output_shape([(None, 2, 3), (None, 5, 3), (4, 1, 3)]) == (4, 8, 3)


# -- configuration -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ELEMENTWISE + ["Concatenate"])
def test_config_round_trip(name):
    cls = getattr(layers, name)
    layer = cls(axis=1, name="merge_me") if name == "Concatenate" else cls(name="merge_me", dtype="float64")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["name"] == "merge_me"
    clone = cls.from_config(config)
    assert clone.get_config() == layer.get_config()
    xs = inputs([(2, 3), (2, 3)])
    np.testing.assert_array_equal(clone(xs), layer(xs))


def test_concatenate_config_has_axis():
    assert layers.Concatenate().get_config()["axis"] == -1
    assert layers.Concatenate(axis=2).get_config()["axis"] == 2
    assert layers.Concatenate.from_config(layers.Concatenate(axis=-2).get_config()).axis == -2


def test_merge_layers_are_registered():
    for name in ELEMENTWISE + ["Concatenate"]:
        assert layers.get_layer_class(name) is getattr(layers, name)


# -- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_mismatched_shapes_name_both_inputs(name):
    layer = getattr(layers, name)(name="merge")
    with pytest.raises(ValueError, match=rf"{name} 'merge': input 0 has shape \(None, 3, 4\) and input 1 has "
                                         r"shape \(None, 3, 5\): different sizes on axis 2 \(4 and 5\)"):
        layer.build_for([(None, 3, 4), (None, 3, 5)])
    assert not layer.built


def test_mismatched_shapes_on_arrays():
    with pytest.raises(ValueError, match=r"Add 'add_bad': input 0 has shape \(None, 3\) and input 1 has "
                                         r"shape \(None, 4\).*same shape"):
        layers.Add(name="add_bad")([np.ones((2, 3)), np.ones((2, 4))])


def test_mismatch_between_later_inputs_names_those_two():
    with pytest.raises(ValueError, match=r"input 1 has shape \(None, 2, 3\) and input 2 has shape \(None, 4, 3\)"):
        layers.Maximum().build_for([(None, 1, 3), (None, 2, 3), (None, 4, 3)])


def test_different_ranks_are_refused():
    with pytest.raises(ValueError, match=r"Multiply 'mul': input 0 has shape \(None, 3\) and input 1 has shape "
                                         r"\(None, 2, 3\), which have different numbers of axes \(2 and 3\)"):
        layers.Multiply(name="mul").build_for([(None, 3), (None, 2, 3)])
    with pytest.raises(ValueError, match=r"Concatenate 'cat': .*different numbers of axes"):
        layers.Concatenate(name="cat").build_for([(None, 3), (None, 2, 3)])


@pytest.mark.parametrize("layer", [layers.Add(), layers.Concatenate()])
def test_different_batch_sizes_at_run_time(layer):
    """The batch axis is unknown at build; arrays of different batch sizes are refused when they arrive
    (an elementwise layer does not broadcast along the batch axis)."""
    with pytest.raises(ValueError, match=r"input 0 has shape \(2, 3\) and input 1 has shape \(1, 3\): "
                                         r"different batch sizes \(2 and 1\)"):
        layer([np.ones((2, 3)), np.ones((1, 3))])


def test_sizes_unknown_at_build_are_checked_at_run_time():
    layer = layers.Subtract(name="sub", dtype="float64")
    layer.build_for([(None, None, 4), (None, 3, 4)])
    with pytest.raises(ValueError, match=r"Subtract 'sub': input 0 has shape \(2, 5, 4\) and input 1 has shape "
                                         r"\(2, 3, 4\): different sizes on axis 1 \(5 and 3\)"):
        layer.forward([np.ones((2, 5, 4)), np.ones((2, 3, 4))])
    cat = layers.Concatenate(name="cat", dtype="float64")
    cat.build_for([(None, None, 4), (None, 3, 2)])
    with pytest.raises(ValueError, match=r"Concatenate 'cat': .*different sizes on axis 1 \(5 and 3\)"):
        cat.forward([np.ones((2, 5, 4)), np.ones((2, 3, 2))])


@pytest.mark.parametrize("name", ELEMENTWISE + ["Concatenate"])
def test_single_input_is_refused(name):
    cls = getattr(layers, name)
    expected = "exactly 2" if name == "Subtract" else "at least 2"
    with pytest.raises(ValueError, match=rf"{name} '.*' must be called on a list of {expected} inputs, "
                                         rf"e\.g\. {name}\(\)\(\[x1, x2\]\); got a single input of shape \(None, 3\)"):
        cls()(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"list of {expected} inputs.*got 1: \[\(None, 3\)\]"):
        cls()([np.ones((2, 3))])


def test_subtract_takes_exactly_two_inputs():
    with pytest.raises(ValueError, match=r"Subtract 'subtract.*' must be called on a list of exactly 2 inputs.*got 3"):
        layers.Subtract()([np.ones((2, 3))] * 3)


@pytest.mark.parametrize("axis", [3, -4, 10])
def test_concatenate_axis_out_of_range(axis):
    with pytest.raises(ValueError, match=rf"Concatenate 'c': axis={axis} is out of range for inputs of shape "
                                         r"\(None, 3, 4\): it must be one of 1\.\.2 or -2\.\.-1"):
        layers.Concatenate(axis=axis, name="c")([np.ones((2, 3, 4)), np.ones((2, 3, 4))])


@pytest.mark.parametrize("axis", [0, -3])
def test_concatenate_refuses_the_batch_axis(axis):
    with pytest.raises(ValueError, match=r"axis 0, the batch axis, cannot be joined"):
        layers.Concatenate(axis=axis).build_for([(None, 3, 4), (None, 3, 4)])


def test_concatenate_mismatched_other_axis():
    with pytest.raises(ValueError, match=r"Concatenate 'cat2': input 0 has shape \(None, 3, 4\) and input 1 has "
                                         r"shape \(None, 5, 2\): different sizes on axis 1 \(3 and 5\); inputs "
                                         r"may differ only on the concatenation axis, axis=-1"):
        layers.Concatenate(name="cat2").build_for([(None, 3, 4), (None, 5, 2)])


@pytest.mark.parametrize("axis", ["channels", 1.0, True, None])
def test_concatenate_axis_must_be_an_integer(axis):
    with pytest.raises(ValueError, match=r"Concatenate: `axis` must be an integer, e\.g\. -1 .*Received: axis="):
        layers.Concatenate(axis=axis)


def test_unknown_argument_is_refused():
    with pytest.raises(TypeError, match=r"Add got unexpected keyword argument\(s\): 'axis'"):
        layers.Add(axis=1)


# -- symbolic use (functional models; these need the engine) ---------------------------------------------

def test_symbolic_function_forms():
    a, b = keras.Input(shape=(4, 4, 3)), keras.Input(shape=(1, 1, 3))
    for fn in FUNCTIONS.values():
        y = fn([a, b])
        assert isinstance(y, layers.SymbolicTensor) and y.shape == (None, 4, 4, 3)
    y = layers.concatenate([a, keras.Input(shape=(4, 4, 5))], name="joined")
    assert y.shape == (None, 4, 4, 8) and y.node.layer.name == "joined" and y.node.as_list


def test_symbolic_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"Add 'bad_add': input 0 has shape \(None, 3\) and input 1 has shape "
                                         r"\(None, 4\)"):
        layers.add([keras.Input(shape=(3,)), keras.Input(shape=(4,))], name="bad_add")
    with pytest.raises(ValueError, match=r"got a single input of shape \(None, 3\)"):
        layers.Average()(keras.Input(shape=(3,)))


def test_symbolic_arithmetic_records_merge_layers():
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    assert isinstance((a + b).node.layer, layers.Add)
    assert isinstance((a - b).node.layer, layers.Subtract)
    assert isinstance((a * b).node.layer, layers.Multiply)


def test_functional_model_with_merges():
    a, b = keras.Input(shape=(2, 3)), keras.Input(shape=(1, 3))
    y = layers.concatenate([layers.add([a, b]), layers.maximum([a, b])], axis=1)
    model = keras.Model([a, b], y)
    xa, xb = inputs([(4, 2, 3), (4, 1, 3)])
    out = model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(out, np.concatenate([xa + xb, np.maximum(xa, xb)], axis=1), rtol=1e-6)
