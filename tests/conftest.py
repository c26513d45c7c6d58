"""Shared fixtures: tiny synthetic GTEx-like data, a device fixture."""

import pytest
import torch

from skimpute_gtex.datasets import make_gtex_like, simulate_missing

# fast settings for the deep imputers in tests: tiny networks, few epochs
FAST = dict(
    hidden_layer_sizes=(16,),
    max_iter=3,
    n_estimators=1,
    batch_size=16,
    early_stopping=False,
    device="cpu",
    random_state=0,
)


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
