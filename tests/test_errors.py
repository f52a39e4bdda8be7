"""Bad input gives a clear error that says what was expected, what was received and how to fix it.

Never a wrong result, never a traceback from deep inside NumPy: every case
here checks the type of the error and the words of its message.
"""

import numpy as np
import pytest

import convlearn as keras
from convlearn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convlearn.models import Sequential
from model_helpers import bars_dataset, compiled_cnn, small_cnn


@pytest.fixture
def mnist_like():
    """A compiled model for 28x28x1 images with 10 classes, and a few matching samples."""
    model = Sequential([keras.Input(shape=(28, 28, 1)), Conv2D(2, 3, activation="relu"), MaxPooling2D(),
                        Flatten(), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((6, 28, 28, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 9])
    return model, x, y


# ---------------------------------------------------------------------------
# Shapes of the data
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_missing_channel_axis_says_to_add_it(mnist_like, call):
    model, x, y = mnist_like
    args = (x[..., 0],) if call == "predict" else (x[..., 0], y)
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 28, 28, 1\); got \(6, 28, 28\)\. "
                                         r"Add a channel axis: x = x\[\.\.\., None\]"):
        getattr(model, call)(*args, verbose=0)


def test_missing_channel_axis_on_an_unbuilt_model(mnist_like):
    """No input_shape given: the first Conv2D sees the 3-D data and says the same."""
    _, x, y = mnist_like
    model = Sequential([Conv2D(2, 3), Flatten(), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"Conv2D '.*' expects 4-D input \(batch, height, width, channels\); "
                                         r"got shape \(None, 28, 28\)\. Add a channel axis"):
        model.fit(x[..., 0], y, verbose=0)


def test_flat_vectors_into_an_image_model_say_so(mnist_like):
    model, x, _ = mnist_like
    with pytest.raises(ValueError, match=r"got \(6, 784\)"):
        model.predict(x.reshape(6, 784), verbose=0)


def test_images_into_a_dense_model_say_to_flatten():
    model = Sequential([keras.Input(shape=(784,)), Dense(10)])
    with pytest.raises(ValueError, match=r"Flatten the samples: x = x\.reshape\(len\(x\), 784\)"):
        model.predict(np.zeros((2, 28, 28)), verbose=0)


def test_a_single_image_without_batch_axis(mnist_like):
    model, x, _ = mnist_like
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 28, 28, 1\); got \(28, 28, 1\)"):
        model.predict(x[0], verbose=0)


