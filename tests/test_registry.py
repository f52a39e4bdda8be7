"""The one name registry behind activations, losses, optimizers, initializers and metrics."""

from __future__ import annotations

import json

import pytest

from convlearn import activations, initializers, losses, metrics, optimizers
from convlearn._registry import Registry


class Shape:
    """Base class of a small kind of object made for these tests."""

    def get_config(self):
        return {}


def make_registry(**kwargs):
    """A registry of shapes: Square ("square"), Circle ("circle", "round") and an unregistered Blob."""
    registry = Registry("shape", Shape, **kwargs)

    @registry.register("square")
    class Square(Shape):
        def __init__(self, side=1.0):
            self.side = side

        def get_config(self):
            return {"side": self.side}

    @registry.register("circle", "round")
    class Circle(Shape):
        def __init__(self, radius=1.0):
            self.radius = radius

        @classmethod
        def from_config(cls, config):
            built = cls(**config)
            built.built_from_config = True
            return built

        def get_config(self):
            return {"radius": self.radius}

    return registry, Square, Circle


# ---------------------------------------------------------------------------
# Names, aliases, classes, instances, configs
# ---------------------------------------------------------------------------

def test_names_are_the_sorted_aliases():
    registry, _, _ = make_registry()
    assert registry.names() == ["circle", "round", "square"]
    assert registry.kind == "shape" and registry.base is Shape


def test_get_by_name_is_case_insensitive_and_follows_aliases():
    registry, Square, Circle = make_registry()
    assert type(registry.get("square")) is Square
    assert type(registry.get("SQUARE")) is Square
    assert type(registry.get("round")) is Circle and type(registry.get("Circle")) is Circle


def test_get_by_class_and_instance():
    registry, Square, _ = make_registry()
    assert type(registry.get(Square)) is Square
    square = Square(3.0)
    assert registry.get(square) is square

    class Blob(Shape):                              # a subclass nobody registered is still one of the kind
        pass

    blob = Blob()
    assert registry.get(blob) is blob and type(registry.get(Blob)) is Blob


def test_get_class_by_class_name_or_alias():
    registry, Square, Circle = make_registry()
    assert registry.get_class("Square") is Square
    assert registry.get_class("round") is Circle
    assert registry.get_class("Triangle") is None
    assert registry.get_class("SQUARE") is None     # exact: only names given to get() are lowercased


@pytest.mark.parametrize("extra", [{}, {"module": "keras.shapes", "registered_name": None},
                                   {"module": "keras.shapes"}, {"registered_name": "Square"}])
def test_config_with_and_without_keras_module_keys(extra):
    registry, Square, _ = make_registry()
    shape = registry.get({"class_name": "Square", "config": {"side": 2.5}, **extra})
    assert type(shape) is Square and shape.side == 2.5
    assert type(registry.deserialize({"class_name": "Square", **extra})) is Square   # no "config": defaults


def test_config_may_name_an_alias_and_uses_from_config_when_the_class_has_one():
    registry, Square, Circle = make_registry()
    assert type(registry.deserialize({"class_name": "square", "config": {}})) is Square
    circle = registry.deserialize({"class_name": "Circle", "config": {"radius": 4.0}})
    assert circle.radius == 4.0 and circle.built_from_config


def test_serialize_deserialize_round_trip():
    registry, Square, _ = make_registry()
    config = registry.serialize(Square(side=7.0))
    assert config == {"class_name": "Square", "config": {"side": 7.0}}
    again = registry.deserialize(json.loads(json.dumps(config)))
    assert type(again) is Square and again.side == 7.0
    assert registry.serialize("round") == {"class_name": "Circle", "config": {"radius": 1.0}}
    assert type(registry.deserialize("square")) is Square


def test_functions_named_after_an_alias_only_when_asked_for():
    def circle():                                   # named like an alias, as convlearn.losses.mse is
        pass

    with_functions, _, Circle = make_registry(functions=True)
    assert type(with_functions.get(circle)) is Circle
    without, _, _ = make_registry()
    with pytest.raises(TypeError, match=r"Could not interpret shape <function .*circle"):
        without.get(circle)


def test_registering_the_same_class_twice_under_its_names_is_harmless():
    registry, Square, _ = make_registry()
    assert registry.register("square")(Square) is Square
    assert registry.names() == ["circle", "round", "square"]


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------

