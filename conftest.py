"""pytest, for the whole checkout: the doctests of ``skimpute_gtex.io`` need
anndata, an optional dependency (kept out of the installed package)."""

import pytest

try:
    import anndata  # noqa: F401
except ImportError:
    collect_ignore = ["skimpute_gtex/io/_anndata.py"]

#: anndata 0.12 reads a pandas option that pandas 3 deprecates
ANNDATA_ON_PANDAS_3 = "ignore:The 'future.infer_string' option is deprecated"


def pytest_collection_modifyitems(items):
    for item in items:
        if "skimpute_gtex/io/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings(ANNDATA_ON_PANDAS_3))
