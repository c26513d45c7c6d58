"""
===============================================
Fitting a reference that stays on disk
===============================================

A reference such as ARCHS4 holds more samples than memory. A
:class:`~skimpute_gtex.PMIImputer` fits from the file itself, a block of
samples at a time: pass a backed AnnData (or an
:class:`~skimpute_gtex.io.ARCHS4Source`) to ``fit``. Here a small reference
is written to a temporary ``.h5ad`` file and fitted both ways, from disk and
in memory; both models then impute new samples, with random entries missing
and measured on a gene panel. See :ref:`scale` for what differs between the
two fits and for data-parallel training with ``torchrun``.
"""

# %%
# A reference on disk
# -------------------
# 4,000 samples of 80 genes from the synthetic GTEx-like generator, written
# as an ``.h5ad`` file (samples x genes), and 400 new samples to impute.
import tempfile
from pathlib import Path

import anndata
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skimpute_gtex import PMIImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import masked_r2_score

data = make_gtex_like(n_samples=4400, n_genes=80, n_tissues=8, random_state=0)
expression = data.expression.astype(np.float32)  # samples x genes, by name
reference, new = expression.iloc[:4000], expression.iloc[4000:]

folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "reference.h5ad"
anndata.AnnData(reference).write_h5ad(path)  # var_names: the gene ids
print(f"{path.name}: {reference.shape[0]} samples x {reference.shape[1]} genes")

# %%
# Two fits
# --------
# The backed AnnData is read a block of samples at a time; the other fit
# gets the matrix itself. Small network, CPU, fixed seed.
params = dict(hidden_layer_sizes=(64,), n_iter_no_change=3, device="cpu",
              random_state=0, verbose=0)
backed = anndata.read_h5ad(path, backed="r")
from_disk = PMIImputer(**params).fit(backed)
in_memory = PMIImputer(**params).fit(reference)
print(f"from disk: {from_disk.n_iter_} epochs; in memory: {in_memory.n_iter_}")

# %%
# Imputing new samples
# --------------------
# Half of the entries hidden at random, then a gene panel: every sample
# measured on the same 8 genes.
# (data frames with the gene ids as columns, as both models were fitted)
study, hidden = simulate_missing(new, 0.5, random_state=1)
study = pd.DataFrame(study, index=new.index, columns=new.columns)
panel = np.zeros(new.shape[1], dtype=bool)
panel[np.random.default_rng(0).choice(new.shape[1], 8, replace=False)] = True
panel_study = new.copy()
panel_study.loc[:, ~panel] = np.nan
panel_hidden = np.broadcast_to(~panel, new.shape)

scores = {}
for name, model in [("from disk", from_disk), ("in memory", in_memory)]:
    scores[name] = (
        masked_r2_score(new, model.transform(study), hidden),
        masked_r2_score(new, model.transform(panel_study), panel_hidden),
    )
    print(f"{name:>9}: random entries R2 {scores[name][0]:.3f}, "
          f"gene panel R2 {scores[name][1]:.3f}")

# %%
# Both fits learn the same model; they differ in the order in which the
# samples are visited (blocks of the file through a shuffle buffer), so the
# scores agree within the spread between random seeds.
fig, ax = plt.subplots(figsize=(6, 3.5))
width = 0.35
x = np.arange(2)
for k, (name, values) in enumerate(scores.items()):
    ax.bar(x + (k - 0.5) * width, values, width, label=name)
ax.set_xticks(x, ["random entries", "gene panel (8 of 80 genes)"])
ax.set_ylabel("per-gene R² of the hidden values")
ax.set_ylim(0, 1)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

backed.file.close()
folder.cleanup()
