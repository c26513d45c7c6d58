"""A synthetic GTEx-like expression generator: the package's embedded data."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..utils._compat import Interval, validate_params

GTEX_TISSUES = (
    "Whole Blood", "Muscle - Skeletal", "Skin - Sun Exposed (Lower leg)",
    "Adipose - Subcutaneous", "Artery - Tibial", "Thyroid", "Lung",
    "Nerve - Tibial", "Esophagus - Mucosa", "Brain - Cortex",
    "Brain - Cerebellum", "Heart - Left Ventricle", "Colon - Transverse",
    "Stomach", "Testis", "Pancreas", "Liver", "Spleen", "Pituitary",
    "Adrenal Gland", "Prostate", "Breast - Mammary Tissue", "Ovary",
    "Uterus", "Vagina", "Kidney - Cortex", "Small Intestine - Terminal Ileum",
    "Brain - Hippocampus", "Brain - Putamen (basal ganglia)", "Brain - Amygdala",
)
AGE_BRACKETS = ("20-29", "30-39", "40-49", "50-59", "60-69", "70-79")


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_genes": [Interval(Integral, 2, None, closed="left")],
        "n_tissues": [Interval(Integral, 1, None, closed="left")],
        "n_donors": [Interval(Integral, 1, None, closed="left"), None],
        "n_programs": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_gtex_like(
    n_samples=1000,
    n_genes=200,
    *,
    n_tissues=10,
    n_donors=None,
    n_programs=8,
    noise=0.3,
    random_state=None,
    as_frame=True,
):
    """Generate GTEx-like log-expression with tissue, donor, sex and age effects.

    Each sample belongs to a donor and a tissue. Its expression is::

        log_expr = gene_baseline + tissue_effect[tissue] + donor_effect[donor]
                   + sex_effect * is_male + age_effect * age
                   + program_scores @ program_loadings + noise

    where the tissue effect, the donor effect and the sample-level programme
    scores all act through shared low-rank gene programmes, so that genes are
    correlated within and across samples as in real data. The first tissue is
    ``"Whole Blood"`` and every donor has a whole-blood sample when
    ``n_donors <= n_samples / n_tissues``, so that the blood-surrogate baseline
    applies.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples (rows).
    n_genes : int, default=200
        Number of genes (expression columns).
    n_tissues : int, default=10
        Number of tissues, named after GTEx tissues (suffixed beyond 30).
    n_donors : int, default=None
        Number of donors. ``None`` means ``max(1, n_samples // n_tissues)``.
    n_programs : int, default=8
        Rank of the gene programmes shared by all effects.
    noise : float, default=0.3
        Standard deviation of the independent Gaussian noise.
    random_state : int, RandomState instance or None, default=None
        Determines all random draws.
    as_frame : bool, default=True
        Return pandas DataFrames (needs pandas) instead of NumPy arrays.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        frame : DataFrame of shape (n_samples, n_genes + 4)
            Genes followed by the covariates ``tissue``, ``donor``, ``sex``
            and ``age``: the input the imputers take. Only with
            ``as_frame=True``.
        expression : ndarray or DataFrame of shape (n_samples, n_genes)
            Log-expression.
        covariates : ndarray of object or DataFrame of shape (n_samples, 4)
            ``tissue``, ``donor``, ``sex`` (``"male"``/``"female"``) and
            ``age`` (years, float).
        gene_names : ndarray of str of shape (n_genes,)
            Names of the gene columns.
        covariate_spec : list of tuple
            A ``covariates=`` spec for the imputers: tissue and sex as
            categorical, age as numerical.
        tissue_embeddings : ndarray of shape (n_tissues, n_programs)
            The true tissue effects in programme space (for checking learned
            embeddings).

    See Also
    --------
    skimpute_gtex.datasets.simulate_missing : hide entries at random.

    Examples
    --------
    >>> from skimpute_gtex.datasets import make_gtex_like
    >>> data = make_gtex_like(n_samples=50, n_genes=20, random_state=0)
    >>> data.frame.shape
    (50, 24)
    >>> list(data.frame.columns[-4:])
    ['tissue', 'donor', 'sex', 'age']
    """
    rng = check_random_state(random_state)
    if n_donors is None:
        n_donors = max(1, n_samples // n_tissues)
    tissue_names = np.array(
        [
            GTEX_TISSUES[t] if t < len(GTEX_TISSUES) else f"Tissue {t}"
            for t in range(n_tissues)
        ],
        dtype=object,
    )

    loadings = rng.normal(size=(n_programs, n_genes)) / np.sqrt(n_programs)
    baseline = rng.normal(5.0, 1.5, size=n_genes)
    tissue_latent = rng.normal(0.0, 1.5, size=(n_tissues, n_programs))
    donor_latent = rng.normal(0.0, 0.5, size=(n_donors, n_programs))
    sex_effect = rng.normal(0.0, 0.5, size=n_genes) * (rng.uniform(size=n_genes) < 0.1)
    age_effect = rng.normal(0.0, 0.02, size=n_genes) * (rng.uniform(size=n_genes) < 0.3)

    donor_sex = rng.uniform(size=n_donors) < 0.6
    donor_age = rng.uniform(20, 80, size=n_donors)

    donor, tissue = _assign_samples(rng, n_samples, n_donors, n_tissues)

    scores = rng.normal(0.0, 0.7, size=(n_samples, n_programs))
    latent = tissue_latent[tissue] + donor_latent[donor] + scores
    expression = (
        baseline
        + latent @ loadings * 1.5
        + donor_sex[donor, None] * sex_effect
        + (donor_age[donor, None] - 50.0) * age_effect
        + rng.normal(0.0, noise, size=(n_samples, n_genes))
    )

    gene_names = np.array([f"GENE{g:05d}" for g in range(n_genes)], dtype=object)
    covariates = np.empty((n_samples, 4), dtype=object)
    covariates[:, 0] = tissue_names[tissue]
    covariates[:, 1] = np.array([f"GTEX-{d:05d}" for d in donor], dtype=object)
    covariates[:, 2] = np.where(donor_sex[donor], "male", "female")
    covariates[:, 3] = np.round(donor_age[donor])
    spec = [
        ("tissue", "categorical", ["tissue"]),
        ("sex", "categorical", ["sex"]),
        ("age", "numerical", ["age"]),
    ]
    bunch = Bunch(
        expression=expression,
        covariates=covariates,
        gene_names=gene_names,
        covariate_spec=spec,
        tissue_embeddings=tissue_latent,
    )
    if as_frame:
        _add_frames(bunch)
    return bunch


def _assign_samples(rng, n_samples, n_donors, n_tissues):
    """Donor and tissue of each sample.

    Every donor first gets tissues in order (blood first), then the remaining
    samples are spread at random.
    """
    donor = np.arange(n_samples) % n_donors
    tissue = (np.arange(n_samples) // n_donors) % n_tissues
    extra = np.arange(n_samples) >= n_donors * n_tissues
    tissue[extra] = rng.randint(n_tissues, size=extra.sum())
    order = rng.permutation(n_samples)
    return donor[order], tissue[order]


def _add_frames(bunch):
    """Replace the arrays of ``bunch`` by DataFrames and add ``frame``."""
    import pandas as pd

    covariates = bunch.covariates
    expr_df = pd.DataFrame(bunch.expression, columns=list(bunch.gene_names))
    cov_df = pd.DataFrame(
        {
            "tissue": covariates[:, 0].astype(str),
            "donor": covariates[:, 1].astype(str),
            "sex": covariates[:, 2].astype(str),
            "age": covariates[:, 3].astype(float),
        }
    )
    bunch.expression = expr_df
    bunch.covariates = cov_df
    bunch.frame = pd.concat([expr_df, cov_df], axis=1)
