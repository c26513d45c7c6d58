"""
===================================
Tuning an imputer with GridSearchCV
===================================

An imputer has no target to score. :func:`~skimpute_gtex.metrics.make_imputation_scorer`
makes one: on each held-out fold it hides a fraction of the *observed* gene
entries, imputes them with the fitted imputer and scores the hidden entries
only (per-gene R² by default). Passed as ``scoring=`` it lets
:class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_val_score` tune and compare imputers on
the incomplete data itself.

Samples of the same donor are correlated, so the folds are donor-disjoint
(:class:`~skimpute_gtex.model_selection.DonorKFold`).
"""

# %%
# Data
# ----
# 800 samples of 80 genes from 6 tissues and 100 donors; 30% of the gene
# entries are missing. The imputers use tissue, sex and age as covariates.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.impute import KNNImputer
from sklearn.model_selection import GridSearchCV, cross_val_score

from skimpute_gtex import PMIImputer
from skimpute_gtex.baselines import CovariateImputer, TissueMedianImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import make_imputation_scorer
from skimpute_gtex.model_selection import DonorKFold

data = make_gtex_like(n_samples=800, n_genes=80, n_tissues=6, random_state=0)
donors = data.covariates["donor"]
X = data.frame.drop(columns="donor")
X.iloc[:, :80], _ = simulate_missing(X.iloc[:, :80], 0.3, random_state=0)
spec = data.covariate_spec
X.head()

# %%
# The scorer and the search
# -------------------------
# With an integer ``random_state`` the scorer hides the same entries for every
# candidate, so the candidates are compared on the same mask. Early stopping
# (asked for here: by default it starts at 1,000 samples, and smaller data
# train for a fixed step budget) picks the number of epochs; a constant
# learning rate and a patience of 5 epochs keep the search fast.
scorer = make_imputation_scorer("r2", missing_rate=0.5, random_state=0)
cv = DonorKFold(n_splits=3, shuffle=True, random_state=0)

search = GridSearchCV(
    PMIImputer(
        covariates=spec,
        early_stopping=True,
        learning_rate="constant",
        n_iter_no_change=5,
        device="cpu",
        random_state=0,
    ),
    param_grid={
        "hidden_layer_sizes": [(16,), (64,), (256,)],
        "dropout": [0.0, 0.2],
    },
    scoring=scorer,
    cv=cv,
)
search.fit(X, groups=donors)
print("best parameters:", search.best_params_)
print(f"best cross-validated R²: {search.best_score_:.3f}")

# %%
# All the candidates
# ------------------
results = pd.DataFrame(search.cv_results_)
results["hidden"] = results["param_hidden_layer_sizes"].astype(str)
results["hidden"] = pd.Categorical(
    results["hidden"], categories=["(16,)", "(64,)", "(256,)"], ordered=True
)
results = results.sort_values(["param_dropout", "hidden"])
table = results.pivot(
    index="hidden", columns="param_dropout", values="mean_test_score"
)
print(table.round(3))

fig, ax = plt.subplots(figsize=(5, 3.5))
for dropout, group in results.groupby("param_dropout"):
    ax.errorbar(
        group["hidden"].astype(str),
        group["mean_test_score"],
        yerr=group["std_test_score"],
        marker="o",
        capsize=3,
        label=f"dropout={dropout}",
    )
ax.set_xlabel("hidden_layer_sizes")
ax.set_ylabel("masked R² (3 donor-disjoint folds)")
ax.legend()
fig.tight_layout()

# %%
# Comparing with baselines
# ------------------------
# The same scorer and folds compare the tuned model with the per-tissue
# median and with k-nearest neighbours given the covariates as extra columns.
candidates = {
    "tissue median": TissueMedianImputer(covariates=spec),
    "kNN + covariates": CovariateImputer(KNNImputer(n_neighbors=10), covariates=spec),
    "PMI (tuned)": search.best_estimator_,
}
comparison = {
    name: cross_val_score(est, X, scoring=scorer, cv=cv, groups=donors)
    for name, est in candidates.items()
}
for name, scores in comparison.items():
    print(f"{name:>17}: R² {scores.mean():.3f} +/- {scores.std():.3f}")

fig, ax = plt.subplots(figsize=(5, 2.5))
names = list(comparison)
ax.barh(
    names,
    [comparison[n].mean() for n in names],
    xerr=[comparison[n].std() for n in names],
)
ax.set_xlabel("masked R² (3 donor-disjoint folds)")
fig.tight_layout()
plt.show()