def test_unknown_name_suggests_the_closest_one():
    registry, _, _ = make_registry()
    with pytest.raises(ValueError, match=r"Unknown shape 'sqare'\. Did you mean 'square'\? "
                                         r"Valid names: circle, round, square\."):
        registry.get("sqare")
    with pytest.raises(ValueError, match=r"Unknown shape 'xyzzy'\. Valid names: circle, round, square\."):
        registry.get("xyzzy")


def test_unknown_class_name_in_a_config():
    registry, _, _ = make_registry()
    with pytest.raises(ValueError, match=r"Unknown shape 'Triangle'\. Valid names: circle, round, square\."):
        registry.get({"class_name": "Triangle", "config": {}})


@pytest.mark.parametrize("config,match", [
    ({"config": {}}, r"Could not read the shape config \{'config': \{\}\}: expected a dict with a 'class_name' "
                     r"string and a 'config' dict \(Keras's 'module' and 'registered_name' keys are accepted and "
                     r"ignored\)\.$"),
    ({"class_name": 3}, r"Could not read the shape config \{'class_name': 3\}: expected a dict with a 'class_name'"),
    ({"class_name": "Square", "confg": {"side": 2}},
     r"Could not read the shape config .*; unknown key\(s\): 'confg'\.$"),
    ({"class_name": "Square", "config": [2.0]},
     r"Could not read the shape config \{'class_name': 'Square', 'config': \[2\.0\]\}: its 'config' must be a "
     r"dict of Square's arguments; got \[2\.0\]\."),
])
def test_malformed_configs(config, match):
    registry, _, _ = make_registry()
    with pytest.raises(ValueError, match=match):
        registry.deserialize(config)


def test_type_error_default_and_custom_messages():
    registry, _, _ = make_registry()
    with pytest.raises(TypeError, match=r"Could not interpret shape 3\. Pass a name \(valid: circle, round, square\), "
                                        r"a class, a config dict such as \{'class_name': \.\.\., 'config': "
                                        r"\{\.\.\.\}\} or an instance\."):
        registry.get(3)
    with pytest.raises(TypeError, match=r"Could not interpret shape \[1\]"):
        registry.deserialize([1])
    custom, _, _ = make_registry(advice=": try one of {valid}.")
    with pytest.raises(TypeError, match=r"^Could not interpret shape 2\.5: try one of circle, round, square\.$"):
        custom.get(2.5)


@pytest.mark.parametrize("alias", ["Square", "ROUND", 3])
def test_aliases_must_be_lowercase_strings(alias):
    registry, _, _ = make_registry()
    with pytest.raises(ValueError, match=rf"Shape aliases must be lowercase strings \(names are looked up "
                                         rf"lowercased\); got {alias!r}\."):
        registry.register(alias)


def test_only_subclasses_of_the_base_can_be_registered():
    registry, _, _ = make_registry()

    class Colour:
        pass

    with pytest.raises(TypeError, match=r"Only subclasses of Shape can be registered as shape classes; "
                                        r"got <class .*Colour'>\."):
        registry.register("colour")(Colour)


def test_a_name_cannot_stand_for_two_classes():
    registry, Square, _ = make_registry()

    class Rhombus(Shape):
        pass

    with pytest.raises(ValueError, match=r"The shape name 'square' is already registered for Square; "
                                         r"cannot register Rhombus under it too\."):
        registry.register("rhombus", "square")(Rhombus)
    assert registry.get_class("rhombus") is None and registry.get_class("Rhombus") is None   # nothing half-done

    class Square(Shape):                            # another class with the same class name
        pass

    with pytest.raises(ValueError, match=r"The shape name 'Square' is already registered for Square; "
                                         r"cannot register Square under it too\."):
        registry.register("box")(Square)


# ---------------------------------------------------------------------------
# The registries of convlearn's modules
# ---------------------------------------------------------------------------

