"""Align another study's data to the genes and categories an imputer was fitted on."""

import re
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._compat import StrOptions, validate_params

# An Ensembl id (gene, transcript, protein; any species prefix) with a version
# suffix, optionally followed by GENCODE's ``_PAR_Y`` tag for the pseudoautosomal
# copy on chromosome Y: ``ENSG00000002586.18_PAR_Y`` -> ``ENSG00000002586_PAR_Y``.
_ENSEMBL_VERSION_RE = re.compile(r"^(ENS[A-Z]*\d+)\.\d+(_PAR_Y)?$")


def _strip_version(gene_id):
    """Drop the ``.N`` version suffix of an Ensembl id; other strings are unchanged."""
    gene_id = str(gene_id)
    match = _ENSEMBL_VERSION_RE.match(gene_id)
    if match is None:
        return gene_id
    return match.group(1) + (match.group(2) or "")


def _preview(items, limit=20):
    """``repr`` of at most ``limit`` items, with a count of the others."""
    items = list(items)
    if len(items) <= limit:
        return repr(items)
    return f"{items[:limit]!r} and {len(items) - limit} more"


def _keys(ids, ignore_version, what):
    """Matching keys of ``ids``; duplicated keys are an error."""
    keys = [_strip_version(g) if ignore_version else str(g) for g in ids]
    seen, dups = set(), []
    for key, gene in zip(keys, ids):
        if key in seen:
            dups.append(gene)
        seen.add(key)
    if dups:
        how = " once versions are ignored" if ignore_version else ""
        raise ValueError(
            f"{what} contain duplicated gene ids{how}: {_preview(dups)}. "
            "Aggregate or drop the duplicates first."
        )
    return keys


