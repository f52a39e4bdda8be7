"""The notebooks of examples/ run from top to bottom in a real Jupyter kernel (nbclient), with
``CONVLEARN_NOTEBOOK_QUICK=1`` for small numbers, and convlearn's progress bar and summary render
there as they do in a terminal: the bar redraws one line in place, the summary is one table.
"""

import json
import pathlib
import re

import pytest

nbformat = pytest.importorskip("nbformat", reason='the notebook tests need nbformat: pip install -e ".[test]"')
nbclient = pytest.importorskip("nbclient", reason='the notebook tests need nbclient: pip install -e ".[test]"')
pytest.importorskip("ipykernel", reason='the notebook tests need a Jupyter kernel: pip install -e ".[test]"')

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def as_displayed(text):
    """What a notebook shows for a stream: a carriage return goes back to the start of the line."""
    lines = []
    for line in text.split("\n"):
        lines.append(line.rsplit("\r", 1)[-1])
    return _ANSI.sub("", "\n".join(lines))


def stdout_of(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Each notebook, executed once in a fresh kernel (cwd: a temporary folder)."""
    import os

    os.environ["CONVLEARN_NOTEBOOK_QUICK"] = "1"
    results = {}
    try:
        for path in NOTEBOOKS:
            notebook = nbformat.read(path, as_version=4)
            workdir = tmp_path_factory.mktemp(path.stem)
            client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                             resources={"metadata": {"path": str(workdir)}})
            client.execute()
            results[path.name] = notebook
    finally:
        del os.environ["CONVLEARN_NOTEBOOK_QUICK"]
    return results


def test_there_are_the_guide_and_two_tutorials():
    assert {p.name for p in NOTEBOOKS} >= {"guide_mnist.ipynb", "tutorial_explain.ipynb", "tutorial_residual.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_is_valid_and_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "CONVLEARN_NOTEBOOK_QUICK" in json.dumps(notebook)  # it can run small in CI


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_runs_without_errors(executed, path):
    notebook = executed[path.name]
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.output_type == "error"]
    assert errors == []
    assert all(c.execution_count for c in notebook.cells if c.cell_type == "code")


def _cell(notebook, needle):
    return next(c for c in notebook.cells if c.cell_type == "code" and needle in c.source)


def test_the_progress_bar_redraws_one_line_in_place_in_a_notebook(executed):
    raw = stdout_of(_cell(executed["guide_mnist.ipynb"], "model.fit("))
    assert raw.count("\r") > 1, "the bar should redraw (a carriage return per update) in a Jupyter kernel"
    shown = [line for line in as_displayed(raw).splitlines() if line.strip()]
    assert len(shown) == 1, shown  # one epoch: one line left on screen
    assert re.fullmatch(r"\d+/\d+ ━{20} \d+s \d+ms/step - accuracy: 0\.\d{4} - loss: \d\.\d{4}", shown[0].strip()), \
        shown[0]


def test_the_summary_is_one_table_in_a_notebook(executed):
    shown = as_displayed(stdout_of(_cell(executed["guide_mnist.ipynb"], "model.summary()")))
    lines = shown.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert "Total params: 542,230" in shown
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert len({len(line) for line in table}) == 1, "every row of the table has the same width"


def test_figures_display_inline(executed):
    cell = _cell(executed["tutorial_explain.ipynb"], "explain.plot_history(history)")
    assert any("image/png" in out.get("data", {}) for out in cell.outputs)


def test_the_displayed_text_helper_follows_carriage_returns():
    assert as_displayed("\x1b[1m1/3\x1b[0m a\r2/3 b\r3/3 c\nnext") == "3/3 c\nnext"
