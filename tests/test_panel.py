"""Gene panels: the ridge regression of any genes on others, and PMI's use of it."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeCV

import skimpute_gtex._panel as panel_module
from skimpute_gtex import PMIImputer
from skimpute_gtex._compose._panels import MIN_PANEL_ROWS, panel_groups
from skimpute_gtex._panel import LinearReference, covariate_features, mixture_weight

FAST = dict(hidden_layer_sizes=(16,), max_iter=3, batch_size=16, device="cpu",
            random_state=0)


def _reference(n, n_genes, seed=0):
    rng = np.random.RandomState(seed)
    latent = rng.normal(size=(n, 3))
    genes = latent @ rng.normal(size=(3, n_genes)) + 0.5 * rng.normal(
        size=(n, n_genes))
    genes = genes * rng.uniform(0.5, 3.0, n_genes) + rng.uniform(0, 5, n_genes)
    codes = rng.randint(1, 4, size=(n, 1))
    numeric = rng.normal(size=(n, 1))
    return genes, numeric, codes


@pytest.mark.parametrize("n, n_genes", [(60, 12), (20, 40)],
                         ids=["more rows", "more genes"])
def test_linear_reference_is_ridge(monkeypatch, n, n_genes):
    # one penalty: the predictions are sklearn's Ridge on the panel genes
    # (standardized or in the data's units) and covariates, of the
    # standardized other genes
    monkeypatch.setattr(panel_module, "ALPHAS", np.array([3.0]))
    genes, numeric, codes = _reference(n, n_genes)
    mean, scale = genes.mean(axis=0), genes.std(axis=0)
    cov = covariate_features(numeric, codes, [3])
    valid = np.ones(n_genes, dtype=bool)
    linear = LinearReference(genes, np.ones_like(genes, dtype=bool), mean, scale,
                             cov, valid, np.random.RandomState(0))
    visible = np.zeros(n_genes, dtype=bool)
    visible[[0, 3, 5]] = True
    new, new_num, new_codes = _reference(7, n_genes, seed=1)
    new_cov = covariate_features(new_num, new_codes, [3])
    z = (new[:, visible] - mean[visible]) / scale[visible]
    ours = linear.predict(visible, z, new_cov)
    target = (genes[:, ~visible] - mean[~visible]) / scale[~visible]
    ridges = []
    for inputs, new_inputs in [(genes[:, visible], new[:, visible]),
                               ((genes[:, visible] - mean[visible])
                                / scale[visible], z)]:
        ridge = Ridge(alpha=3.0).fit(np.hstack([inputs, cov]), target)
        ridges.append(ridge.predict(np.hstack([new_inputs, new_cov])))
    assert any(np.allclose(ours, r, rtol=1e-6, atol=1e-8) for r in ridges)


def test_linear_reference_chooses_ridgecv_penalty():
    # exact leave-one-out (the factor holds the rows): RidgeCV's choice of
    # penalty, and of the scale of the inputs (RidgeCV's best on each)
    genes, numeric, codes = _reference(30, 50)
    mean, scale = genes.mean(axis=0), genes.std(axis=0)
    cov = covariate_features(numeric, codes, [3])
    linear = LinearReference(genes, np.ones_like(genes, dtype=bool), mean, scale,
                             cov, np.ones(50, dtype=bool), np.random.RandomState(0))
    visible = np.zeros(50, dtype=bool)
    visible[:35] = True  # more inputs than rows
    z = (genes[:5, visible] - mean[visible]) / scale[visible]
    ours = linear.predict(visible, z, cov[:5])
    target = (genes[:, ~visible] - mean[~visible]) / scale[~visible]
    best = None
    for inputs in (genes[:, visible],
                   (genes[:, visible] - mean[visible]) / scale[visible]):
        design = np.hstack([inputs, cov])
        ridge = RidgeCV(alphas=panel_module.ALPHAS).fit(design, target)
        if best is None or ridge.best_score_ > best[0]:
            best = ridge.best_score_, ridge.predict(design[:5])
    np.testing.assert_allclose(ours, best[1], rtol=1e-5, atol=1e-7)


def _noisy_reference(n, noise, seed=0):
    # targets from pure noise to almost exact (noise=(0.05, 20)): their best
    # penalties differ; more genes than rows, so that the factor holds the rows
    rng = np.random.RandomState(seed)
    inputs = rng.normal(size=(n, 6))
    noise = np.geomspace(*noise, 2 * n)
    targets = inputs @ rng.normal(size=(6, 2 * n)) + noise * rng.normal(
        size=(n, 2 * n))
    return np.hstack([inputs, targets])


def _crossfit_errors(design, target, folds):
    """Squared errors of one RidgeCV penalty and one per target, each fold
    predicted from the others (sklearn's RidgeCV chooses by leave-one-out)."""
    n = len(design)
    errors = np.zeros(2)
    for fold in range(folds):
        test = np.arange(fold, n, folds)
        train = np.setdiff1d(np.arange(n), test)
        for j, per_target in enumerate((False, True)):
            ridge = RidgeCV(alphas=panel_module.ALPHAS,
                            alpha_per_target=per_target)
            ridge.fit(design[train], target[train])
            errors[j] += np.sum((ridge.predict(design[test]) - target[test]) ** 2)
    return errors


@pytest.mark.parametrize("noise", [(0.05, 20.0), (1.0, 1.0)],
                         ids=["unequal noise", "equal noise"])
@pytest.mark.parametrize("seed", [0, 1])
def test_linear_reference_penalty_per_target_when_it_cross_fits_better(
        noise, seed):
    # the cross-fit's verdict is sklearn's, and the predictions are RidgeCV's
    # with one penalty or one per target accordingly
    genes = _noisy_reference(40, noise, seed)
    n_genes = genes.shape[1]
    mean, scale = genes.mean(axis=0), genes.std(axis=0)
    cov = np.zeros((len(genes), 0))
    linear = LinearReference(genes, np.ones_like(genes, dtype=bool), mean, scale,
                             cov, np.ones(n_genes, dtype=bool),
                             np.random.RandomState(0))
    visible = np.arange(n_genes) < 6
    z = (genes[:, visible] - mean[visible]) / scale[visible]
    ours = linear.predict(visible, z, cov)
    target = (genes[:, ~visible] - mean[~visible]) / scale[~visible]
    best = None
    for inputs in (genes[:, visible], z):  # the input scale, by leave-one-out
        ridge = RidgeCV(alphas=panel_module.ALPHAS).fit(inputs, target)
        if best is None or ridge.best_score_ > best[0]:
            best = ridge.best_score_, inputs
    design = best[1]
    shared, per_target = _crossfit_errors(design, target,
                                          panel_module.CROSS_FIT_FOLDS)
    expected = RidgeCV(alphas=panel_module.ALPHAS,
                       alpha_per_target=bool(per_target < shared))
    expected = expected.fit(design, target).predict(design)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)


