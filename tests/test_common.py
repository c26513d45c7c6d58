"""scikit-learn's estimator checks over every estimator of the package."""

import pytest
from sklearn.impute import KNNImputer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skimpute_gtex.utils import all_estimators

# fast constructor arguments per estimator (imbalanced-learn's INIT_PARAMS)
INIT_PARAMS = {
    "PMIImputer": dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=8,
                       early_stopping=False, device="cpu", random_state=0),
    "GAINImputer": dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=8,
                        adversarial_weight=1.0,
                        early_stopping=False, device="cpu", random_state=0),
    "MissForestImputer": dict(n_estimators=5, max_iter=2, random_state=0),
    "CovariateImputer": dict(estimator=KNNImputer()),
}

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
