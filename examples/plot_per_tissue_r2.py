"""
=================================================
Per-tissue accuracy and learned tissue embeddings
=================================================

Imputation accuracy usually differs between tissues. The masked metrics of
:mod:`skimpute_gtex.metrics` take ``groups=`` to score each group of samples
separately; here :func:`~skimpute_gtex.metrics.masked_r2_score` gives one R²
per tissue for :class:`~skimpute_gtex.PMIImputer` and for the per-tissue
median baseline.

:class:`~skimpute_gtex.PMIImputer` represents each category of a categorical
covariate by a learned vector (an embedding). The second part of the example
looks at the tissue embeddings it learned.
"""

# %%
# Data and imputers
# -----------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from skimpute_gtex import PMIImputer
from skimpute_gtex.baselines import TissueMedianImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import masked_r2_score

data = make_gtex_like(n_samples=1500, n_genes=80, n_tissues=10, random_state=0)
X = data.frame.drop(columns="donor")
X_true = data.expression.to_numpy()
X.iloc[:, :80], mask = simulate_missing(X_true, 0.5, random_state=0)
tissue = X["tissue"].to_numpy()

pmi = PMIImputer(
    covariates=data.covariate_spec,
    hidden_layer_sizes=(128,),
    device="cpu",
    random_state=0,
)
imputed = {
    "PMI": pmi.fit_transform(X),
    "tissue median": TissueMedianImputer(
        covariates=data.covariate_spec
    ).fit_transform(X),
}

# %%
# One R² per tissue
# -----------------
per_tissue = pd.DataFrame(
    {
        name: masked_r2_score(X_true, X_imputed, mask, groups=tissue)
        for name, X_imputed in imputed.items()
    }
).sort_values("PMI")
print(per_tissue.round(3))

fig, ax = plt.subplots(figsize=(7, 4.5))
per_tissue.plot.barh(ax=ax, width=0.8)
ax.set_xlabel("masked R² (mean over genes)")
ax.set_ylabel("")
ax.tick_params(axis="y", labelsize=8)
fig.tight_layout()

# %%
# Within one tissue, the R² compares the imputation with the mean of the
# hidden values *of that tissue*. The per-tissue median is close to that mean,
# so it scores about 0 by construction: a per-tissue R² measures what an
# imputer explains beyond the tissue, here the donor and sample effects that
# the observed genes of a sample reveal.

# %%
# The learned tissue embeddings
# -----------------------------
# The first categorical covariate of the spec is the tissue; its embedding
# table is ``module_.embeddings.tables[0]``. Row 0 is reserved for
# categories unseen in fit, and row ``k + 1`` belongs to ``categories_[0][k]``.
table = pmi.module_.embeddings.tables[0]
embeddings = table.weight.detach().numpy()[1:]
names = pmi.categories_[0]
print(f"{len(names)} tissues, embedding width {embeddings.shape[1]}")

coords = PCA(n_components=2).fit_transform(embeddings)
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(*coords.T)
for name, (x, y) in zip(names, coords):
    ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set_xlabel("PC 1 of the tissue embeddings")
ax.set_ylabel("PC 2")
ax.margins(0.25)
fig.tight_layout()

# %%
# Do tissues that look alike get nearby embeddings? Compare the distances
# between embeddings with the distances between the tissues' mean expression
# profiles (of the complete data).
profiles = data.expression.groupby(tissue).mean().loc[names].to_numpy()


def pairwise(Z):
    d = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
    return d[np.triu_indices(len(Z), k=1)]


r = np.corrcoef(pairwise(embeddings), pairwise(profiles))[0, 1]
print(f"correlation of pairwise distances: {r:.2f}")

fig, ax = plt.subplots(figsize=(4.5, 4))
ax.scatter(pairwise(profiles), pairwise(embeddings), s=10)
ax.set_xlabel("distance between mean expression profiles")
ax.set_ylabel("distance between embeddings")
fig.tight_layout()
plt.show()

# %%
# The embeddings are trained only to help impute, and the network also sees
# each sample's observed genes, which already say much about its tissue; so
# the embedding distances follow the expression distances only loosely. On
# real data, plots like these are a quick check that related tissues (the
# brain regions of GTEx, for instance) end up close together.
