"""docs/notebooks/review.ipynb runs top to bottom (so it never rots)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel")
pytest.importorskip("pandas", reason="the notebook needs pandas (cdss[jupyter])")
pytest.importorskip("matplotlib", reason="the notebook needs matplotlib (cdss[jupyter])")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "notebooks" / "review.ipynb"
KERNEL = "python3"

pytestmark = pytest.mark.skipif(not NOTEBOOK.exists(), reason="needs the source checkout")


def _spec_runs_this_python() -> bool:
    """Whether the ``python3`` kernelspec starts this interpreter (the venv's)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    except NoSuchKernel:
        return False
    # jupyter_client runs a bare "python"/"python3" as sys.executable
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}
    return bool(argv) and (argv[0] in bare
                           or os.path.abspath(argv[0]) == os.path.abspath(sys.executable))


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``python3`` mean this interpreter, installing a kernelspec if it does not."""
    if not _spec_runs_this_python():
        from ipykernel.kernelspec import install

        prefix = tmp_path / "kernel"
        install(kernel_name=KERNEL, prefix=str(prefix))
        monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        assert _spec_runs_this_python()


def _texts(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for mime in ("text/plain", "text/html"):
            if mime in out.get("data", {}):
                parts.append(out["data"][mime])
    return "\n".join(parts)


def test_review_notebook_runs(kernel_env: None, tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('PREFIX=' + sys.prefix)"))
    workdir = tmp_path / "run"
    workdir.mkdir()
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = "\n".join(_texts(c) for c in code)
    assert f"PREFIX={sys.prefix}" in text, "the kernel is not this environment's Python"
    assert re.search(r"compliance rate: \d+\.\d%", text)
    assert re.search(r"inputs 2000 = checked \d+ \+ errors \d+", text)
    assert "<AuditResult inputs=2000" in text
    assert any("text/html" in o.get("data", {}) for c in code for o in c.outputs), \
        "the AuditResult's HTML view"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), "the plot"
    assert "summary_by_site.parquet" in text and "suggestions.csv" in text
    assert "report.html" in text
    html = "\n".join(o["data"]["text/html"] for c in code for o in c.outputs
                     if "text/html" in o.get("data", {}))
    assert "cdss-trend" in html and "cdss-explain" in html, "trend and explain views"
    assert "vegaEmbed" in html or any(
        mime.startswith("application/vnd.vegalite") for c in code for o in c.outputs
        for mime in o.get("data", {})), "the interactive chart"
    assert "recomputed=0" in text, "the second partitioned run skips every partition"
    # the notebook keeps what it wrote (issue #18): the reader opens the report
    kept = workdir / "review-output"
    assert (kept / "report" / "report.html").exists()
    assert (kept / "partitioned" / "manifest.json").exists()


def test_the_stored_notebook_shows_its_outputs() -> None:
    """Stored executed (readers on GitHub see the tables and plots), and without
    paths of the machine that ran it."""
    nb = nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("outputs") for c in code), "run the notebook and store it with outputs"
    text = "\n".join(_texts(c) for c in code)
    assert "/tmp/" not in text and "/home/" not in text


def test_the_jupyter_extra_installs_what_the_notebook_imports() -> None:
    """``pip install 'cdss[jupyter]'`` is enough: every module the notebook imports is
    in the standard library, in cdss's own dependencies or in the jupyter extra, and
    the extra brings a kernel."""
    import ast
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"]["jupyter"]
    names = {re.split(r"[<>=\[ ;]", req)[0].lower().replace("_", "-")
             for req in [*project["dependencies"], *extra]}
    assert "ipykernel" in {re.split(r"[<>=\[ ;]", req)[0] for req in extra}
    nb = nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)
    imported: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module.split(".")[0])
    provided = packages_distributions()
    # IPython comes with ipykernel; altair is imported by trend().chart()
    needed = (imported | {"altair"}) - set(sys.stdlib_module_names) - {"cdss", "IPython"}
    missing = {m for m in needed
               if not {d.lower().replace("_", "-") for d in provided.get(m, [m])} & names}
    assert not missing, f"the notebook imports {missing}: add them to the jupyter extra"