@validate_params(
    {
        "X": ["array-like"],
        "gene_ids": ["array-like", None],
        "reference_genes": ["array-like"],
        "ignore_version": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def align_to_genes(X, gene_ids=None, *, reference_genes, ignore_version=True):
    """Reorder and subset a samples x genes matrix to a reference gene list.

    Use this to feed another study (TCGA, a new GTEx release, an in-house
    cohort) to an imputer fitted on GTEx: the columns of the result are exactly
    ``reference_genes``, in that order. Genes of the reference that the new
    study lacks become columns full of NaN, which the imputer then fills in;
    genes the reference does not know are dropped.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_genes)
        Expression of the new study, one column per gene. Non-gene columns
        (for example covariates named as in the reference) are matched by
        name like genes.
    gene_ids : array-like of str of shape (n_genes,), default=None
        Column ids of ``X``. ``None`` means ``X.columns`` (``X`` must then be a
        DataFrame).
    reference_genes : array-like of str of shape (n_reference_genes,)
        The column order to produce, e.g. an imputer's ``feature_names_in_``
        or the ``gene_ids`` of :func:`~skimpute_gtex.datasets.load_gtex`.
    ignore_version : bool, default=True
        Match Ensembl ids without their version suffix, so that
        ``ENSG00000141510.16`` (GENCODE v26, GTEx v8) matches
        ``ENSG00000141510.17``. Other ids (symbols, covariate names) are always
        matched exactly.

    Returns
    -------
    X_aligned : DataFrame of shape (n_samples, n_reference_genes)
        Columns named exactly as ``reference_genes``; the index of ``X`` is
        kept when ``X`` is a DataFrame.
    report : :class:`~sklearn.utils.Bunch`
        With ``missing_genes`` (list of reference ids absent from ``X``,
        filled with NaN), ``extra_genes`` (list of ids of ``X`` not in the
        reference, dropped), ``source_genes`` (list, for each reference gene,
        the id of the column of ``X`` it was taken from, or None when it is
        missing), ``n_matched`` (int) and ``matched_fraction``
        (``n_matched / n_reference_genes``).

    Raises
    ------
    ValueError
        If no gene matches (typically symbols against Ensembl ids), if the
        number of ``gene_ids`` differs from the number of columns, or if ids
        are duplicated after removing versions.

    See Also
    --------
    map_categories : map the new study's covariate labels onto fitted ones.
    load_gtex : load GTEx portal files.

    Examples
    --------
    >>> import pandas as pd
    >>> from skimpute_gtex.datasets import align_to_genes
    >>> new = pd.DataFrame([[1.0, 2.0, 3.0]],
    ...                    columns=["ENSG00000012048.23", "ENSG00000141510.17",
    ...                             "ENSG00000000003.15"])
    >>> reference = ["ENSG00000141510.16", "ENSG00000012048.20", "ENSG00000146648.15"]
    >>> aligned, report = align_to_genes(new, reference_genes=reference)
    >>> aligned
       ENSG00000141510.16  ENSG00000012048.20  ENSG00000146648.15
    0                 2.0                 1.0                 NaN
    >>> report.missing_genes, report.extra_genes, report.n_matched
    (['ENSG00000146648.15'], ['ENSG00000000003.15'], 2)
    >>> report.source_genes
    ['ENSG00000141510.17', 'ENSG00000012048.23', None]
    """
    if gene_ids is None:
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                "gene_ids is required when X is not a DataFrame: pass the id of "
                "each column of X."
            )
        frame = X
    else:
        gene_ids = [str(g) for g in np.asarray(gene_ids, dtype=object).ravel()]
        if isinstance(X, pd.DataFrame):
            if len(gene_ids) != X.shape[1]:
                raise ValueError(
                    f"gene_ids has {len(gene_ids)} entries but X has "
                    f"{X.shape[1]} columns."
                )
            frame = X.set_axis(gene_ids, axis=1)
        else:
            values = np.asarray(X)
            if values.ndim != 2:
                raise ValueError(
                    f"X must be 2-dimensional (samples x genes); got shape "
                    f"{values.shape}."
                )
            if len(gene_ids) != values.shape[1]:
                raise ValueError(
                    f"gene_ids has {len(gene_ids)} entries but X has "
                    f"{values.shape[1]} columns."
                )
            frame = pd.DataFrame(values, columns=gene_ids)
    source_ids = [str(c) for c in frame.columns]
    reference = [str(g) for g in np.asarray(reference_genes, dtype=object).ravel()]

    source_keys = _keys(source_ids, ignore_version, "The columns of X")
    reference_keys = _keys(reference, ignore_version, "reference_genes")
    position = {key: i for i, key in enumerate(source_keys)}

    matched_src, matched_ref, missing, source_genes = [], [], [], []
    for ref_id, key in zip(reference, reference_keys):
        if key in position:
            matched_src.append(position[key])
            matched_ref.append(ref_id)
            source_genes.append(source_ids[position[key]])
        else:
            missing.append(ref_id)
            source_genes.append(None)
    if not matched_ref:
        raise ValueError(
            f"None of the {len(reference)} reference genes is a column of X "
            f"(first reference ids: {reference[:3]!r}; first columns of X: "
            f"{source_ids[:3]!r}). Are both Ensembl ids (not symbols)?"
        )
    reference_set = set(reference_keys)
    extra = [g for g, key in zip(source_ids, source_keys) if key not in reference_set]

    aligned = frame.iloc[:, matched_src].set_axis(matched_ref, axis=1)
    aligned = aligned.reindex(columns=reference)
    report = Bunch(
        missing_genes=missing,
        extra_genes=extra,
        source_genes=source_genes,
        n_matched=len(matched_ref),
        matched_fraction=len(matched_ref) / len(reference),
    )
    return aligned, report


@validate_params(
    {
        "values": ["array-like"],
        "mapping": [Mapping, None],
        "known_categories": ["array-like"],
        "handle_unknown": [StrOptions({"warn", "error"})],
    },
    prefer_skip_nested_validation=True,
)
def map_categories(values, mapping, known_categories, *, handle_unknown="warn"):
    """Map another study's covariate labels onto the categories seen in fit.

    Labels found in ``mapping`` are replaced (``"Blood"`` -> ``"Whole Blood"``),
    the others are kept. Labels that, after mapping, are not among
    ``known_categories`` would be unknown to the fitted imputer's encoder; they
    are reported. Missing values (None, NaN) are kept and never reported.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        Labels of the new study, e.g. a ``tissue`` column.
    mapping : dict or None
        Label of the new study -> label used in fit. ``None`` maps nothing
        (only the check against ``known_categories`` is done).
    known_categories : array-like of str
        The categories the imputer was fitted on, e.g.
        ``sorted(data.covariates["tissue"].unique())`` on the training data.
    handle_unknown : {'warn', 'error'}, default='warn'
        What to do with labels outside ``known_categories`` after mapping:
        ``'warn'`` keeps them and issues a ``UserWarning`` listing them,
        ``'error'`` raises a ``ValueError``.

    Returns
    -------
    mapped : Series or ndarray of object of shape (n_samples,)
        A Series (same index and name) when ``values`` is a Series, otherwise
        an object array.

    See Also
    --------
    align_to_genes : reorder another study's genes to the fitted ones.

    Examples
    --------
    >>> from skimpute_gtex.datasets import map_categories
    >>> map_categories(["Blood", "Lung", "Whole Blood"], {"Blood": "Whole Blood"},
    ...                known_categories=["Whole Blood", "Lung"])
    array(['Whole Blood', 'Lung', 'Whole Blood'], dtype=object)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     out = map_categories(["Liver"], {}, known_categories=["Lung"])
    >>> print(caught[0].message)
    1 value(s) not among the known categories, kept as is: ['Liver']...
    """
    is_series = isinstance(values, pd.Series)
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"values must be 1-dimensional; got shape {array.shape}.")
    mapping = {} if mapping is None else dict(mapping)
    known = set(np.asarray(known_categories, dtype=object).ravel().tolist())

    mapped = np.array(
        [mapping.get(v, v) if not pd.isna(v) else v for v in array], dtype=object
    )
    unknown = sorted({v for v in mapped if not pd.isna(v) and v not in known}, key=str)
    if unknown:
        n_unknown = int(sum(1 for v in mapped if not pd.isna(v) and v not in known))
        message = (
            f"{n_unknown} value(s) not among the known categories, kept as is: "
            f"{_preview(unknown)}. Known categories: "
            f"{_preview(sorted(known, key=str))}."
            " Add them to `mapping`."
        )
        if handle_unknown == "error":
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    if is_series:
        return pd.Series(mapped, index=values.index, name=values.name, dtype=object)
    return mapped
