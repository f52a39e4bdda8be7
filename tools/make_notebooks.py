"""Write the Jupyter notebooks of examples/ (nbformat JSON) from the cells listed here.

    python tools/make_notebooks.py

Each notebook reads ``CONVLEARN_NOTEBOOK_QUICK``: set to 1 (as tests/test_notebooks.py does), it trains on
a few thousand images for one epoch so that it runs in seconds; unset, it runs the full recipe.
"""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

QUICK = '''import os

QUICK = os.environ.get("CONVLEARN_NOTEBOOK_QUICK") == "1"   # small numbers for CI'''

NOTEBOOKS = {
    "guide_mnist.ipynb": [
        new_markdown_cell("# The guide's CNN on MNIST\n\nThe beginner's guide's script with `tensorflow.keras` "
                          "replaced by `convlearn`, cell by cell. Set `CONVLEARN_NOTEBOOK_QUICK=1` for a quick run."),
        new_code_cell(QUICK + '''
EPOCHS = 1 if QUICK else 10
N_TRAIN = 3000 if QUICK else 60000'''),
        new_code_cell('''#importing the required libraries
from convlearn.datasets import mnist
from convlearn.models import Sequential
from convlearn.layers import Conv2D
from convlearn.layers import MaxPool2D
from convlearn.layers import Flatten
from convlearn.layers import Dense'''),
        new_code_cell('''#loading data
(X_train,y_train) , (X_test,y_test)=mnist.load_data()
X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
#reshaping data
X_train = X_train.reshape((X_train.shape[0], X_train.shape[1], X_train.shape[2], 1))
X_test = X_test.reshape((X_test.shape[0],X_test.shape[1],X_test.shape[2],1))
print(X_train.shape)
print(X_test.shape)
#normalizing the pixel values
X_train=X_train/255
X_test=X_test/255'''),
        new_code_cell('''#defining model
model=Sequential()
model.add(Conv2D(32,(3,3),activation='relu',input_shape=(28,28,1)))
model.add(MaxPool2D(2,2))
model.add(Flatten())
model.add(Dense(100,activation='relu'))
model.add(Dense(10,activation='softmax'))
model.compile(loss='sparse_categorical_crossentropy',optimizer='adam',metrics=['accuracy'])
model.summary()'''),
        new_code_cell('''#fitting the model
history = model.fit(X_train,y_train,epochs=EPOCHS)'''),
        new_code_cell('''#evaluting the model
model.evaluate(X_test,y_test)'''),
    ],
    "tutorial_explain.ipynb": [
        new_markdown_cell("# The guide, computed\n\nEvery picture of the guide worked out with numbers by "
                          "`convlearn.explain`, then the figures of a trained model."),
        new_code_cell(QUICK + '''
%matplotlib inline
import matplotlib.pyplot as plt
from convlearn import explain'''),
        new_markdown_cell("## Convolution: the filter slides over the image"),
        new_code_cell('''walk = explain.explain_conv()
print(walk.to_text(lang="en", steps_in_full=1))'''),
        new_code_cell('''walk.figure(lang="en")'''),
        new_markdown_cell("## ReLU, pooling, dense and softmax"),
        new_code_cell('''print(explain.explain_relu().output)
print(explain.explain_pool().output)
print(explain.explain_pool(mode="avg").output)
print(explain.explain_softmax().probs.round(3))'''),
        new_code_cell('''explain.explain_pool().figure(lang="zh")'''),
        new_markdown_cell("## A trained model"),
        new_code_cell('''import convlearn as keras
from convlearn import layers
from convlearn.datasets import mnist

(x_train, y_train), (x_test, y_test) = mnist.load_data()
n = 3000 if QUICK else 20000
x_train, y_train = x_train[:n, ..., None] / 255, y_train[:n]
x_test, y_test = x_test[:1000, ..., None] / 255, y_test[:1000]
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                          layers.MaxPool2D(2), layers.Flatten(), layers.Dense(100, activation="relu"),
                          layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=1 if QUICK else 3, validation_split=0.1)'''),
        new_code_cell('''explain.plot_history(history)'''),
        new_code_cell('''explain.plot_feature_maps(model, x_test[0])'''),
        new_code_cell('''model.summary(explain=True)'''),
    ],
    "tutorial_residual.ipynb": [
        new_markdown_cell("# A residual network, and its backward pass\n\nThe functional API, the program the "
                          "engine runs, and backpropagation with the network's own numbers."),
        new_code_cell(QUICK + '''
import numpy as np
import convlearn as keras
from convlearn import layers, explain
from convlearn.datasets import mnist'''),
        new_code_cell('''inputs = keras.Input((28, 28, 1))
x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
y = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
y = layers.Conv2D(16, 3, padding="same")(y)
x = layers.Activation("relu")(layers.add([x, y]))
x = layers.MaxPool2D(2)(x)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.summary()'''),
        new_code_cell('''print(model.program())'''),
        new_code_cell('''(x_train, y_train), (x_test, y_test) = mnist.load_data()
n = 2000 if QUICK else 30000
x_train, y_train = x_train[:n, ..., None] / 255, y_train[:n]
x_test, y_test = x_test[:500, ..., None] / 255, y_test[:500]
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=1 if QUICK else 3, batch_size=64)
model.evaluate(x_test, y_test)'''),
        new_markdown_cell("## The backward pass for one test digit"),
        new_code_cell('''walk = explain.explain_backward(model, x_test[0], target=int(y_test[0]))
print(walk.to_text(lang="en")[:3000])'''),
    ],
}


def main():
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells, metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}})
        nbformat.validate(notebook)
        nbformat.write(notebook, EXAMPLES / name)
        print(EXAMPLES / name)


if __name__ == "__main__":
    main()