def test_x_and_y_of_different_lengths(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(ValueError, match="x and y must have the same number of samples; got 6 inputs and 5 labels"):
        model.fit(x, y[:5], verbose=0)


def test_a_scalar_label(mnist_like):
    model, x, _ = mnist_like
    with pytest.raises(ValueError, match="got 6 inputs and a scalar labels"):
        model.fit(x, 3, verbose=0)


def test_missing_y(mnist_like):
    model, x, _ = mnist_like
    with pytest.raises(ValueError, match=r"`y` \(the labels\) is required"):
        model.fit(x, verbose=0)


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------

def test_labels_out_of_range(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(ValueError, match=r"labels must be in the range 0\.\.9 because the model has 10 outputs; "
                                         r"got labels from 0 to 10\. .*Dense\(11\)"):
        model.fit(x, np.where(y == 9, 10, y), verbose=0)


def test_negative_labels(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(ValueError, match=r"range 0\.\.9 .* got labels from -1 to 4"):
        model.evaluate(x, np.array([-1, 0, 1, 2, 3, 4]), verbose=0)


def test_fractional_labels(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(ValueError, match="expects whole-number class labels 0..9; got fractional values"):
        model.fit(x, y + 0.5, verbose=0)


def test_one_hot_labels_where_integers_are_expected(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(ValueError, match=r"expects integer class labels of shape \(6,\); got one-hot labels of "
                                         r"shape \(6, 10\)\. Use loss='categorical_crossentropy', or convert"):
        model.fit(x, keras.utils.to_categorical(y, 10), verbose=0)


def test_integer_labels_where_one_hot_are_expected(mnist_like):
    model, x, y = mnist_like
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"categorical_crossentropy expects one-hot labels of shape \(N, 10\); got "
                                         r"integer labels of shape \(6,\)\. .*to_categorical\(y, 10\)"):
        model.fit(x, y, verbose=0)


def test_labels_for_a_different_number_of_classes(mnist_like):
    model, x, y = mnist_like
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"labels of shape \(6, 3\) do not match the model's output of shape "
                                         r"\(6, 10\)\. The last layer needs as many units as there are classes"):
        model.fit(x, np.eye(3)[y % 3], verbose=0)


def test_binary_labels_outside_0_1():
    model = Sequential([keras.Input(shape=(3,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"expects labels in \[0, 1\]; got values from 0 to 2"):
        model.fit(np.ones((3, 3)), np.array([0, 1, 2]), verbose=0)


# ---------------------------------------------------------------------------
# Values and types of the data
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_nan_or_inf_in_the_inputs(mnist_like, bad, call):
    model, x, y = mnist_like
    x = x.copy()
    x[2, 5, 5, 0] = bad
    args = (x,) if call == "predict" else (x, y)
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN or infinite value\(s\)\. Clean the data first"):
        getattr(model, call)(*args, verbose=0)


def test_nan_in_a_strided_view_of_the_inputs(mnist_like):
    model, x, y = mnist_like
    wide = np.zeros(x.shape[:-1] + (2,), dtype=x.dtype)
    wide[..., :1] = x
    view = wide[..., :1]                              # not contiguous: checked through its min and max
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    view[1, 3, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN or infinite value\(s\)"):
        model.predict(view, verbose=0)


def test_nan_in_float_labels(mnist_like):
    model, x, y = mnist_like
    labels = y.astype(np.float64)
    labels[0] = np.nan
    with pytest.raises(ValueError, match="`y` contains NaN or infinite values"):
        model.fit(x, labels, verbose=0)


@pytest.mark.parametrize("x, what", [
    (np.array([["a", "b"], ["c", "d"]]), "dtype <U1"),
    (np.array([object(), object()]), "dtype object"),
    (np.array([b"ab", b"cd"]), "dtype |S2"),
])
def test_non_numeric_inputs(x, what):
    model = compiled_cnn()
    with pytest.raises(TypeError, match=rf"`x` must be a numeric array \(int or float\); got {what}\. Convert it"):
        model.fit(x, np.array([0, 1]), verbose=0)


def test_ragged_lists():
    model = compiled_cnn()
    with pytest.raises(TypeError, match="`x` must be a numeric array; could not convert it .*all rows the same length"):
        model.predict([[1.0, 2.0], [3.0]], verbose=0)


def test_string_labels(mnist_like):
    model, x, _ = mnist_like
    with pytest.raises(TypeError, match="`y` must be numeric labels; got dtype <U"):
        model.fit(x, np.array(["cat", "dog", "cat", "dog", "cat", "dog"]), verbose=0)


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_empty_data(mnist_like, call):
    model, _, _ = mnist_like
    x = np.zeros((0, 28, 28, 1), dtype=np.float32)
    args = (x,) if call == "predict" else (x, np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"`x` is empty \(shape \(0, 28, 28, 1\)\); pass at least one sample"):
        getattr(model, call)(*args, verbose=0)


def test_missing_x(mnist_like):
    model, _, y = mnist_like
    with pytest.raises(ValueError, match="`x` is required"):
        model.evaluate(y=y, verbose=0)


# ---------------------------------------------------------------------------
# Order of calls
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_training_before_compile(call):
    model = small_cnn()
    x, y = bars_dataset(4)
    with pytest.raises(RuntimeError, match=rf"You must call compile\(\) before {call}\(\), e\.g\. model\.compile\("):
        getattr(model, call)(x, y)


def test_compile_without_a_loss():
    model = small_cnn()
    model.compile(optimizer="adam")
    x, y = bars_dataset(4)
    with pytest.raises(ValueError, match=r"fit\(\) needs a loss: call model.compile\(\.\.\., loss="):
        model.fit(x, y, verbose=0)


def test_empty_model():
    model = Sequential()
    with pytest.raises(ValueError, match=r"the model has no layers\. Add some with model\.add"):
        model.predict(np.zeros((1, 3)), verbose=0)


def test_summary_and_count_params_of_an_unbuilt_model(capsys):
    model = Sequential([Dense(3)])
    with pytest.raises(ValueError, match=r"is not built yet, so it has no weights\. "
                                         r"Give the first layer an input_shape"):
        model.count_params()
    model.summary()
    assert "unbuilt" in capsys.readouterr().out


def test_build_without_a_shape():
    with pytest.raises(ValueError, match=r"cannot be built without an input shape\. Pass input_shape="):
        Sequential([Dense(3)]).build()


# ---------------------------------------------------------------------------
# Unknown names: the message lists the valid ones and suggests the closest
# ---------------------------------------------------------------------------

def test_unknown_activation():
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'\. Did you mean 'relu'\? Valid names: .*sigmoid"):
        Dense(3, activation="relux")


def test_unknown_optimizer():
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'\. Did you mean 'adam'\? "
                                         r"Valid names: adam, rmsprop, sgd\."):
        small_cnn().compile(optimizer="adamm", loss="mse")


def test_unknown_loss():
    with pytest.raises(ValueError, match=r"Unknown loss 'sparse_categorical_crossentropyy'\. Did you mean "
                                         r"'sparse_categorical_crossentropy'\? "
                                         r"Valid names: .*categorical_crossentropy"):
        small_cnn().compile(optimizer="adam", loss="sparse_categorical_crossentropyy")


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Did you mean 'accuracy'\? "
                                         r"Valid names: .*accuracy"):
        small_cnn().compile(optimizer="adam", loss="mse", metrics=["acuracy"])


def test_unknown_initializer():
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'\. .*Valid names: .*glorot_uniform"):
        Dense(3, kernel_initializer="glorot")


def test_unknown_layer_name_in_get_layer():
    model = small_cnn()
    names = ", ".join(layer.name for layer in model.layers)
    with pytest.raises(ValueError, match=rf"No layer named 'convv'\. Layers: {names}\."):
        model.get_layer("convv")


def test_unknown_layer_class_in_a_config():
    from convlearn.saving import layer_from_config

    with pytest.raises(ValueError, match=r"Unknown layer class 'Conv3D' .* Valid layer classes: .*Conv2D.*Dense"):
        layer_from_config({"class_name": "Conv3D", "config": {}})


def test_a_python_function_as_loss():
    with pytest.raises(TypeError, match="a custom Python function has no backward pass"):
        small_cnn().compile(optimizer="adam", loss=lambda y, p: 0.0)


def test_metrics_not_a_list():
    with pytest.raises(TypeError, match=r"`metrics` must be a list such as \['accuracy'\]"):
        small_cnn().compile(optimizer="adam", loss="mse", metrics=3)


# ---------------------------------------------------------------------------
# Hyperparameters
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: Conv2D(0, 3), r"Conv2D: `filters` must be a positive integer\. Received: filters=0\."),
    (lambda: Conv2D(-4, 3), r"Received: filters=-4"),
    (lambda: Conv2D(2.5, 3), r"Received: filters=2\.5"),
    (lambda: Conv2D(4, 0), r"`kernel_size` must be a positive integer or a tuple of 2 positive integers\. "
                           r"Received: kernel_size=0"),
    (lambda: Conv2D(4, (3, 3, 3)), r"Received: kernel_size=\(3, 3, 3\)"),
    (lambda: Conv2D(4, 3, strides=0), r"`strides` must be a positive integer .*Received: strides=0"),
    (lambda: Conv2D(4, 3, padding="full"), r"`padding` must be one of \['valid', 'same'\]\. Received: padding='full'"),
    (lambda: MaxPooling2D(pool_size=0), r"`pool_size` must be a positive integer .*Received: pool_size=0"),
    (lambda: MaxPooling2D(2, strides=0), r"Received: strides=0"),
    (lambda: Dense(0), r"Dense: `units` must be a positive integer\. Received: units=0\."),
    (lambda: Dropout(1.0), r"Dropout: `rate` must be a number in \[0\.0, 1\.0\)\. Received: rate=1\.0\."),
    (lambda: Dropout(-0.1), r"Received: rate=-0\.1"),
    (lambda: Dropout(1.5), r"Received: rate=1\.5"),
    (lambda: keras.optimizers.Adam(learning_rate=-1.0),
     r"`learning_rate` must be a number .*Received: learning_rate=-1\.0"),
])
def test_invalid_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_kernel_larger_than_its_input():
    with pytest.raises(ValueError, match=r"Conv2D '.*': kernel_size \(5, 5\) is larger than its input 4x4 .*"
                                         r"Use a smaller kernel, padding='same', or remove a pooling layer"):
        Sequential([keras.Input(shape=(4, 4, 1)), Conv2D(2, 5)])


def test_kernel_larger_than_its_input_after_pooling():
    with pytest.raises(ValueError, match=r"kernel_size \(3, 3\) is larger than its input 2x2"):
        Sequential([keras.Input(shape=(8, 8, 1)), MaxPooling2D(4), Conv2D(2, 3)])


def test_pool_larger_than_its_input():
    with pytest.raises(ValueError, match=r"pool_size \(40, 40\) is larger than its input 28x28"):
        Sequential([keras.Input(shape=(28, 28, 1)), MaxPooling2D(40)])


def test_input_shape_must_be_positive():
    with pytest.raises(ValueError, match=r"`input_shape` must be a tuple of positive integers "
                                         r".*Received: input_shape=\(28, 0, 1\)"):
        Conv2D(2, 3, input_shape=(28, 0, 1))


def test_the_old_lr_argument():
    with pytest.raises(ValueError, match="`lr` is no longer supported; use `learning_rate`"):
        keras.optimizers.Adam(lr=0.01)


def test_misspelt_keyword_argument():
    with pytest.raises(TypeError, match=r"Conv2D got unexpected keyword argument\(s\): "
                                        r"'activaton' \(did you mean 'activation'\?\)"):
        Conv2D(2, 3, activaton="relu")


# ---------------------------------------------------------------------------
# fit arguments
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), r"fit: `batch_size` must be a positive integer\. Received: batch_size=0\."),
    (dict(batch_size=2.5), r"Received: batch_size=2\.5"),
    (dict(epochs=0), r"fit: `epochs` must be an integer >= 1\. Received: epochs=0\."),
    (dict(epochs=-3), r"Received: epochs=-3"),
    (dict(validation_split=1.5),
     r"fit: `validation_split` must be a number in \[0, 1\)\. Received: validation_split=1\.5\."),
    (dict(validation_split=-0.1), r"Received: validation_split=-0\.1"),
    (dict(verbose=3), r"fit: `verbose` must be 'auto', 0, 1 or 2\. Received: verbose=3\."),
    (dict(validation_data=([1, 2],)), r"fit: `validation_data` must be a tuple \(x_val, y_val\)"),
    (dict(validation_split=0.9), r"validation_split=0\.9 of 6 samples leaves an empty training or validation set"),
    (dict(sample_weight=np.ones(5)), r"fit: `sample_weight` must hold one finite weight >= 0 per sample, shape "
                                     r"\(6,\); got dtype float64 and shape \(5,\)"),
    (dict(sample_weight=-np.ones(6)), r"`sample_weight` must hold one finite weight >= 0 per sample"),
    (dict(class_weight=[1, 2]), r"`class_weight` must be a dict \{class index: weight\} for a model with one output"),
    (dict(steps_per_epoch=3), r"fit: `steps_per_epoch` is for datasets and generators; with arrays"),
    (dict(validation_steps=0), r"fit: `validation_steps` must be an integer >= 1"),
    (dict(initial_epoch=-1), r"`initial_epoch` must be an integer >= 0"),
])
def test_invalid_fit_arguments(mnist_like, kwargs, message):
    model, x, y = mnist_like
    kwargs.setdefault("verbose", 0)
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, **kwargs)


