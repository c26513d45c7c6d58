"""
=================================
In-place and inductive imputation
=================================

The imputers learn from the *observed* entries of whatever they are fitted
on, which allows two uses:

* **in-place**: ``fit_transform`` on the incomplete data itself;
* **inductive**: ``fit`` on reference data (for instance complete GTEx
  samples of other donors), then ``transform`` new samples, without
  retraining.

This example imputes the same incomplete samples of new donors in three ways,
for several fractions of missing values:

1. in-place, on the new samples alone;
2. in-place, on the new samples pooled with the reference samples;
3. inductively, with an imputer fitted on the complete reference samples.
"""

# %%
# Reference and new donors
# ------------------------
# :func:`~skimpute_gtex.model_selection.gtex_donor_split` splits the samples
# by donor: 70% of the samples (reference) and 30% (new donors).
import time

import matplotlib.pyplot as plt
import pandas as pd

from skimpute_gtex import PMIImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import masked_r2_score
from skimpute_gtex.model_selection import gtex_donor_split

data = make_gtex_like(n_samples=1000, n_genes=80, n_tissues=6, random_state=0)
frame = data.frame.drop(columns="donor")
genes = frame.columns[:80]
reference, _, new = gtex_donor_split(data.covariates["donor"], fractions=(0.7, 0, 0.3))
X_reference = frame.iloc[reference].reset_index(drop=True)
X_new_true = frame.iloc[new].reset_index(drop=True)
print(f"{len(reference)} reference samples, {len(new)} samples of new donors")


def make_imputer():
    return PMIImputer(
        covariates=data.covariate_spec,
        hidden_layer_sizes=(128,),
        device="cpu",
        random_state=0,
    )


# %%
# The inductive imputer is fitted once
# ------------------------------------
tic = time.perf_counter()
inductive = make_imputer().fit(X_reference)
print(f"fit on the reference: {time.perf_counter() - tic:.1f} s, "
      f"{inductive.n_iter_} epochs")

# %%
# Imputing the new samples
# ------------------------
# For each missing rate, hide entries of the new samples and impute them in
# the three ways. Only the hidden entries are scored.
rows = []
for rate in [0.2, 0.5, 0.8]:
    X_new = X_new_true.copy()
    X_new[genes], mask = simulate_missing(X_new_true[genes], rate, random_state=0)
    truth = X_new_true[genes].to_numpy()

    imputed = {
        "in-place, new samples only": make_imputer().fit_transform(X_new),
        "in-place, pooled with reference": make_imputer().fit_transform(
            pd.concat([X_reference, X_new], ignore_index=True)
        )[len(X_reference):],
    }
    tic = time.perf_counter()
    imputed["inductive (fitted on reference)"] = inductive.transform(X_new)
    transform_time = time.perf_counter() - tic
    for strategy, X_imputed in imputed.items():
        rows.append(
            {
                "missing rate": rate,
                "strategy": strategy,
                "R2": masked_r2_score(truth, X_imputed, mask),
            }
        )
    print(f"rate {rate}: inductive transform took {transform_time * 1000:.0f} ms")

results = pd.DataFrame(rows).pivot(
    index="missing rate", columns="strategy", values="R2"
)
results.round(3)

# %%
# Results
# -------
fig, ax = plt.subplots(figsize=(6, 3.5))
results.plot(ax=ax, marker="o")
ax.set_ylabel("masked R² on the new samples")
ax.set_xticks(results.index)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The imputer fitted in place on the new samples alone has the fewest
# observed entries to learn from, and fewer still as the missing rate grows.
# Both ways of using the reference samples do much better, and about equally
# well: pooling them with the new samples, or fitting on them once and
# imputing new samples with ``transform``. The inductive imputer needs no
# retraining and imputes each new batch in milliseconds. It assumes that the
# new samples resemble the reference: same genes (see
# :func:`~skimpute_gtex.datasets.align_to_genes`), same units, same covariate
# categories.
