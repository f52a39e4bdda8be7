"""MkDocs hooks of the documentation site: pages generated from the code at build time.

Two markers in a page's Markdown are replaced before the page is converted:

``<!-- convlearn:reference MODULE -->``
    One section per public name of ``MODULE`` (its ``__all__``, or the classes and functions it
    defines), each with the Keras 3 name it mirrors and the docstring rendered by mkdocstrings.
    Names that are the same object (``MaxPool2D`` and ``MaxPooling2D``) share one section.
``<!-- convlearn:keras-support -->``
    For every Keras 3 public name in ``tools/keras3_api.txt``, whether convlearn has it, with a
    link to its reference section.

On Chinese pages, a line break between two Chinese characters is removed (Markdown would show it as
a space).  Both generated parts are computed by importing convlearn, so a layer added to the code appears in the reference
and in the support table at the next build, with nothing to edit by hand.  The hooks are named in
``mkdocs.yml``; ``python -m mkdocs build --strict`` runs them.
"""

import importlib
import inspect
import logging
import pathlib
import re
import sys
import types

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import reference_zh  # tools/ is not a package

LOG = logging.getLogger("mkdocs.plugins.convlearn")

KERAS_NAMES = pathlib.Path(__file__).with_name("keras3_api.txt")

#: convlearn modules with a reference page, and the page (relative to ``reference/``).
REFERENCE_PAGES = {
    "convlearn.models": "models.md",
    "convlearn.layers": "layers.md",
    "convlearn.losses": "losses.md",
    "convlearn.optimizers": "optimizers.md",
    "convlearn.callbacks": "callbacks.md",
    "convlearn.metrics": "metrics.md",
    "convlearn.activations": "activations.md",
    "convlearn.initializers": "initializers.md",
    "convlearn.datasets": "datasets.md",
    "convlearn.utils": "utils.md",
    "convlearn.data": "data.md",
    "convlearn.explain": "explain.md",
}

#: Keras module (as written in keras3_api.txt) -> the convlearn module that mirrors it.
KERAS_TO_CONVLEARN = {
    "keras": "convlearn", "layers": "convlearn.layers", "models": "convlearn.models",
    "losses": "convlearn.losses", "optimizers": "convlearn.optimizers", "callbacks": "convlearn.callbacks",
    "metrics": "convlearn.metrics", "activations": "convlearn.activations",
    "initializers": "convlearn.initializers", "datasets": "convlearn.datasets", "utils": "convlearn.utils",
}

TEXT = {
    "en": {
        "keras": "Keras", "only": "convlearn only (no Keras counterpart)", "alias": "Also available as",
        "module_intro": "Module `{module}` of convlearn.",
        "summary": "{supported} of {total} public names of `{module}` are supported.",
        "name": "Keras name", "convlearn": "convlearn", "status": "Status",
        "yes": "supported", "no": "not supported", "extras": "convlearn names with no Keras counterpart",
        "none": "none",
    },
    "zh": {
        "keras": "对应 Keras", "only": "convlearn 独有（Keras 中没有对应）", "alias": "别名",
        "module_intro": "convlearn 的 `{module}` 模块。",
        "summary": "`{module}` 的 {total} 个公开名称中，convlearn 支持 {supported} 个。",
        "name": "Keras 名称", "convlearn": "convlearn", "status": "状态",
        "yes": "支持", "no": "不支持", "extras": "Keras 中没有对应的 convlearn 名称",
        "none": "无",
    },
}

_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
# A line break between two Chinese characters (and the indent of a continued list item or note after
# it): Markdown would show it as a space, Chinese has none.
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])\n[ \t]*(?=[{_CJK}])")
_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def join_cjk_lines(markdown):
    """Join the lines of a paragraph that break between two Chinese characters (code blocks untouched)."""
    out, last = [], 0
    for block in _FENCED.finditer(markdown):
        out.append(_CJK_BREAK.sub("", markdown[last:block.start()]))
        out.append(block.group())
        last = block.end()
    out.append(_CJK_BREAK.sub("", markdown[last:]))
    return "".join(out)


_MARKER = re.compile(r"<!--\s*convlearn:(reference|keras-support)\s*([\w.]*)\s*-->")


def keras_names():
    """``{keras_module: [name, ...]}`` from ``tools/keras3_api.txt``."""
    names = {}
    for line in KERAS_NAMES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            module, name = line.split()
            names.setdefault(module, []).append(name)
    return names


def _keras_module_of(module_name):
    for keras_module, convlearn_module in KERAS_TO_CONVLEARN.items():
        if convlearn_module == module_name:
            return keras_module
    return None


def public_names(module):
    """The public names of a convlearn module, in order: ``__all__``, or what the module defines.

    Internal helpers imported from elsewhere (registries, checks) are left out of a module
    without ``__all__``: only classes and functions whose ``__module__`` is the module itself.
    """
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")
                 and (inspect.isclass(vars(module)[n]) or inspect.isfunction(vars(module)[n]))
                 and getattr(vars(module)[n], "__module__", None) == module.__name__]
    return [n for n in names if not n.startswith("_") and hasattr(module, n)]


