"""Shared fixtures: tiny synthetic GTEx-like data, a device fixture."""

import pytest
import torch
from sklearn.impute import KNNImputer

from skimpute_gtex.cli import FAST_PARAMS
from skimpute_gtex.datasets import make_gtex_like, simulate_missing

# The fast settings of the deep imputers: the package's one home of them is
# skimpute_gtex.cli.FAST_PARAMS (the CLI's --fast, the harness's --fast); tests
# add one network, small batches, the CPU and a seed.
FAST = dict(
    FAST_PARAMS,
    n_estimators=1,
    batch_size=16,
    device="cpu",
    random_state=0,
)

# fast constructor arguments per estimator (imbalanced-learn's INIT_PARAMS)
INIT_PARAMS = {
    "PMIImputer": FAST,
    "GAINImputer": dict(FAST, adversarial_weight=1.0),
    "MissForestImputer": dict(n_estimators=5, max_iter=2, random_state=0),
    "CovariateImputer": dict(estimator=KNNImputer()),
}


@pytest.fixture(scope="module")
def gtex_small():
    """200 samples x 30 genes with tissue/donor/sex/age, 30% MCAR in the genes."""
    data = make_gtex_like(n_samples=200, n_genes=30, n_tissues=5, random_state=0)
    X = data.frame.copy()
    X_missing, mask = simulate_missing(data.expression, 0.3, random_state=0)
    X.iloc[:, :30] = X_missing
    data.X = X
    data.mask = mask
    return data


@pytest.fixture(
    params=["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device"))]
)
def device(request):
    return request.param