def test_invalid_batch_size_in_evaluate_and_predict(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(ValueError, match=r"evaluate: `batch_size` must be a positive integer\. Received: batch_size=0"):
        model.evaluate(x, y, batch_size=0)
    with pytest.raises(ValueError, match=r"predict: `verbose` must be 'auto', 0, 1 or 2\. Received: verbose=5"):
        model.predict(x, verbose=5)


def test_callback_class_instead_of_instance(mnist_like):
    model, x, y = mnist_like
    with pytest.raises(TypeError, match=r"received the class EarlyStopping itself\. Did you forget the parentheses\?"):
        model.fit(x, y, callbacks=[keras.callbacks.EarlyStopping], verbose=0)


# ---------------------------------------------------------------------------
# Building models
# ---------------------------------------------------------------------------

def test_layer_class_instead_of_instance():
    model = Sequential()
    with pytest.raises(TypeError, match=r"Sequential\.add expects a layer instance; got the class Dense\. "
                                        r"Did you forget the parentheses, e\.g\. Dense\(\.\.\.\)\?"):
        model.add(Dense)


def test_something_that_is_not_a_layer():
    with pytest.raises(TypeError, match=r"Sequential\.add expects a layer instance such as Dense\(10\); "
                                        r"got str 'relu'"):
        Sequential([keras.Input(shape=(3,)), "relu"])


def test_duplicate_layer_names():
    with pytest.raises(ValueError, match=r"All layers in a Sequential model need unique names; "
                                         r"'hidden' is already used"):
        Sequential([keras.Input(shape=(3,)), Dense(2, name="hidden"), Dense(2, name="hidden")])


def test_the_same_layer_added_twice():
    dense = Dense(3)
    with pytest.raises(ValueError, match=rf"'{dense.name}' is already used\. "
                                         r".*create a new layer instead of adding the same one twice"):
        Sequential([keras.Input(shape=(3,)), dense, dense])


def test_input_in_the_middle():
    with pytest.raises(ValueError, match=r"Input\(\.\.\.\) can only be the first item of a Sequential model"):
        Sequential([keras.Input(shape=(3,)), Dense(2), keras.Input(shape=(2,))])


def test_a_layer_shared_by_two_models_with_different_inputs():
    dense = Dense(3)
    Sequential([keras.Input(shape=(4,)), dense])
    with pytest.raises(ValueError, match=rf"Layer '{dense.name}' \(Dense\) expects input of shape "
                                         r"\(None, 4\); got \(None, 5\)"):
        Sequential([keras.Input(shape=(5,)), dense])


def test_adding_a_layer_after_training_without_compiling_again():
    x, y = bars_dataset(12)
    model = Sequential([keras.Input(shape=(8, 8, 1)), Flatten(), Dense(5)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((12, 5)), verbose=0)
    model.add(Dense(3, activation="softmax"))
    model.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy")   # the old optimizer kept
    with pytest.raises(ValueError, match="Adam was built for 2 weight arrays but received 4"):
        model.fit(x, y, verbose=0)


def test_set_weights_with_the_wrong_number_of_arrays():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"has 4 weight arrays; set_weights received 1\. "
                                         r"Pass a list like the one get_weights\(\) returns"):
        model.set_weights([np.zeros(3)])


def test_set_weights_with_nan():
    model = small_cnn()
    weights = model.get_weights()
    weights[1] = np.full_like(weights[1], np.nan)
    with pytest.raises(ValueError, match="weight 'conv2d(_\\d+)?/bias' must be finite numbers"):
        model.set_weights(weights)


def test_subclassing_model_without_inputs_explains_why():
    with pytest.raises(TypeError, match=r"needs both.*subclass keras.Model and define __init__ and call"):
        keras.Model()


# ---------------------------------------------------------------------------
# Training that diverges
# ---------------------------------------------------------------------------

def test_divergence_stops_with_a_floating_point_error_naming_epoch_and_step():
    """SGD with learning_rate=1e6 on pixels 0..255 (not divided by 255) blows up; fit says where and why."""
    x = (np.random.default_rng(0).random((64, 12, 12, 1)) * 255).astype(np.float32)   # not normalised
    y = np.arange(64) % 10
    keras.utils.set_random_seed(0)
    model = Sequential([keras.Input(shape=(12, 12, 1)), Conv2D(4, 3), MaxPooling2D(), Flatten(),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e6), loss="sparse_categorical_crossentropy")
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError,
            match=r"Training diverged: the loss became (nan|inf) at epoch \d+, step \d+/8\. "
                  r"Try a smaller learning rate \(now 1e\+06\), check that the inputs are normalised"):
        model.fit(x, y, batch_size=8, epochs=5, verbose=0)


