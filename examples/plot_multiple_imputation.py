"""
=============================
Multiple imputation with GAIN
=============================

:class:`~skimpute_gtex.GAINImputer` generates the missing values from the
observed ones *and* random noise. ``transform`` sets the noise to its mean
and returns one deterministic imputation;
:meth:`~skimpute_gtex.GAINImputer.sample_imputations` draws the noise and
returns several imputations, whose spread shows how uncertain each imputed
value is. Observed entries are the same in every draw. This example trains
GAIN-GTEx (``adversarial_weight=1.0``); GAIN-MSE (``adversarial_weight=0``)
draws the same way.
"""

# %%
# Data and model
# --------------
import matplotlib.pyplot as plt
import numpy as np

from skimpute_gtex import GAINImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import masked_r2_score

data = make_gtex_like(n_samples=600, n_genes=40, n_tissues=5, random_state=0)
X = data.frame.drop(columns="donor")
X_true = data.expression.to_numpy()
X.iloc[:, :40], mask = simulate_missing(X_true, 0.4, random_state=0)

gain = GAINImputer(
    covariates=data.covariate_spec,
    adversarial_weight=1.0,  # GAIN-GTEx; 0 gives GAIN-MSE
    hidden_layer_sizes=(64,),
    device="cpu",
    random_state=0,
).fit(X)
print(f"trained for {gain.n_iter_} epochs")

# %%
# Drawing imputations
# -------------------
draws = gain.sample_imputations(X, n_imputations=30, random_state=0)
print("draws:", draws.shape)  # (n_imputations, n_samples, n_genes)
spread = draws.std(axis=0)
same = (draws == draws[0]).all(axis=0)
print("observed entries identical in every draw:", bool(same[~mask].all()))

X_single = gain.transform(X)
print(f"R² of the deterministic imputation: "
      f"{masked_r2_score(X_true, X_single, mask):.3f}")
print(f"R² of the mean of the draws:       "
      f"{masked_r2_score(X_true, draws.mean(axis=0), mask):.3f}")

# %%
# The draws of a few hidden entries
# ---------------------------------
# Each column is one hidden entry of the first gene: the grey dots are the 30
# draws, the black bar the deterministic imputation and the red cross the
# hidden true value.
gene = 0
rows = np.flatnonzero(mask[:, gene])[:15]
fig, ax = plt.subplots(figsize=(8, 3.5))
for k, row in enumerate(rows):
    ax.scatter(np.full(draws.shape[0], k), draws[:, row, gene], s=6,
               color="0.6", label="sample_imputations" if k == 0 else None)
ax.scatter(range(len(rows)), X_single[rows, gene], marker="_", s=300,
           color="k", label="transform (noise mean)")
ax.scatter(range(len(rows)), X_true[rows, gene], marker="x", color="tab:red",
           label="true value")
ax.set_xticks(range(len(rows)), rows, fontsize=7)
ax.set_xlabel("sample (hidden entries of gene 0)")
ax.set_ylabel("log-expression")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Is the spread informative?
# --------------------------
# Over all hidden entries, compare the spread of the draws with the error of
# the deterministic imputation, and count how often the true value falls in
# the central 90% of the draws. Both depend on how well the generator was
# trained. A coverage well below 90%, as here, means that the draws
# understate the uncertainty: GAIN's draws are a rough guide to which values
# are uncertain, not calibrated intervals.
error = np.abs(X_single - X_true)[mask]
low, high = np.quantile(draws, [0.05, 0.95], axis=0)
covered = ((X_true >= low) & (X_true <= high))[mask]
print(f"correlation(spread, |error|): "
      f"{np.corrcoef(spread[mask], error)[0, 1]:.2f}")
print(f"true value inside the 90% range of the draws: {covered.mean():.0%}")

fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(spread[mask], error, s=2, alpha=0.3)
ax.set_xlabel("standard deviation of the 30 draws")
ax.set_ylabel("|deterministic imputation - truth|")
fig.tight_layout()
plt.show()

# %%
# To use the draws in a downstream analysis, run the analysis on each draw
# and pool the results (Rubin's rules); averaging the draws first would
# give back roughly the deterministic imputation and hide the uncertainty.
