"""AnnData in and out: skimpute_gtex.io.read_anndata / write_anndata."""

import builtins

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from skimpute_gtex import PMIImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # anndata 0.12 reads a pandas option that pandas 3 deprecates
    pytest.mark.filterwarnings(
        "ignore:The 'future.infer_string' option is deprecated"),
]

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=16, device="cpu",
            random_state=0)


@pytest.fixture
def ad():
    return pytest.importorskip("anndata")


def plain(frame):
    """``frame`` with str columns and index of object dtype.

    anndata 0.12 refuses to write pandas 3's ``str`` arrays by default.
    """
    frame = frame.copy()
    frame.index = pd.Index([str(i) for i in frame.index], dtype=object)
    for name in frame.columns:
        if pd.api.types.is_string_dtype(frame[name].dtype):
            frame[name] = frame[name].astype(object)
    return frame


def make_adata(ad, n_obs=40, n_vars=8, seed=0, dtype=np.float32):
    data = make_gtex_like(n_samples=n_obs, n_genes=n_vars, n_tissues=3,
                          random_state=seed)
    X, _ = simulate_missing(data.expression.to_numpy(), 0.3, random_state=seed)
    obs = plain(data.covariates.set_axis([f"S{i:03d}" for i in range(n_obs)]))
    var = plain(pd.DataFrame({"symbol": [f"SYM{j}" for j in range(n_vars)]},
                             index=list(data.gene_names)))
    adata = ad.AnnData(X=X.astype(dtype), obs=obs, var=var)
    adata.uns["study"] = {"name": "test", "version": 2}
    adata.layers["counts"] = np.round(np.exp(np.nan_to_num(X)))
    return adata


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("source", ["object", "file"])
def test_round_trip_keeps_observed_bits_and_annotations(ad, tmp_path, source):
    from skimpute_gtex.io import read_anndata, write_anndata

    adata = make_adata(ad)
    path = tmp_path / "study.h5ad"
    adata.write_h5ad(path)  # anndata turns the str obs columns categorical
    before = adata.copy()
    given = adata if source == "object" else path
    data = read_anndata(given, categorical=["tissue", "sex"], numerical="age")
    assert data.covariate_spec == [("tissue", "categorical", ["tissue"]),
                                   ("sex", "categorical", ["sex"]),
                                   ("age", "numerical", ["age"])]
    assert list(data.frame.columns) == [*adata.var_names, "tissue", "sex", "age"]
    assert list(data.frame.index) == list(adata.obs_names)
    assert (data.frame.dtypes.iloc[:8] == np.float32).all()
    model = PMIImputer(covariates=data.covariate_spec, **FAST)
    imputed = model.fit_transform(data.frame)
    out = tmp_path / "imputed.h5ad"
    result = write_anndata(given, imputed, out)
    back = ad.read_h5ad(out)
    for written in (result, back):
        observed = ~np.isnan(adata.X)
        assert written.X.dtype == np.float32 and not np.isnan(written.X).any()
        np.testing.assert_array_equal(bits(written.X)[observed],
                                      bits(adata.X)[observed])
        np.testing.assert_array_equal(bits(written.layers["observed"]),
                                      bits(adata.X))
        np.testing.assert_array_equal(written.layers["counts"],
                                      adata.layers["counts"])
        assert list(written.var_names) == list(adata.var_names)
        assert list(written.var["symbol"]) == list(adata.var["symbol"])
        assert list(written.obs_names) == list(adata.obs_names)
        for name in adata.obs.columns:
            assert list(written.obs[name]) == list(adata.obs[name])
        assert dict(written.uns["study"]) == {"name": "test", "version": 2}
    # the input is untouched
    np.testing.assert_array_equal(bits(adata.X), bits(before.X))
    pd.testing.assert_frame_equal(adata.obs, before.obs)
    assert list(adata.layers) == ["counts"]


def test_read_layer_and_integer_counts(ad):
    from skimpute_gtex.io import read_anndata

    adata = make_adata(ad)
    adata.layers["counts"] = adata.layers["counts"].astype(np.int64)
    data = read_anndata(adata, layer="counts")
    assert data.covariate_spec is None and data.covariate_names == []
    assert (data.frame.dtypes == np.float64).all()
    np.testing.assert_array_equal(data.frame.to_numpy(), adata.layers["counts"])
    # a copy: the frame never shares memory with the caller's object
    data = read_anndata(adata)
    assert not np.shares_memory(data.frame.to_numpy(), adata.X)
    assert list(data.gene_names) == list(adata.var_names)
    assert list(data.sample_ids) == list(adata.obs_names)