def test_mixture_weight():
    truth = np.arange(5.0)
    assert mixture_weight(truth, truth + 1, truth) == 1.0
    assert mixture_weight(truth + 1, truth, truth) == 0.0
    assert mixture_weight(truth + 1, truth - 1, truth) == pytest.approx(0.5)


def test_panel_groups():
    mask = np.ones((6, 4), dtype=bool)
    mask[[0, 2, 4], 1] = False  # a panel of three rows
    mask[1, 3] = False  # a row of its own
    groups = panel_groups(mask, np.ones(4, dtype=bool))
    assert len(groups) == 1
    rows, visible = groups[0]
    np.testing.assert_array_equal(rows, [0, 2, 4])
    np.testing.assert_array_equal(visible, [True, False, True, True])
    assert MIN_PANEL_ROWS == 2
    # complete rows share a pattern but have nothing to impute
    assert panel_groups(np.ones((5, 3), dtype=bool), np.ones(3, dtype=bool)) == []


@pytest.fixture(scope="module")
def panel_fit(gtex_small):
    X = gtex_small.X.drop(columns=["donor"])
    n_genes = X.shape[1] - 3
    X.iloc[:, :n_genes] = X.iloc[:, :n_genes].fillna(X.iloc[:, :n_genes].mean())
    imp = PMIImputer(covariates=gtex_small.covariate_spec, early_stopping=True,
                     **FAST).fit(X)
    return imp, X, n_genes


