"""Run the teacher's notebooks headless, top to bottom, as a student would (nox -s notebooks).

Each ``notebooks/post*.ipynb`` (or the paths given) runs in a fresh ``python3`` kernel with
nbclient; any cell that raises fails the run (exit 1) with the cell and its error. The target is
the environment's ``PORTWAY_TARGET`` (the session sets ``mock``: the fakes, offline). Nothing is
written back: the committed notebooks keep no outputs (``tests/test_notebooks.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 300  # s per cell: Post 3's first cell starts a LiteLLM proxy (20-30 s, more if busy)


def main(argv: list[str] | None = None) -> int:
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("post*.ipynb"))
    target = os.environ.get("PORTWAY_TARGET", "mock")
    failed: list[str] = []
    started_all = time.perf_counter()
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        started = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as error:
            failed.append(path.name)
            print(f"FAIL {path.name} ({target}): {error}", file=sys.stderr)
            continue
        print(f"ok   {path.name} ({target}) {time.perf_counter() - started:.1f} s", flush=True)
    print(
        f"{len(paths) - len(failed)} of {len(paths)} notebooks ran in "
        f"{time.perf_counter() - started_all:.1f} s"
    )
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main())
