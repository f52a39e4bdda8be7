"""The Chinese reference pages: translated docstrings, kept next to the code they describe.

The English reference is rendered by mkdocstrings from the docstrings themselves.  The Chinese
pages are rendered here, from one catalogue per module in ``tools/reference_zh/MODULE.toml``::

    ["convlearn.layers.Conv2D"]
    english = "3f2a9c1b0d4e"   # fingerprint of the English docstring this entry translates
    text = '''
    二维卷积层：……

    Parameters
    ----------
    filters : int
        卷积核（滤波器）的个数，也就是输出的通道数。
    '''

``text`` is a numpy-style docstring whose prose is Chinese: the section headers (``Parameters``,
``Returns``, ``Raises``, ``Notes``, ``Examples``, ...), parameter names, types and code stay as in
the English one.  The entries are the objects of the English page in its order (each class or
function, then the public members of a class that have a docstring), found with griffe, the
library mkdocstrings reads the code with, so both languages document the same things.

When an English docstring changes, its fingerprint no longer matches and the tests say which entry
to translate again.  Commands::

    python tools/reference_zh.py status            # entries missing, out of date, or still English
    python tools/reference_zh.py update MODULE     # add missing entries (English text to translate)
    python tools/reference_zh.py show KEY          # an entry's English docstring now, and its fingerprint
    python tools/reference_zh.py mark KEY...       # record that these translations match the English now
"""

import hashlib
import inspect
import pathlib
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the backport (the docs extra installs it there)
    import tomli as tomllib

from convlearn._io import atomic_write_text  # the package's own atomic write

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from prose import english_prose  # tools/ is not a package

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATALOGUES = pathlib.Path(__file__).with_name("reference_zh")

#: Section titles of a numpy docstring, as shown on a Chinese page.
TITLES = {
    "parameters": "参数", "other parameters": "其他参数", "returns": "返回", "yields": "生成",
    "receives": "接收", "raises": "异常", "warns": "警告", "attributes": "属性", "examples": "示例",
    "Notes": "说明", "Note": "说明", "See Also": "另见", "Warnings": "注意", "Warning": "注意",
    "References": "参考资料",
}


