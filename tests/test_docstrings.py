"""Docstrings match the code (imbalanced-learn's ``test_docstring_parameters``).

* Every fitted public attribute (``name_``) of every estimator of
  :func:`skimpute_gtex.utils.all_estimators` is documented in the
  ``Attributes`` section of its class docstring, and every documented
  attribute exists after ``fit``.
* Every public function of :mod:`skimpute_gtex.datasets`,
  :mod:`skimpute_gtex.metrics` and :mod:`skimpute_gtex.model_selection` has
  ``Parameters``, ``Returns`` and ``Examples`` sections, and its
  ``Parameters`` section documents exactly the parameters of its signature.
"""

import inspect
import re
import warnings
from importlib import import_module

import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.utils import all_estimators

from .conftest import INIT_PARAMS

try:
    from numpydoc.docscrape import ClassDoc, FunctionDoc
except ImportError:  # pragma: no cover - numpydoc is in the docs extra
    ClassDoc = FunctionDoc = None

PUBLIC_FUNCTION_MODULES = [
    "skimpute_gtex.datasets",
    "skimpute_gtex.metrics",
    "skimpute_gtex.model_selection",
    "skimpute_gtex.distributed",
]

ESTIMATORS = all_estimators()


# ----------------------------------------------------------- docstring parsing
def _manual_sections(doc):
    """``{section title: [lines]}`` of a numpydoc docstring (no numpydoc)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    sections, current = {}, None
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}", underline.strip()):
            current = line.strip()
            sections[current] = []
        elif current is not None and not re.fullmatch(r"-{3,}", line.strip()):
            sections[current].append(line)
    return sections


def _manual_names(section_lines):
    """Names of the ``name : type`` entries of a Parameters-like section."""
    names = []
    for line in section_lines:
        if line and not line[0].isspace():
            names.extend(
                n.strip() for n in line.split(" : ")[0].split(",") if n.strip()
            )
    return names


def documented_attributes(cls):
    """Names listed in the ``Attributes`` section of the class docstring."""
    if ClassDoc is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            doc = ClassDoc(cls, config={"show_class_members": False})
        return [attr.name for attr in doc["Attributes"]]
    return _manual_names(_manual_sections(cls.__doc__).get("Attributes", []))


def function_sections(func):
    """``{section: entries}`` for Parameters, Returns and Examples."""
    if FunctionDoc is not None:
        doc = FunctionDoc(func, config={})
        return {
            "Parameters": [p.name for p in doc["Parameters"]],
            "Returns": [r.name or r.type for r in doc["Returns"]],
            "Examples": [line for line in doc["Examples"] if line.strip()],
        }
    sections = _manual_sections(func.__doc__)
    return {
        "Parameters": _manual_names(sections.get("Parameters", [])),
        "Returns": _manual_names(sections.get("Returns", [])),
        "Examples": [line for line in sections.get("Examples", []) if line.strip()],
    }


# -------------------------------------------------------------- fitted attributes
@pytest.fixture(scope="module")
def gtex_frame():
    """60 samples x 6 genes with tissue, donor, sex and age; 20% MCAR."""
    data = make_gtex_like(n_samples=60, n_genes=6, n_tissues=3, random_state=0)
    X = data.frame.copy()
    X.iloc[:, :6], _ = simulate_missing(data.expression, 0.2, random_state=0)
    spec = data.covariate_spec + [("donor", "categorical", ["donor"])]
    return X, spec


@pytest.mark.parametrize(
    "name, Estimator", ESTIMATORS, ids=[name for name, _ in ESTIMATORS]
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_docstring_attributes(name, Estimator, gtex_frame):
    X, spec = gtex_frame
    estimator = clone(Estimator(**INIT_PARAMS.get(name, {})))
    # covariates given as DataFrame columns, so that ``categories_`` and
    # ``feature_names_in_`` are set too
    estimator.set_params(covariates=spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)

    documented = set(documented_attributes(Estimator))
    fitted = {
        attr
        for attr in vars(estimator)
        if attr.endswith("_") and not attr.startswith("_")
    }
    undocumented = sorted(fitted - documented)
    assert not undocumented, (
        f"{name}: fitted attributes missing from the Attributes section of the "
        f"docstring: {undocumented}"
    )
    not_set = sorted(a for a in documented if not hasattr(estimator, a))
    assert not not_set, (
        f"{name}: documented attributes that do not exist after fit: {not_set}"
    )


# ------------------------------------------------------------- public functions
def _public_functions():
    for module_name in PUBLIC_FUNCTION_MODULES:
        module = import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


PUBLIC_FUNCTIONS = list(_public_functions())


@pytest.mark.parametrize(
    "name, func", PUBLIC_FUNCTIONS, ids=[name for name, _ in PUBLIC_FUNCTIONS]
)
def test_public_function_docstring(name, func):
    sections = function_sections(func)
    for section in ("Parameters", "Returns", "Examples"):
        assert sections[section], f"{name}: empty or missing {section} section"

    # the Parameters section documents the signature, in order
    signature = inspect.signature(inspect.unwrap(func))
    expected = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert sections["Parameters"] == expected, (
        f"{name}: documented parameters {sections['Parameters']} differ from "
        f"the signature {expected}"
    )


def test_public_functions_found():
    """The crawl above is not vacuous."""
    names = {name.rsplit(".", 1)[1] for name, _ in PUBLIC_FUNCTIONS}
    assert {"make_gtex_like", "masked_r2_score", "gtex_donor_split"} <= names
