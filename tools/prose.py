"""The check that a Chinese page holds no English prose (code, names and links aside).

Used by the documentation tests and by ``tools/reference_zh.py`` for the translated docstrings.
"""

import re

_STRIP = [
    re.compile(r"``.*?``", re.DOTALL),  # reStructuredText inline code (docstrings)
    re.compile(r"```.*?```", re.DOTALL),  # code blocks
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"<!--.*?-->", re.DOTALL),  # comments and markers
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"https?://\S+"),
    re.compile(r"^:::.*$", re.MULTILINE),  # mkdocstrings directives
    re.compile(r"^\s{4}\S.*$", re.MULTILINE),  # their options
    re.compile(r"\$[^$\n]+\$"),  # formulas
    re.compile(r"\{[#.][^}]*\}"),  # attribute lists
]
#: Latin words that a Chinese page may use as they are (names of things, not prose).
_NAMES = {"Keras", "convlearn", "MNIST", "Fashion", "NumPy", "PyTorch", "TensorFlow", "BLAS", "OpenBLAS", "Jupyter",
          "ReLU", "CPU", "Python", "MkDocs", "Material", "Adam", "SGD", "API", "Winograd", "CNN", "CI", "Chromium",
          "im2col", "Starlette", "uvicorn", "softmax", "Dense", "Conv2D"}
_PROSE = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,;:'-]+[A-Za-z][a-z]+){3,}")


def english_prose(text):
    """Runs of four or more ordinary English words left in a page once code and names are removed."""
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    found = []
    for match in _PROSE.finditer(text):
        words = re.findall(r"[A-Za-z]+", match.group())
        if sum(w not in _NAMES for w in words) >= 4:
            found.append(match.group())
    return found


