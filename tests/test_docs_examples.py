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


_STRIP = [
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


def test_the_prose_check_finds_english_and_ignores_code():
    assert english_prose("卷积层 `model.fit(x, y, epochs=1)` 用 Keras 的 API。\n```python\nprint('a b c d e')\n```")\
        == []
    assert english_prose("这一段 was left in English by mistake。") == ["was left in English by mistake"]


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.zh.md")), ids=page_id)
def test_chinese_pages_have_no_english_prose(page):
    assert english_prose(page.read_text(encoding="utf-8")) == []


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
    support = (site / "zh" / "reference" / "keras-api" / "index.html").read_text(encoding="utf-8")
    assert "keras.layers.Conv3D" in support and "不支持" in support
    pooling = (site / "zh" / "learn" / "pooling" / "index.html").read_text(encoding="utf-8")
    paragraphs = re.findall(r"<p>(.*?)</p>", pooling, re.DOTALL)
    assert paragraphs and not any(re.search("[\u4e00-\u9fff]\\s+[\u4e00-\u9fff]", p) for p in paragraphs), \
        "a line break inside a Chinese paragraph shows as a space"