def fingerprint(text):
    """A short hash of a docstring: the catalogue's record of which English text it translates."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:12]


_PACKAGE = None


def package():
    """convlearn as griffe reads it (the same reading as mkdocstrings', done once)."""
    global _PACKAGE
    if _PACKAGE is None:
        import griffe
        _PACKAGE = griffe.load("convlearn", search_paths=[str(ROOT / "src")], resolve_aliases=True,
                               resolve_external=False, docstring_parser="numpy")
    return _PACKAGE


def _target(path):
    obj = package()[path.removeprefix("convlearn.")]
    return obj.final_target if obj.is_alias else obj


def members(obj):
    """The public members of a class that its English section shows: defined there, with a docstring."""
    if not obj.is_class:
        return []
    return [m for name, m in obj.members.items()
            if not name.startswith("_") and not m.is_alias and m.docstring is not None]


def _docs_hooks():
    """``tools/docs_hooks.py``, imported late (it imports this module); the site build may have
    changed ``sys.path`` since this module was loaded."""
    tools = str(pathlib.Path(__file__).parent)
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import docs_hooks
    return docs_hooks


def entries(module_name):
    """``[(key, griffe_object)]`` of a reference page, in the page's order (objects, then members)."""
    out = []
    for path, _ in _docs_hooks().reference_entries(module_name):
        obj = _target(path)
        if obj.docstring is not None:
            out.append((path, obj))
        out.extend((f"{path}.{m.name}", m) for m in members(obj))
    return out


def catalogue_path(module_name):
    return CATALOGUES / f"{module_name}.toml"


def load(module_name):
    """``{key: {"english": fingerprint, "text": translation}}`` of one module (empty if none)."""
    path = catalogue_path(module_name)
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def problems(module_name):
    """What is wrong with a module's catalogue: ``[(key, message)]``, empty when it is complete."""
    catalogue = load(module_name)
    found = []
    keys = set()
    for key, obj in entries(module_name):
        keys.add(key)
        entry = catalogue.get(key)
        if entry is None:
            found.append((key, "no translation"))
        elif entry.get("english") != fingerprint(obj.docstring.value):
            found.append((key, "the English docstring changed since it was translated"))
        elif entry["text"].strip() == obj.docstring.value.strip():
            found.append((key, "not translated yet (the text is the English docstring)"))
        elif code_lines(entry["text"]) != code_lines(obj.docstring.value):
            found.append((key, "its example code differs from the English docstring's"))
        else:
            left = english_prose(render_docstring(entry["text"], obj))
            if left:
                found.append((key, "English prose left: " + " | ".join(left)))
    found.extend((key, "no such object on the English page") for key in sorted(set(catalogue) - keys))
    return found


def code_lines(docstring):
    """The lines of code in a docstring's examples (``>>>``/``...`` lines), to compare translations."""
    return [line.strip() for line in docstring.splitlines() if line.strip().startswith((">>>", "..."))]


def update(module_name):
    """Add the missing entries of a module to its catalogue, their text still the English docstring."""
    catalogue = load(module_name)
    path = catalogue_path(module_name)
    path.parent.mkdir(exist_ok=True)
    added = []
    text = path.read_text(encoding="utf-8") if path.is_file() else \
        f"# Chinese docstrings of {module_name}'s reference page (see tools/reference_zh.py).\n"
    for key, obj in entries(module_name):
        if key in catalogue:
            continue
        english = obj.docstring.value.strip()
        if "'''" in english:
            raise ValueError(f"{key}: its docstring holds ''' and cannot be written as a TOML literal string")
        text += f'\n["{key}"]\nenglish = "{fingerprint(english)}"\ntext = \'\'\'\n{english}\n\'\'\'\n'
        added.append(key)
    atomic_write_text(str(path), text)
    return added


def _module_of(key):
    for module_name in _docs_hooks().REFERENCE_PAGES:
        if key.startswith(module_name + "."):
            return module_name
    raise KeyError(f"{key} is on no reference page")


def english_of(key):
    """The English docstring of an entry as the reference page shows it."""
    found = dict(entries(_module_of(key)))
    if key not in found:
        raise KeyError(f"{key} is not an entry of its module's reference page")
    return found[key].docstring.value


def mark(key):
    """Write the English docstring's current fingerprint into the entry (after its text was updated)."""
    path = catalogue_path(_module_of(key))
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(r'(^\["' + re.escape(key) + r'"\]\nenglish = ")[0-9a-f]*(")', re.MULTILINE)
    text, count = pattern.subn(lambda m: m.group(1) + fingerprint(english_of(key)) + m.group(2), text)
    if count != 1:
        raise KeyError(f"{key} has no entry in {path.name}")
    atomic_write_text(str(path), text)


# ---------------------------------------------------------------------------------------------
# Rendering: the Chinese docstring of each entry as Markdown
# ---------------------------------------------------------------------------------------------

_ROLE = re.compile(r":(?:func|meth|class|attr|mod|data|obj|exc):`~?([^`]+)`")


def _indent(text, spaces=4):
    return "\n".join((" " * spaces + line) if line.strip() else "" for line in text.splitlines())


def _signature(key, obj):
    """``name(arguments)`` from the live object, as the English page's signature shows it."""
    import importlib
    module_name, _, rest = key.partition(".")
    live = importlib.import_module(module_name)
    parts = rest.split(".")
    for i, part in enumerate(parts):
        nxt = getattr(live, part, None)
        if nxt is None:  # convlearn.datasets.mnist.load_data: a submodule
            live = importlib.import_module(".".join([module_name, *parts[:i + 1]]))
        else:
            live = nxt
    if isinstance(live, property) or obj.is_attribute:
        return None
    try:
        signature = inspect.signature(live)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if obj.is_function and obj.parent is not None and obj.parent.is_class and params \
            and params[0].name in ("self", "cls"):
        params = params[1:]
    signature = signature.replace(parameters=params, return_annotation=inspect.Signature.empty)
    plain = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return f"{parts[-1]}{signature.replace(parameters=plain)}"


def _items(section, with_name=True):
    lines = []
    for item in section.value:
        name = getattr(item, "name", "") if with_name else ""
        annotation = getattr(item, "annotation", None)
        head = f"**`{name}`**" if name else ""
        if annotation:
            head += f" (`{annotation}`)" if head else f"`{annotation}`"
        description = (item.description or "").strip()
        first, _, rest = description.partition("\n")
        if not head:
            lines.append(f"- {first}")
        else:
            lines.append(f"- {head}：{first}" if first else f"- {head}")
        if rest.strip():
            lines.append(_indent(rest))
    return "\n".join(lines)


def render_docstring(text, obj):
    """Markdown for one translated docstring, parsed as numpy (griffe) with the English object as parent."""
    import griffe
    text = _ROLE.sub(r"``\1``", text)  # :func:`name` -> ``name``
    docstring = griffe.Docstring(text.strip(), parser="numpy", parent=obj)
    out = []
    for section in docstring.parse():
        kind = section.kind.value
        if kind == "text":
            out.append(section.value.strip())
        elif kind in ("parameters", "other parameters", "attributes", "returns", "yields", "receives"):
            out.append(f"**{TITLES[kind]}**\n\n{_items(section)}")
        elif kind in ("raises", "warns"):
            out.append(f"**{TITLES[kind]}**\n\n{_items(section, with_name=False)}")
        elif kind == "examples":
            out.append(f"**{TITLES[kind]}**")
            for part_kind, part in section.value:
                if part_kind.value == "examples":
                    out.append(f"```pycon\n{part.strip()}\n```")
                else:
                    out.append(part.strip())
        elif kind == "admonition":
            title = section.title or ""
            out.append(f'!!! note "{TITLES.get(title, title)}"\n\n{_indent(section.value.description.strip())}')
        else:
            raise ValueError(f"{obj.path}: a '{kind}' section cannot be shown on a Chinese page yet")
    return "\n\n".join(out)


def render_entry(key, obj, translation, level):
    """One object's part of a Chinese page: its signature, then its translated docstring."""
    out = []
    if level:
        kind = "属性" if obj.is_attribute or "property" in obj.labels else "方法"
        out.append(f"{'#' * level} {key.rsplit('.', 1)[-1]}\n\n{kind} · `{key}`")
    signature = _signature(key, obj)
    if signature:
        out.append(f"```python\n{signature}\n```")
    out.append(render_docstring(translation, obj))
    return "\n\n".join(out)


def render(path, translations):
    """The Chinese body of one reference section (the object at ``path`` and its members)."""
    obj = _target(path)
    out = []
    if obj.docstring is not None:
        out.append(render_entry(path, obj, translations[path]["text"], 0))
    for member in members(obj):
        key = f"{path}.{member.name}"
        out.append(render_entry(key, member, translations[key]["text"], 3))
    return "\n\n".join(out) + "\n"


def main(argv):
    if argv[:1] == ["update"] and len(argv) == 2:
        added = update(argv[1])
        print(f"{len(added)} entries added to {catalogue_path(argv[1]).relative_to(ROOT)}")
        return 0
    if argv[:1] == ["show"] and len(argv) == 2:
        print(english_of(argv[1]))
        print(f"\nfingerprint: {fingerprint(english_of(argv[1]))}")
        return 0
    if argv[:1] == ["mark"] and len(argv) >= 2:
        for key in argv[1:]:
            mark(key)
            print(f"{key}: marked as translating the current English docstring")
        return 0
    if argv[:1] == ["status"] or not argv:
        bad = 0
        for module_name in _docs_hooks().REFERENCE_PAGES:
            found = problems(module_name)
            bad += len(found)
            print(f"{module_name}: {len(entries(module_name))} entries, {len(found)} to do")
            for key, message in found:
                print(f"    {key}: {message}")
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
