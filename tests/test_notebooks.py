"""The teacher's notebooks keep their shape: what a student opens is runnable and honest.

Executing them is ``nox -s notebooks`` (CI); this checks, fast, what execution cannot: each is
valid nbformat 4 with a Python 3 kernel, its first code cell reads ``PORTWAY_TARGET``, every cell
that reveals a result comes after a "Predict first" cell asking a question, every other code
cell says what it is, and no outputs are committed (a student sees their own run, not ours).
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")  # in the test extra

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
POSTS = ("post1", "post2", "post3", "post6", "post7")  # and Posts 4-5 when they land
PREDICT = "**Predict first:**"
ROLES = {"reveal", "helper", "cleanup"}  # what a code cell after the first one is


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("post*.ipynb"))


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def test_every_post_of_the_pack_has_its_notebook() -> None:
    assert {p.stem for p in notebooks()} >= set(POSTS)


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_the_notebook_is_valid_and_starts_from_portway_target(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert 'os.environ.get("PORTWAY_TARGET"' in code[0].source
    assert '"mock"' in code[0].source  # the fake is the default


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_each_reveal_comes_after_a_predict_first_question(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    first_code = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    reveals = 0
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or index == first_code:
            continue
        assert len(tags(cell) & ROLES) == 1, f"cell {index} needs one tag of {sorted(ROLES)}"
        if "reveal" not in tags(cell):
            continue
        reveals += 1
        before = next(c for c in reversed(cells[:index]) if c.cell_type == "markdown")
        assert before.source.startswith(PREDICT), f"cell {index} reveals without a prediction"
        assert "?" in before.source
    assert reveals >= 2


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_no_outputs_are_committed(path: Path) -> None:
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