def test_load_model_with_custom_objects(tmp_path):
    small_cnn().save(tmp_path / "m.keras")
    keras.models.load_model(tmp_path / "m.keras", custom_objects={}, safe_mode=True)
    with pytest.raises(ValueError, match=r"`custom_objects` must map class names to your Layer or Model classes; "
                                         r"'MyLayer' maps to <class 'object'>"):
        keras.models.load_model(tmp_path / "m.keras", custom_objects={"MyLayer": object})
    with pytest.raises(ValueError, match=r"`custom_objects` must be a dict mapping class names to classes"):
        keras.models.load_model(tmp_path / "m.keras", custom_objects=[Dense])


def test_missing_layer_lists_the_available_ones():
    import convlearn.layers as layers_module

    with pytest.raises(AttributeError, match="has no 'Conv3D'.*Conv2D.*MaxPooling2D"):
        layers_module.Conv3D


def test_changed_model_after_compile_says_to_compile_again():
    import convlearn as keras

    x = np.zeros((4, 3), dtype="float32")
    y = np.zeros(4, dtype="int64")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)
    model.pop()
    model.add(keras.layers.Dense(4))
    model.add(keras.layers.Dense(2, activation="softmax"))
    with pytest.raises(ValueError, match=r"changed since compile\(\) \(layers were added or removed\).*"
                                         r"call model.compile"):
        model.fit(x, y, verbose=0)


