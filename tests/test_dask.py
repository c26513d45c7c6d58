"""Model selection on a dask cluster through joblib equals the serial run."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skimpute_gtex import PMIImputer
from skimpute_gtex.datasets import make_gtex_like
from skimpute_gtex.metrics import make_imputation_scorer

distributed = pytest.importorskip("dask.distributed")

SCORES = ("mean_test_score", "std_test_score", "rank_test_score",
          "split0_test_score", "split1_test_score", "split2_test_score")


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each; shut down after the module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def problem():
    data = make_gtex_like(n_samples=120, n_genes=20, n_tissues=3, random_state=0)
    X = data.frame.drop(columns="donor")
    imputer = PMIImputer(covariates=data.covariate_spec, hidden_layer_sizes=(16,),
                         max_iter=3, batch_size=16, early_stopping=False,
                         random_state=0)
    scorer = make_imputation_scorer("r2", missing_rate=0.3, random_state=0)
    return X, imputer, scorer, KFold(3, shuffle=True, random_state=0)


def test_grid_search_on_a_local_cluster_equals_serial(client, problem):
    from joblib import parallel_config

    X, imputer, scorer, cv = problem
    search = GridSearchCV(
        imputer, {"hidden_layer_sizes": [(8,), (16,)],
                  "learning_rate_init": [1e-3, 1e-2]},
        scoring=scorer, cv=cv)
    serial = clone(search).fit(X)
    with distributed.get_task_stream(client) as tasks:
        with parallel_config(backend="dask"):
            on_cluster = clone(search).set_params(n_jobs=-1).fit(X)
    # the fits ran on the cluster's workers, not in this process
    workers = {t["worker"] for t in tasks.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    for key in SCORES:
        np.testing.assert_array_equal(on_cluster.cv_results_[key],
                                      serial.cv_results_[key], err_msg=key)
    assert on_cluster.cv_results_["params"] == serial.cv_results_["params"]
    assert on_cluster.best_params_ == serial.best_params_
    # the refit on the whole data (done here) is the serial one too
    np.testing.assert_array_equal(on_cluster.transform(X), serial.transform(X))


def test_cross_val_score_on_a_local_cluster_equals_serial(client, problem):
    from joblib import parallel_config

    X, imputer, scorer, cv = problem
    serial = cross_val_score(imputer, X, scoring=scorer, cv=cv)
    with parallel_config(backend="dask"):
        on_cluster = cross_val_score(imputer, X, scoring=scorer, cv=cv, n_jobs=-1)
    np.testing.assert_array_equal(on_cluster, serial)
