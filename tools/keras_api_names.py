"""Write the list of Keras 3 public names that the docs compare convlearn against.

The list lives in the repository (``tools/keras3_api.txt``) so that the docs build needs no
Keras install and no network; this script regenerates it from a Keras source tree, reading the
public API that Keras generates in ``keras/api/<module>/__init__.py`` (every ``X as Y`` there is a
public name ``Y``).

Usage::

    python tools/keras_api_names.py KERAS_SOURCE_DIR          # a checkout of keras-team/keras
    python tools/keras_api_names.py --git-dir KERAS_GIT_DIR   # a bare clone (reads HEAD)
"""

import argparse
import pathlib
import re
import subprocess
import sys

#: Keras modules whose names the support page lists ("" is ``keras`` itself).
MODULES = ["", "layers", "models", "losses", "optimizers", "callbacks", "metrics", "activations",
           "initializers", "datasets", "utils"]

OUTPUT = pathlib.Path(__file__).with_name("keras3_api.txt")

_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*) as ([A-Za-z_][A-Za-z0-9_]*)\b")


def public_names(source, top_level=False):
    """The public names in the text of one generated ``keras/api/.../__init__.py``.

    At the top level the submodules (``from keras import ops as ops``) are left out: the modules
    the support page covers have sections of their own, and the others are not supported.
    """
    if top_level:
        source = "\n".join(line for line in source.splitlines() if not line.startswith("from keras import "))
    names = {alias for _, alias in _NAME.findall(source)}
    return sorted(n for n in names if not n.startswith("_"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="a Keras source checkout")
    parser.add_argument("--git-dir", help="a Keras git directory (HEAD is read)")
    args = parser.parse_args(argv)
    if not args.source and not args.git_dir:
        parser.error("give a Keras source folder or --git-dir")

    def read(module):
        rel = "keras/api/" + (module + "/" if module else "") + "__init__.py"
        if args.git_dir:
            return subprocess.run(["git", f"--git-dir={args.git_dir}", "show", f"HEAD:{rel}"],
                                  check=True, capture_output=True, text=True).stdout
        return (pathlib.Path(args.source) / rel).read_text(encoding="utf-8")

    lines = ["# Keras 3 public names, one 'module name' per line ('keras' is the top level).",
             "# Regenerate with: python tools/keras_api_names.py KERAS_SOURCE_DIR"]
    for module in MODULES:
        for name in public_names(read(module), top_level=module == ""):
            lines.append(f"{module or 'keras'} {name}")
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 2} names to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