# ---------------------------------------------------------------------------
# Unusual inputs and arguments (each with its own clear message)
# ---------------------------------------------------------------------------

def _dense_model():
    model = keras.Sequential([keras.Input((3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_matrix_masked_array_scalar_and_values_beyond_float32():
    model = _dense_model()
    np.testing.assert_array_equal(model.predict(np.matrix([[1.0, 2.0, 3.0]]), verbose=0),
                                  model.predict(np.array([[1.0, 2.0, 3.0]]), verbose=0))
    with pytest.raises(TypeError, match=r"`x` is a masked array; convlearn would ignore its mask\. Fill the masked "
                                        r"values first, e.g\. x = x\.filled\(0\)"):
        model.predict(np.ma.masked_array([[1.0, 2.0, 3.0]], mask=[[0, 1, 0]]), verbose=0)
    with pytest.raises(ValueError, match=r"`x` is a single number \(5\.0\); it must be a batch of samples with "
                                         r"the batch axis first"):
        model.predict(5.0, verbose=0)
    with pytest.raises(ValueError, match=r"holds numbers up to 1e\+39, beyond what float32 can hold \(3\.4e\+38\)\. "
                                         r"Scale the data first"):
        model.predict(np.array([[1e39, 0.0, 0.0]]), verbose=0)
    with pytest.raises(ValueError, match=r"contains 1 NaN or infinite value"):
        model.predict(np.array([[np.inf, 0.0, 0.0]]), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"validation_batch_size": -5}, r"`validation_batch_size` must be a positive integer\. Received: "
                                    r"validation_batch_size=-5"),
    ({"validation_batch_size": 2.5}, r"`validation_batch_size` must be a positive integer"),
    ({"validation_freq": 0}, r"`validation_freq` must be an integer >= 1\. Received: validation_freq=0"),
    ({"validation_freq": True}, r"`validation_freq` must be an integer >= 1"),
])
def test_validation_arguments_are_checked(kwargs, match):
    model = _dense_model()
    with pytest.raises(ValueError, match=match):
        model.fit(np.ones((8, 3)), np.ones((8, 2)), validation_split=0.25, verbose=0, **kwargs)


@pytest.mark.parametrize("factory, match", [
    (lambda: keras.optimizers.Adam(epsilon=0), r"Adam: `epsilon` must be a number in \(0, inf\)\. Received: epsilon=0"),
    (lambda: keras.optimizers.RMSprop(epsilon=0.0), r"RMSprop: `epsilon` must be a number in \(0, inf\)"),
    (lambda: keras.optimizers.Adam(beta_1=1.0), r"Adam: `beta_1` must be a number in \[0, 1\)\. Received: beta_1=1\.0"),
    (lambda: keras.optimizers.Adam(beta_2=-0.1), r"Adam: `beta_2` must be a number in \[0, 1\)"),
])
def test_optimizer_hyperparameters_are_checked(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()
