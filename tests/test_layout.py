"""The package's house rules (issue 14), checked so that they stay true."""

import ast
import pathlib
import subprocess
import sys

import pytest

import skimpute_gtex

PACKAGE = pathlib.Path(skimpute_gtex.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_torch_is_imported_only_under_torch(path):
    if "_torch" in path.relative_to(PACKAGE).parts:
        return
    torch_imports = [m for m in _imports(path) if m.split(".")[0] == "torch"]
    assert not torch_imports, f"{path.name} imports {torch_imports}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_600_lines(path):
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert n_lines <= 600, f"{path.name} has {n_lines} lines"


def test_torch_free_subpackages_import_without_torch():
    code = (
        "import sys\n"
        "import skimpute_gtex.baselines, skimpute_gtex.metrics\n"
        "import skimpute_gtex.datasets, skimpute_gtex.model_selection\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_deep_imputers_load_on_first_use():
    from skimpute_gtex import GAINImputer, PMIImputer

    assert PMIImputer.__module__ == "skimpute_gtex._torch._pmi"
    assert GAINImputer.__module__ == "skimpute_gtex._torch._gain"
    assert {"PMIImputer", "GAINImputer"} <= set(dir(skimpute_gtex))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        skimpute_gtex.Nope  # noqa: B018