def test_panel_weights_are_fitted(panel_fit):
    imp, _, _ = panel_fit
    assert imp.panel_weight_ is not None
    assert np.all((imp.panel_weight_ >= 0) & (imp.panel_weight_ <= 1))
    assert np.all(np.diff(imp.panel_visibility_) > 0)
    assert imp.panel_r2_.shape == (len(imp.panel_visibility_), imp.n_genes_)
    assert np.nanmax(imp.panel_r2_) <= 1.0 and np.isfinite(imp.panel_r2_).any()


def test_panel_rows_mix_network_and_ridge(panel_fit):
    imp, X, n_genes = panel_fit
    study = X.iloc[:20].copy()
    rng = np.random.RandomState(0)
    unmeasured = rng.choice(n_genes, n_genes // 2, replace=False)
    study.iloc[:, unmeasured] = np.nan
    out = imp.transform(study)
    plain = PMIImputer(**{**imp.get_params(), "gene_panel": False})
    plain.__dict__.update({k: v for k, v in imp.__dict__.items()
                           if k.endswith("_") or k.startswith("_")})
    network = plain.transform(study)
    measured = np.setdiff1d(np.arange(n_genes), unmeasured)
    # observed entries unchanged; the imputations differ from the network's
    np.testing.assert_array_equal(out[:, measured],
                                  study.iloc[:, measured].to_numpy())
    assert not np.allclose(out[:, unmeasured], network[:, unmeasured])
    assert not np.isnan(out).any()
    # a row is imputed as a panel only beside another with its missing genes
    # (the float32 network's products round by the block's size)
    alone = imp.transform(study.iloc[:1])
    np.testing.assert_allclose(alone, network[:1], rtol=1e-6, atol=1e-9)


def test_gene_panel_false_gives_no_weights(gtex_small):
    X = gtex_small.X.drop(columns=["donor"])
    imp = PMIImputer(early_stopping=True, gene_panel=False, **FAST).fit(
        X.iloc[:, :30])
    assert imp.panel_weight_ is None and imp.panel_visibility_ is None
    assert imp.panel_r2_ is None


def test_random_entries_are_imputed_as_without_panels(gtex_small):
    # MCAR rows each miss their own genes: the same bits with or without the
    # panel path (its fit draws its random numbers after the networks')
    X = gtex_small.X.drop(columns=["donor"])
    params = dict(covariates=gtex_small.covariate_spec, early_stopping=True,
                  **FAST)
    with_panel = PMIImputer(**params).fit_transform(X)
    without = PMIImputer(gene_panel=False, **params).fit_transform(X)
    assert not panel_groups(~np.isnan(X.iloc[:, :30].to_numpy()),
                            np.ones(30, dtype=bool))
    np.testing.assert_array_equal(with_panel, without)


def test_panel_intervals_are_centred_on_transform(gtex_small):
    X = gtex_small.X.drop(columns=["donor"])
    n_genes = X.shape[1] - 3
    X.iloc[:, :n_genes] = X.iloc[:, :n_genes].fillna(X.iloc[:, :n_genes].mean())
    imp = PMIImputer(covariates=gtex_small.covariate_spec, early_stopping=True,
                     calibration=True, **FAST).fit(X)
    assert len(imp._panel_scores) == len(imp.panel_visibility_)
    study = X.iloc[:30].copy()
    study.iloc[:, 5:n_genes] = np.nan  # a panel of the first 5 genes
    point = imp.transform(study)
    lower, upper = imp.transform_interval(study, coverage=0.9)
    np.testing.assert_allclose((lower + upper) / 2, point, rtol=1e-10, atol=1e-10)
    wide_lower, wide_upper = imp.transform_interval(study, coverage=0.95)
    assert np.all(wide_upper - wide_lower >= upper - lower - 1e-12)
    assert np.all(upper[:, 5:] > lower[:, 5:])
    draws = imp.sample_imputations(study, n_imputations=4, random_state=0)
    np.testing.assert_array_equal(draws[:, :, :5],
                                  np.broadcast_to(point[:, :5], (4, 30, 5)))
    # a draw lies within the 100%-range of the level's scores
    assert np.isfinite(draws).all()


def test_large_factor_is_float32_and_predicts_alike(monkeypatch):
    genes, numeric, codes = _reference(40, 30)
    mean, scale = genes.mean(axis=0), genes.std(axis=0)
    cov = covariate_features(numeric, codes, [3])
    args = (genes, np.ones_like(genes, dtype=bool), mean, scale, cov,
            np.ones(30, dtype=bool))
    exact = LinearReference(*args, np.random.RandomState(0))
    monkeypatch.setattr(panel_module, "_FLOAT32_ABOVE", 10)
    small = LinearReference(*args, np.random.RandomState(0))
    assert exact.factor_.dtype == np.float64 and small.factor_.dtype == np.float32
    visible = np.arange(30) < 10
    z = (genes[:5, visible] - mean[visible]) / scale[visible]
    np.testing.assert_allclose(small.predict(visible, z, cov[:5]),
                               exact.predict(visible, z, cov[:5]), atol=1e-4)


@pytest.mark.parametrize("n_rows, n_genes", [(60, 10), (40, 30)])
def test_a_sample_of_the_reference_stands_for_all_its_rows(n_rows, n_genes,
                                                            monkeypatch):
    """Given a sample of a reference of n_samples rows (a fit from disk),
    the cross-products are scaled to it and the penalty is chosen by GCV
    over n_samples, as for a reference of which MAX_RANK rows are kept."""
    monkeypatch.setattr(panel_module, "MAX_RANK", 16)
    genes, numeric, codes = _reference(n_rows, n_genes)
    mean, scale = genes.mean(axis=0), genes.std(axis=0)
    args = (genes, np.ones_like(genes, dtype=bool), mean, scale,
            np.zeros((n_rows, 0)), np.ones(n_genes, dtype=bool))
    whole = LinearReference(*args, np.random.RandomState(0))
    sample = LinearReference(*args, np.random.RandomState(0), n_samples=1000)
    assert whole.n_samples_ == n_rows and sample.n_samples_ == 1000
    assert not sample._rows
    gram = lambda ref: ref.factor_.astype(np.float64) @ ref.factor_.T  # noqa: E731
    np.testing.assert_allclose(gram(sample), gram(whole) * 1000 / n_rows,
                               rtol=1e-8, atol=1e-8)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_panel_weights_are_measured_on_a_sample_of_wide_held_out_rows(monkeypatch):
    import skimpute_gtex._compose._panels as panels

    assert panels.weighing_rows(1738, 59) == 1738  # GTEx v8 ACMG59: all
    assert panels.weighing_rows(2000, 5000) == 419
    assert panels.weighing_rows(1700, 12557) == panels.MIN_WEIGHING_ROWS
    seen = []
    weights = panels.panel_weights

    def spy(self, predict, linear, genes, mask, mean, scale, numeric, codes,
            eval_rows, rng):
        seen.append(eval_rows)
        return weights(self, predict, linear, genes, mask, mean, scale,
                       numeric, codes, eval_rows, rng)

    monkeypatch.setattr(panels, "panel_weights", spy)
    monkeypatch.setattr(panels, "WEIGHING_ENTRIES", 100)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 30))
    model = PMIImputer(hidden_layer_sizes=(8,), max_iter=1, n_jobs=1,
                       random_state=0).fit(X)  # 300 validation rows
    (rows,) = seen
    assert len(rows) == panels.MIN_WEIGHING_ROWS and np.all(np.diff(rows) > 0)
    assert model.panel_weight_ is not None
