"""scikit-learn's estimator checks over every estimator of the package."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skimpute_gtex.utils import all_estimators

from .conftest import INIT_PARAMS

# check name -> reason, per estimator; empty means every check must pass
EXPECTED_FAILED_CHECKS = {}


def _instances():
    for name, cls in all_estimators():
        yield cls(**INIT_PARAMS.get(name, {}))


@parametrize_with_checks(
    list(_instances()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(
        type(est).__name__, {}
    ),
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# Default-constructed estimators, so that no fast setting hides a failure of
# the defaults. Only where a check would take minutes is a setting lowered:
DEFAULT_OVERRIDES = {
    # 500 epochs x up to 8 networks of 2 x 512 units on each of ~50 checks
    "PMIImputer": (dict(max_iter=2), "500 epochs per check take minutes"),
    "GAINImputer": (dict(max_iter=2), "500 epochs per check take minutes"),
    # 100 trees x 10 rounds per check
    "MissForestImputer": (dict(n_estimators=10), "100 trees take minutes"),
}


def _default_instances():
    for name, cls in all_estimators():
        if name == "CovariateImputer":
            yield cls()  # its default estimator is KNNImputer()
            continue
        params, _reason = DEFAULT_OVERRIDES.get(name, ({}, ""))
        yield cls(**params)


@parametrize_with_checks(
    list(_default_instances()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(
        type(est).__name__, {}
    ),
)
def test_sklearn_compatible_with_defaults(estimator, check):
    check(estimator)


def test_passthrough_keeps_dtypes_in_pandas_output(gtex_small):
    # set_output(transform="pandas") with covariate_output="passthrough":
    # genes and numerical covariates stay float, categorical ones keep theirs
    from skimpute_gtex import PMIImputer
    from skimpute_gtex.baselines import TissueMedianImputer

    X = gtex_small.X.drop(columns=["donor"])
    spec = gtex_small.covariate_spec
    for imp in [
        PMIImputer(covariates=spec, covariate_output="passthrough", max_iter=1,
                   hidden_layer_sizes=(8,), random_state=0),
        TissueMedianImputer(covariates=spec, covariate_output="passthrough"),
    ]:
        out = imp.set_output(transform="pandas").fit_transform(X)
        assert list(out.columns) == list(imp.get_feature_names_out())
        assert out.index.equals(X.index)
        genes = out.columns[: imp.gene_indices_.size]
        assert all(out[g].dtype == np.float64 for g in genes)
        assert out["age"].dtype == np.float64
        assert out["tissue"].dtype == X["tissue"].dtype
        assert (out["tissue"] == X["tissue"]).all()