def test_each_module_has_one_registry_with_its_names():
    assert activations.REGISTRY.names() == ["elu", "leaky_relu", "linear", "relu", "sigmoid", "silu", "softmax",
                                            "softplus", "swish", "tanh"]
    assert losses.REGISTRY.names() == ["binary_crossentropy", "categorical_crossentropy", "mae",
                                       "mean_absolute_error", "mean_squared_error", "mse",
                                       "sparse_categorical_crossentropy"]
    assert optimizers.REGISTRY.names() == ["adam", "rmsprop", "sgd"]
    assert initializers.REGISTRY.names() == ["constant", "glorot_normal", "glorot_uniform", "he_normal",
                                             "he_uniform", "lecun_normal", "lecun_uniform", "ones",
                                             "random_normal", "random_uniform", "truncated_normal",
                                             "variance_scaling", "zeros"]
    assert metrics.REGISTRY.names() == ["binary_accuracy", "categorical_accuracy", "mae", "mean_absolute_error",
                                        "mean_squared_error", "mse", "sparse_categorical_accuracy"]


@pytest.mark.parametrize("module,obj", [
    (losses, losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, name="cce")),
    (optimizers, optimizers.Adam(learning_rate=0.01, beta_1=0.8, clipnorm=1.0)),
    (initializers, initializers.RandomUniform(minval=-0.2, maxval=0.3, seed=4)),
    (metrics, metrics.BinaryAccuracy(name="bin", threshold=0.3)),
    (activations, activations.ELU(alpha=0.3)),
])
def test_serialize_deserialize_round_trip_of_each_kind(module, obj):
    config = json.loads(json.dumps(module.REGISTRY.serialize(obj)))
    assert config["class_name"] == type(obj).__name__
    again = module.deserialize(config)
    assert type(again) is type(obj) and again.get_config() == obj.get_config()
    if module is not activations:           # activations.serialize writes the name, as layer configs hold it
        assert module.serialize(obj) == config


def test_activation_names_round_trip_through_the_module_functions():
    assert activations.serialize(activations.Softmax()) == "softmax"
    assert type(activations.deserialize("softmax")) is activations.Softmax
    assert activations.deserialize({"class_name": "LeakyReLU", "config": {"negative_slope": 0.1}}).negative_slope == 0.1


def test_a_keras_3_config_is_read():
    config = {"module": "keras.losses", "class_name": "MeanSquaredError",
              "config": {"name": "mean_squared_error", "reduction": "sum"}, "registered_name": None}
    loss = losses.deserialize(config)
    assert type(loss) is losses.MeanSquaredError and loss.reduction == "sum"
    optimizer = optimizers.get({"module": "keras.optimizers", "class_name": "SGD",
                                "config": {"learning_rate": 0.5, "momentum": 0.9}, "registered_name": None})
    assert type(optimizer) is optimizers.SGD and optimizer.momentum == 0.9


def test_metrics_keep_the_name_written_and_pick_accuracy_from_shapes():
    assert metrics.get("MSE").name == "MSE" and type(metrics.get("mse")) is metrics.MeanSquaredError
    assert metrics.get("accuracy") is None                              # decided when the data is seen
    assert type(metrics.get("acc", (8,), (8, 10))) is metrics.SparseCategoricalAccuracy
    assert metrics.get("acc", (8,), (8, 10)).name == "acc"
    metric = metrics.CategoricalAccuracy()
    assert metrics.get(metric) is metric and type(metrics.get(metrics.BinaryAccuracy)) is metrics.BinaryAccuracy
    assert type(metrics.get({"class_name": "Accuracy", "config": {}})) is metrics.Accuracy


def test_metric_error_messages_list_the_accuracy_names():
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Did you mean 'accuracy'\? Valid names: acc, "
                                         r"accuracy, binary_accuracy, categorical_accuracy, mae, "
                                         r"mean_absolute_error, mean_squared_error, mse, "
                                         r"sparse_categorical_accuracy\."):
        metrics.get("acuracy")
    with pytest.raises(TypeError, match=r"Could not interpret metric 3\. Pass a name such as 'accuracy' \(valid: "
                                        r"acc, accuracy, binary_accuracy, .*, sparse_categorical_accuracy\) or a "
                                        r"convlearn\.metrics object\."):
        metrics.get(3)


def test_losses_and_activations_take_their_module_functions():
    assert type(losses.get(losses.mse)) is losses.MeanSquaredError
    assert type(activations.get(activations.silu)) is activations.Swish
    with pytest.raises(TypeError, match=r"Could not interpret optimizer <function"):
        optimizers.get(losses.mse)