@pytest.mark.parametrize("source", ["object", "file"])
def test_sparse_x_is_densified_block_by_block(ad, tmp_path, monkeypatch, source):
    import skimpute_gtex.io._anndata as io_module
    from skimpute_gtex.io import read_anndata, write_anndata

    monkeypatch.setattr(io_module, "_BLOCK_ENTRIES", 8 * 7)  # 7 rows a block
    adata = make_adata(ad)
    dense = np.nan_to_num(adata.X)
    dense[dense < 1.0] = 0.0  # implicit zeros: observed zeros
    dense[3, 2] = dense[17, 5] = np.nan  # explicit NaN: missing
    adata.X = sparse.csr_matrix(dense)
    path = tmp_path / "sparse.h5ad"
    adata.write_h5ad(path)
    data = read_anndata(adata if source == "object" else path)
    np.testing.assert_array_equal(data.frame.to_numpy(), dense)
    imputed = data.frame.fillna(-1.0)
    result = write_anndata(adata if source == "object" else path, imputed)
    assert sparse.issparse(result.layers["observed"])
    np.testing.assert_array_equal(result.layers["observed"].toarray(), dense)
    assert result.X[3, 2] == -1.0 and np.isnan(dense[3, 2])
    bad = imputed.copy()
    bad.iloc[30, 0] += 1.0  # an observed entry, past the first blocks
    with pytest.raises(ValueError, match="differs from the observed one"):
        write_anndata(adata, bad)


def test_write_matches_frames_by_name(ad):
    from skimpute_gtex.io import read_anndata, write_anndata

    adata = make_adata(ad)
    data = read_anndata(adata, categorical="tissue")
    filled = data.frame.iloc[:, :8].fillna(0.0)
    # covariates passed through, genes and samples in another order
    shuffled = filled.assign(tissue=data.frame["tissue"]).iloc[::-1, ::-1]
    result = write_anndata(adata, shuffled)
    np.testing.assert_array_equal(result.X, filled.to_numpy())
    with pytest.raises(ValueError, match="differs from the observed one"):
        write_anndata(adata, filled.to_numpy()[::-1])  # an array is positional
    with pytest.raises(ValueError, match="has shape"):
        write_anndata(adata, filled.to_numpy()[:, :5])
    with pytest.raises(ValueError, match="lacks 1 gene"):
        write_anndata(adata, filled.iloc[:, 1:])
    with pytest.raises(ValueError, match="not the obs_names"):
        write_anndata(adata, filled.set_axis([f"X{i}" for i in range(40)]))


def test_interval_bounds_and_layer_names(ad):
    from skimpute_gtex.io import read_anndata, write_anndata

    adata = make_adata(ad)
    filled = read_anndata(adata).frame.fillna(1.0)
    lower, upper = filled - 0.5, filled + 0.5
    result = write_anndata(adata, filled, lower=lower, upper=upper)
    np.testing.assert_array_equal(result.layers["lower"], lower.to_numpy())
    np.testing.assert_array_equal(result.layers["upper"], upper.to_numpy())
    with pytest.raises(ValueError, match="already has a layer 'counts'"):
        write_anndata(adata, filled, observed_layer="counts")
    # imputing a layer: X moves to layers["X_original"]
    counts = read_anndata(adata, layer="counts").frame
    result = write_anndata(adata, counts, layer="counts")
    np.testing.assert_array_equal(result.layers["X_original"], adata.X)
    np.testing.assert_array_equal(result.layers["observed"], adata.layers["counts"])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(categorical="organ"), ValueError, r"\['organ'\] are not in obs"),
        (dict(numerical="tissue"), ValueError, "'tissue' .* is not numeric"),
        (dict(categorical="age", numerical="age"), ValueError, "both"),
        (dict(layer="tpm"), ValueError, "no layer 'tpm'"),
        (dict(categorical=[1]), TypeError, "column name"),
    ],
    ids=["unknown", "not-numeric", "both", "no-layer", "not-a-name"],
)
def test_read_errors(ad, kwargs, error, message):
    from skimpute_gtex.io import read_anndata

    with pytest.raises(error, match=message):
        read_anndata(make_adata(ad), **kwargs)


def test_read_errors_on_the_object(ad, tmp_path):
    from skimpute_gtex.io import read_anndata

    adata = make_adata(ad)
    adata.obs["GENE00001"] = 1.0
    with pytest.raises(ValueError, match="also gene names"):
        read_anndata(adata, numerical="GENE00001")
    adata.var_names = ["G"] * 8
    with pytest.raises(ValueError, match="var_names_make_unique"):
        read_anndata(adata)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_anndata(tmp_path / "nope.h5ad")
    with pytest.raises(TypeError, match="path_or_adata"):
        read_anndata(np.zeros((2, 2)))


def test_missing_anndata_is_a_clear_import_error(monkeypatch):
    from skimpute_gtex.io import read_anndata, write_anndata

    real_import = builtins.__import__

    def no_anndata(name, *args, **kwargs):
        if name == "anndata" or name.startswith("anndata."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_anndata)
    for call in (lambda: read_anndata("x.h5ad"),
                 lambda: write_anndata("x.h5ad", np.zeros((1, 1)))):
        with pytest.raises(ImportError, match=r"skimpute-gtex\[anndata\]"):
            call()