def reference_entries(module_name):
    """``[(path, names)]``: one entry per documented object; ``names`` lists its aliases first-canonical.

    A submodule in ``__all__`` (``convlearn.datasets.mnist``) is opened: its own public classes and
    functions are documented under ``submodule.name``.  Constants (module-level values that are not
    classes or functions) are left out of the sections.
    """
    module = importlib.import_module(module_name)
    entries, seen = [], {}
    for name in public_names(module):
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            if not obj.__name__.startswith("convlearn."):
                continue
            for sub in public_names(obj):
                sub_obj = getattr(obj, sub)
                own = getattr(sub_obj, "__module__", "") == obj.__name__
                if (inspect.isclass(sub_obj) or inspect.isfunction(sub_obj)) and own and id(sub_obj) not in seen:
                    seen[id(sub_obj)] = len(entries)
                    entries.append((f"{name}.{sub}", [f"{name}.{sub}"]))
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if id(obj) in seen:
            entries[seen[id(obj)]][1].append(name)
            continue
        seen[id(obj)] = len(entries)
        entries.append((name, [name]))
    for _, names in entries:  # the name the object calls itself goes first
        own = [n for n in names if n.split(".")[-1] == getattr(_resolve(module, n), "__name__", None)]
        if own:
            names.remove(own[0])
            names.insert(0, own[0])
    return [(f"{module_name}.{names[0]}", names) for _, names in entries]


def _resolve(module, dotted):
    obj = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _keras_name(module_name, name, available):
    keras_module = _keras_module_of(module_name)
    if keras_module is None:
        return None
    if "." in name:  # datasets.mnist.load_data -> keras.datasets.mnist.load_data
        head, tail = name.split(".", 1)
        if head in available.get(keras_module, []) and tail == "load_data":  # Keras's loaders have only that
            return f"keras.{keras_module}.{name}"
        return None
    if name in available.get(keras_module, []):
        return "keras." + name if keras_module == "keras" else f"keras.{keras_module}.{name}"
    return None


def anchor(name):
    """The id of the section made for ``name`` (a heading's text, slugified the way MkDocs does)."""
    return re.sub(r"[^\w-]", "", name.lower().replace(" ", "-"))


def reference_markdown(module_name, lang):
    """The sections of one reference page, as Markdown.

    English sections are mkdocstrings directives (the docstrings themselves); Chinese sections are
    the translations in ``tools/reference_zh/`` rendered by :mod:`reference_zh`.  A Chinese section
    whose translation is missing or out of date is a warning (an error in a strict build) and shows
    the English docstring meanwhile.
    """
    text = TEXT[lang]
    available = keras_names()
    if lang == "zh":
        translations = reference_zh.load(module_name)
        stale = {key for key, _ in reference_zh.problems(module_name)}
    out = []
    for path, names in reference_entries(module_name):
        canonical = names[0]
        keras = [k for k in (_keras_name(module_name, n, available) for n in names) if k]
        out.append(f"## {canonical}\n")
        line = f"`{path}`"
        line += f" · {text['keras']}: " + ", ".join(f"`{k}`" for k in keras) if keras else f" · {text['only']}"
        if len(names) > 1:
            line += f" · {text['alias']}: " + ", ".join(f"`{n}`" for n in names[1:])
        out.append(line + "\n")
        if lang == "zh":
            missing = sorted(k for k in stale if k == path or k.startswith(path + "."))
            if not missing:
                out.append(reference_zh.render(path, translations))
                continue
            LOG.warning("the Chinese reference of %s needs translating (python tools/reference_zh.py status): %s",
                        path, ", ".join(missing))
        out.append(f"::: {path}\n    options:\n      show_root_heading: false\n      heading_level: 3\n")
    return "\n".join(out)


def reference_index():
    """``{id(object): (page, anchor)}`` for every object that has a reference section."""
    index = {}
    for module_name, page in REFERENCE_PAGES.items():
        module = importlib.import_module(module_name)
        for _, names in reference_entries(module_name):
            index.setdefault(id(_resolve(module, names[0])), (page, anchor(names[0])))
    return index


def keras_support_markdown(lang):
    """The support tables: every Keras 3 name of each module, supported or not."""
    text = TEXT[lang]
    available = keras_names()
    index = reference_index()
    out = []
    for keras_module, names in available.items():
        module_name = KERAS_TO_CONVLEARN[keras_module]
        module = importlib.import_module(module_name)
        shown = "keras" if keras_module == "keras" else f"keras.{keras_module}"
        rows, supported = [], 0
        for name in names:
            has = _has(module, name)
            supported += has
            cell = ""
            if has:
                target = index.get(id(getattr(module, name)))
                cell = f"[`{name}`]({target[0]}#{target[1]})" if target else f"`{name}`"
            rows.append(f"| `{shown}.{name}` | {cell} | {text['yes'] if has else text['no']} |")
        out.append(f"## {shown}\n")
        out.append(text["summary"].format(supported=supported, total=len(names), module=shown) + "\n")
        out.append(f"| {text['name']} | {text['convlearn']} | {text['status']} |\n|---|---|---|")
        out.extend(rows)
        if keras_module != "keras":  # the top level re-exports modules; its names are all in the table
            extras = sorted({ns[0].split(".")[0] for _, ns in reference_entries(module_name)} - set(names))
            out.append("")
            out.append(f"{text['extras']}: " + (", ".join(f"`{e}`" for e in extras) if extras else text["none"]))
        out.append("")
    return "\n".join(out)


def _has(module, name):
    try:
        getattr(module, name)
    except AttributeError:
        return False
    return True


def page_language(config):
    """The language being built: mkdocs-static-i18n sets Material's ``theme.language`` per build."""
    lang = str(config["theme"].get("language") or "en")
    return "zh" if lang.startswith("zh") else "en"


def on_page_markdown(markdown, page, config, files):
    """Replace the markers with the sections and tables made from the code."""
    lang = page_language(config)

    def replace(match):
        kind, argument = match.group(1), match.group(2)
        if kind == "reference":
            return reference_markdown(argument, lang)
        return keras_support_markdown(lang)

    markdown = _MARKER.sub(replace, markdown)
    return join_cjk_lines(markdown) if lang == "zh" else markdown
