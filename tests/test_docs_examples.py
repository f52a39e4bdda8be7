"""The documentation site: every Python example of every page runs, every figure exists and says
which command draws it, every English page has a Chinese twin without English prose, and
``mkdocs build --strict`` passes.

A code block that must not run is preceded by ``<!-- docs-test: skip REASON -->`` (the reason is
required).  The blocks of one page run in order in one namespace, like a reader typing them in,
inside a temporary folder.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
from prose import english_prose  # tools/ is not a package

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TOOLS = ROOT / "tools"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                    re.MULTILINE | re.DOTALL)
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(?P<reason>[^>]*)-->\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<path>[^)\s]+)")


def pages():
    """Every Markdown page of the site (both languages)."""
    return sorted(p for p in DOCS.rglob("*.md"))


def page_id(path):
    return str(path.relative_to(DOCS))


def python_blocks(text):
    """``[(line, code, skip_reason)]`` for every ```python block of a page's text."""
    blocks = []
    for match in _FENCE.finditer(text):
        if match.group("lang") not in ("python", "py"):
            continue
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.search(before)
        body = match.group("body")
        indent = match.group("indent")
        if indent:
            body = "\n".join(row.removeprefix(indent) for row in body.splitlines())
        blocks.append((line, body, None if skip is None else skip.group("reason").strip()))
    return blocks


PAGES_WITH_CODE = [p for p in pages() if python_blocks(p.read_text(encoding="utf-8"))]


def test_the_site_has_pages_with_examples():
    assert len(pages()) >= 40, [page_id(p) for p in pages()]
    assert len(PAGES_WITH_CODE) >= 20


def test_the_block_parser_finds_blocks_and_skip_markers():
    text = ("intro\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip needs a camera -->\n```python\nopen()\n```\n"
            "\n```bash\nls\n```\n\n- item\n\n    ```python\n    y = 2\n    ```\n")
    blocks = python_blocks(text)
    assert [(code, reason) for _, code, reason in blocks] == [
        ("x = 1\n", None), ("open()\n", "needs a camera"), ("y = 2", None)]
    assert blocks[0][0] == 3


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=page_id)
def test_every_python_example_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVLEARN_DOCS_TEST", "1")
    namespace = {"__name__": "__docs__"}
    ran = 0
    for line, code, skip in python_blocks(page.read_text(encoding="utf-8")):
        if skip is not None:
            assert skip, f"{page_id(page)}:{line}: a skipped block must say why: <!-- docs-test: skip REASON -->"
            continue
        exec(compile(code, f"{page_id(page)}:{line}", "exec"), namespace)  # noqa: S102 (the docs' own code)
        ran += 1
        plt.close("all")
    assert ran, f"{page_id(page)}: every block is skipped"


def referenced_images(page):
    text = page.read_text(encoding="utf-8")
    return [(page.parent / m.group("path")).resolve() for m in _IMAGE.finditer(text)
            if not m.group("path").startswith(("http://", "https://"))]


def _tool_sources():
    return {p.name: p.read_text(encoding="utf-8") for p in TOOLS.glob("*.py")}


def _made_by(image, tools):
    """The tools/ script that writes ``image``: named in it, or one of docs_figures.py's figures."""
    sys.path.insert(0, str(TOOLS))
    try:
        import docs_figures
    finally:
        sys.path.remove(str(TOOLS))
    if image.parent == docs_figures.OUT:
        stem = image.stem.rsplit("_", 1)[0]
        if stem in docs_figures.figure_names() and image.stem.rsplit("_", 1)[1] in docs_figures.LANGS:
            return "docs_figures.py"
    for name, source in tools.items():
        if image.name in source:
            return name
    return None


@pytest.mark.parametrize("page", [p for p in pages() if referenced_images(p)], ids=page_id)
def test_every_figure_exists_and_its_page_names_the_command_that_draws_it(page):
    tools = _tool_sources()
    text = page.read_text(encoding="utf-8")
    for image in referenced_images(page):
        assert image.is_file(), f"{page_id(page)} shows {image}, which does not exist"
        tool = _made_by(image, tools)
        assert tool, f"{page_id(page)} shows {image.name}, which no script in tools/ draws"
        assert f"tools/{tool}" in text, f"{page_id(page)} shows {image.name} without naming `python tools/{tool}`"


def test_the_figure_script_draws_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, str(TOOLS / "docs_figures.py"), "--only", "pool_max", "--out",
                             str(tmp_path)], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool_max_en.png", "pool_max_zh.png"]
    assert (tmp_path / "pool_max_zh.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def english_pages():
    return [p for p in pages() if not p.name.endswith(".zh.md")]


def chinese_twin(page):
    return page.with_name(page.stem + ".zh.md")


@pytest.mark.parametrize("page", english_pages(), ids=page_id)
def test_every_page_has_a_chinese_twin_with_the_same_examples(page):
    twin = chinese_twin(page)
    assert twin.is_file(), f"{page_id(page)} has no Chinese page {page_id(twin)}"
    ours = python_blocks(page.read_text(encoding="utf-8"))
    theirs = python_blocks(twin.read_text(encoding="utf-8"))
    assert len(ours) == len(theirs), f"{page_id(page)} and {page_id(twin)} have different numbers of examples"


def test_the_prose_check_finds_english_and_ignores_code():
    assert english_prose("卷积层 `model.fit(x, y, epochs=1)` 用 Keras 的 API。\n```python\nprint('a b c d e')\n```")\
        == []
    assert english_prose("这一段 was left in English by mistake。") == ["was left in English by mistake"]


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.zh.md")), ids=page_id)
def test_chinese_pages_have_no_english_prose(page):
    assert english_prose(page.read_text(encoding="utf-8")) == []


def test_the_chinese_readme_has_no_english_prose():
    assert english_prose((ROOT / "README.zh-CN.md").read_text(encoding="utf-8")) == []


REFERENCE_MODULES = ["convlearn.models", "convlearn.layers", "convlearn.losses", "convlearn.optimizers",
                     "convlearn.callbacks", "convlearn.metrics", "convlearn.activations", "convlearn.initializers",
                     "convlearn.datasets", "convlearn.utils", "convlearn.data", "convlearn.explain"]


def test_every_reference_page_has_a_chinese_catalogue():
    import docs_hooks
    assert sorted(docs_hooks.REFERENCE_PAGES) == sorted(REFERENCE_MODULES)


@pytest.mark.parametrize("module", REFERENCE_MODULES)
def test_the_chinese_reference_is_translated_current_and_has_no_english_prose(module):
    pytest.importorskip("griffe", reason='the docs tools: pip install -e ".[docs]"')
    import reference_zh
    problems = reference_zh.problems(module)
    assert problems == [], f"{len(problems)} entries of tools/reference_zh/{module}.toml need work " \
        f"(python tools/reference_zh.py status): " + "; ".join(f"{k}: {m}" for k, m in problems[:5])


def _catalogue_with(tmp_path, monkeypatch, module, edit):
    """A copy of a module's catalogue, changed by ``edit(entries)``, that reference_zh reads instead."""
    import reference_zh
    entries = reference_zh.load(module)
    edit(entries)
    lines = []
    for key, entry in entries.items():
        lines.append(f'["{key}"]\nenglish = "{entry["english"]}"\ntext = \'\'\'\n{entry["text"].strip()}\n\'\'\'\n')
    (tmp_path / f"{module}.toml").write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setattr(reference_zh, "CATALOGUES", tmp_path)
    return reference_zh


def test_the_chinese_reference_check_finds_every_kind_of_problem(tmp_path, monkeypatch):
    pytest.importorskip("griffe", reason='the docs tools: pip install -e ".[docs]"')
    module = "convlearn.losses"

    def edit(entries):
        keys = list(entries)
        del entries[keys[0]]                                        # missing
        entries[keys[1]]["english"] = "000000000000"                # the English changed since
        entries[keys[2]]["text"] += "\n\nThis sentence was left in English by mistake."
        entries["convlearn.losses.NoSuchLoss"] = {"english": "0", "text": "没有这个对象。"}

    reference_zh = _catalogue_with(tmp_path, monkeypatch, module, edit)
    found = dict(reference_zh.problems(module))
    keys = [key for key, _ in reference_zh.entries(module)]
    assert found[keys[0]] == "no translation"
    assert "changed since" in found[keys[1]]
    assert "English prose left" in found[keys[2]] and "left in English by mistake" in found[keys[2]]
    assert found["convlearn.losses.NoSuchLoss"] == "no such object on the English page"


def test_marking_an_updated_translation_records_the_english_fingerprint(tmp_path, monkeypatch):
    pytest.importorskip("griffe", reason='the docs tools: pip install -e ".[docs]"')
    module = "convlearn.losses"
    key = None

    def edit(entries):
        nonlocal key
        key = list(entries)[1]
        entries[key]["english"] = "000000000000"

    reference_zh = _catalogue_with(tmp_path, monkeypatch, module, edit)
    assert "changed since" in dict(reference_zh.problems(module))[key]
    reference_zh.mark(key)
    assert reference_zh.problems(module) == []
    with pytest.raises(KeyError, match="no entry"):
        reference_zh.mark("convlearn.losses.NoSuchLoss")


def test_a_translation_must_keep_the_example_code(tmp_path, monkeypatch):
    pytest.importorskip("griffe", reason='the docs tools: pip install -e ".[docs]"')
    module = "convlearn.explain"
    reference_zh = _catalogue_with(tmp_path, monkeypatch, module, lambda entries: None)
    key = next(k for k, obj in reference_zh.entries(module) if ">>>" in obj.docstring.value)

    def edit(entries):
        entries[key]["text"] = entries[key]["text"].replace(">>> ", ">>> x = 1; ", 1)

    reference_zh = _catalogue_with(tmp_path, monkeypatch, module, edit)
    assert dict(reference_zh.problems(module))[key] == "its example code differs from the English docstring's"


def test_a_chinese_reference_section_shows_the_translation(tmp_path):
    pytest.importorskip("griffe", reason='the docs tools: pip install -e ".[docs]"')
    import reference_zh
    obj = reference_zh._target("convlearn.layers.Flatten")
    text = "把输入展平成一维。\n\nParameters\n----------\ndata_format : str\n    数据格式。\n\nNotes\n-----\n与 Keras 相同。"
    markdown = reference_zh.render_docstring(text, obj)
    assert "把输入展平成一维。" in markdown and "**参数**" in markdown and "- **`data_format`** (`str`)：数据格式。" \
        in markdown and '!!! note "说明"' in markdown


def _article_text(page_html):
    """The text of a built page's article, code left out."""
    import html
    match = re.search(r"<article[^>]*>(.*?)</article>", page_html, re.DOTALL)
    body = re.sub(r"<(pre|code|script|style)[^>]*>.*?</\1>", " ", match.group(1) if match else "", flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_the_article_text_check_leaves_out_code_and_markup():
    page = "<nav>Skip to content here now</nav><article><p>卷积 <code>model.fit(x, y) and more</code></p>" \
           "<pre>print('this is a long English line')</pre><p>left in English by mistake</p></article>"
    assert english_prose(_article_text(page)) == ["left in English by mistake"]


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocs_static_i18n"):
        pytest.importorskip(module, reason='the docs tools: pip install -e ".[docs]"')
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            check=False, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    site = tmp_path / "site"
    layers = (site / "reference" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "convlearn.layers.Conv2D" in layers and "keras.layers.Conv2D" in layers
    import inspect

    import convlearn
    zh_layers = (site / "zh" / "reference" / "layers" / "index.html").read_text(encoding="utf-8")
    en_layers = (site / "reference" / "layers" / "index.html").read_text(encoding="utf-8")
    # the longest stretch of plain words in Conv2D's first docstring line ("slide over the image.")
    words = max(re.split(r"``[^`]*``|:", inspect.getdoc(convlearn.layers.Conv2D).splitlines()[0]), key=len).strip()
    assert len(words.split()) >= 3 and words in en_layers, words
    assert "convlearn.layers.Conv2D" in zh_layers and "参数" in zh_layers and words not in zh_layers, \
        "the Chinese reference shows the English docstrings"
    for built in sorted((site / "zh").rglob("index.html")):  # every Chinese page as built, generated parts too
        left = english_prose(_article_text(built.read_text(encoding="utf-8")))
        assert left == [], f"{built.relative_to(site)} shows English prose: {left[:3]}"
    support = (site / "zh" / "reference" / "keras-api" / "index.html").read_text(encoding="utf-8")
    assert "keras.layers.Conv3D" in support and "不支持" in support
    pooling = (site / "zh" / "learn" / "pooling" / "index.html").read_text(encoding="utf-8")
    paragraphs = re.findall(r"<p>(.*?)</p>", pooling, re.DOTALL)
    assert paragraphs and not any(re.search("[\u4e00-\u9fff]\\s+[\u4e00-\u9fff]", p) for p in paragraphs), \
        "a line break inside a Chinese paragraph shows as a space"
