"""Expression matrices read from disk a block of samples at a time.

A *row source* is what a streaming fit reads
(:meth:`skimpute_gtex.PMIImputer.fit` with a source, docs/scale.rst): the
number of samples, the gene ids, and ``read(start, stop)``, a float32 block
of samples x genes with NaN for missing entries. Two are provided:

* :class:`AnnDataSource`, a backed AnnData (``anndata.read_h5ad(path,
  backed="r")``; ``fit`` also takes the AnnData itself);
* :class:`ARCHS4Source`, an HDF5 file in ARCHS4's published layout: counts
  as genes x samples under ``data/expression``, gene ids under
  ``meta/genes/<field>``, sample ids under ``meta/samples/geo_accession``.

Both need ``h5py`` (``pip install "skimpute-gtex[anndata]"`` brings it).
"""

import os

import numpy as np

from ._anndata import _dense_block

_TRANSFORMS = ("log1p_cpm", "log1p", None)


def _import_h5py():
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(
            "Reading expression from HDF5 files needs the optional h5py "
            'package: pip install "skimpute-gtex[anndata]".'
        ) from exc
    return h5py


def _decoded(values):
    return np.array([v.decode() if isinstance(v, bytes) else str(v)
                     for v in values], dtype=object)


def _gene_positions(available, genes, where):
    """Positions of ``genes`` in ``available``; a clear error for the ids
    that are not there."""
    if genes is None:
        return np.arange(len(available))
    genes = [str(g) for g in genes]
    if len(set(genes)) != len(genes):
        raise ValueError("genes: the list names some ids more than once.")
    index = {g: k for k, g in enumerate(available)}
    missing = [g for g in genes if g not in index]
    if missing:
        raise ValueError(
            f"genes: {len(missing)} of the {len(genes)} ids are not in {where} "
            f"(first: {missing[:5]})."
        )
    return np.array([index[g] for g in genes], dtype=np.intp)


class RowSource:
    """An expression matrix on disk, read a block of samples at a time.

    Subclasses set ``n_samples``, ``gene_names`` (an array of str) and
    implement ``_read(start, stop)``. A source keeps its file open; use it as
    a context manager or call :meth:`close`. It is not pickled with a fitted
    model: the model keeps only the gene names.
    """

    n_samples: int
    gene_names: np.ndarray

    @property
    def shape(self):
        """``(n_samples, n_genes)``."""
        return (self.n_samples, len(self.gene_names))

    def read(self, start, stop):
        """Samples ``start:stop`` as a float32 array of shape (n, n_genes),
        NaN where a value is missing."""
        start, stop = int(start), int(min(stop, self.n_samples))
        if not 0 <= start <= stop:
            raise IndexError(f"rows {start}:{stop} of {self.n_samples}")
        block = np.asarray(self._read(start, stop), dtype=np.float32)
        if block.shape != (stop - start, len(self.gene_names)):
            raise ValueError(
                f"{type(self).__name__}: read a block of shape {block.shape} "
                f"for rows {start}:{stop}, expected "
                f"{(stop - start, len(self.gene_names))}."
            )
        return block

    def take(self, rows):
        """Samples ``rows`` (increasing positions), read a block at a time."""
        rows = np.asarray(rows, dtype=np.intp)
        out = np.empty((len(rows), len(self.gene_names)), dtype=np.float32)
        if not len(rows):
            return out
        block = 1024
        for lo in range(rows[0] - rows[0] % block, rows[-1] + 1, block):
            here = (rows >= lo) & (rows < lo + block)
            if here.any():
                out[here] = self.read(lo, lo + block)[rows[here] - lo]
        return out

    def __getstate__(self):
        raise TypeError(f"{type(self).__name__} holds an open file: it cannot "
                        "be pickled; pickle the fitted imputer instead.")

    def close(self):
        """Close the file (if the source opened it)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AnnDataSource(RowSource):
    """The samples (``obs``) x genes (``var``) of a backed AnnData.

    Parameters
    ----------
    adata : anndata.AnnData
        Opened with ``anndata.read_h5ad(path, backed="r")``; ``X`` dense or
        sparse (CSR). Missing entries are NaN.
    genes : list of str, optional
        The ``var_names`` to read, in this order (default: all).
    """

    def __init__(self, adata, genes=None):
        if not getattr(adata, "isbacked", False):
            raise TypeError(
                "AnnDataSource reads a backed AnnData (anndata.read_h5ad(path, "
                "backed='r')); an AnnData in memory can be passed to "
                "read_anndata and fitted as usual."
            )
        self.adata = adata
        available = np.asarray(adata.var_names, dtype=object)
        self._columns = _gene_positions(available, genes, "the AnnData's var_names")
        self.gene_names = available[self._columns].astype(str)
        self.n_samples = int(adata.n_obs)
        self._all = genes is None

    def _read(self, start, stop):
        block = _dense_block(self.adata.X[start:stop], np.float32)
        return block if self._all else block[:, self._columns]


class ARCHS4Source(RowSource):
    """An HDF5 file in ARCHS4's layout, read a block of samples at a time.

    Parameters
    ----------
    path : str or path-like
        The file (for example ``human_gene_v2.latest.h5`` from the ARCHS4
        site): counts as genes x samples under ``data/expression``, gene ids
        under ``meta/genes/<gene_field>``, sample ids under
        ``meta/samples/geo_accession``.
    genes : list of str, optional
        The gene ids to read, in this order (default: all genes).
    gene_field : str, default="gene_symbol"
        The field of ``meta/genes`` that holds the ids in ``genes``
        (``"ensembl_gene"`` in files that have it).
    transform : {"log1p_cpm", "log1p"} or None, default="log1p_cpm"
        ``"log1p_cpm"``: ``log(1 + counts per million)``, the library size
        of a sample summed over *all* its genes (before ``genes`` selects
        some); ``"log1p"``: ``log(1 + counts)``; None: the counts as they
        are. A sample with no count at all is read as missing (NaN) under
        ``"log1p_cpm"``.
    samples : array-like of int or bool, optional
        The samples to read: increasing positions in the file, or a boolean
        mask over its samples (for example the bulk samples,
        ``meta/samples/singlecellprobability < 0.5``). Default: all.
    """

    def __init__(self, path, genes=None, *, gene_field="gene_symbol",
                 transform="log1p_cpm", samples=None):
        if transform not in _TRANSFORMS:
            raise ValueError(f"transform must be one of {_TRANSFORMS}, got "
                             f"{transform!r}.")
        h5py = _import_h5py()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file.")
        self.path, self.transform = os.fspath(path), transform
        self._file = h5py.File(self.path, "r")
        try:
            self._open(gene_field, genes)
            self._select(samples)
        except BaseException:
            self._file.close()
            raise

    def _open(self, gene_field, genes):
        f = self._file
        wanted = ["data/expression", f"meta/genes/{gene_field}",
                  "meta/samples/geo_accession"]
        absent = [k for k in wanted if k not in f]
        if absent:
            raise ValueError(
                f"{self.path} is not in ARCHS4's layout: it has no "
                f"{', '.join(absent)} (its top-level groups: {sorted(f.keys())})."
            )
        self._data = f["data/expression"]
        ids = _decoded(f[f"meta/genes/{gene_field}"][()])
        samples = f["meta/samples/geo_accession"]
        if self._data.ndim != 2 or self._data.shape != (len(ids), len(samples)):
            raise ValueError(
                f"{self.path}: data/expression has shape {self._data.shape}, "
                f"expected (genes, samples) = ({len(ids)}, {len(samples)}) "
                "from meta/genes and meta/samples."
            )
        self._rows = _gene_positions(ids, genes, f"meta/genes/{gene_field}")
        self.gene_names = ids[self._rows].astype(str)
        self.n_samples = int(len(samples))
        self._all = genes is None

    def _select(self, samples):
        self._samples = None
        if samples is None:
            return
        n = self.n_samples
        samples = np.asarray(samples)
        if samples.dtype == bool:
            if samples.shape != (n,):
                raise ValueError(f"samples: a boolean mask needs {n} values (the "
                                 f"file's samples), got shape {samples.shape}.")
            samples = np.flatnonzero(samples)
        if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.integer):
            raise ValueError("samples: expected increasing positions or a "
                             "boolean mask.")
        if samples.size and (samples[0] < 0 or samples[-1] >= n
                             or np.any(np.diff(samples) <= 0)):
            raise ValueError(f"samples: positions must increase strictly and lie "
                             f"in [0, {n}).")
        self._samples = samples.astype(np.intp)
        self.n_samples = int(samples.size)

    @property
    def sample_names(self):
        """The GEO accessions of the samples read."""
        names = _decoded(self._file["meta/samples/geo_accession"][()])
        return names if self._samples is None else names[self._samples]

    def _read(self, start, stop):
        if self._samples is None:
            columns = slice(start, stop)
        else:  # h5py reads increasing positions along one axis
            columns = self._samples[start:stop]
            if not len(columns):
                return np.empty((0, len(self.gene_names)))
        counts = np.asarray(self._data[:, columns], dtype=np.float64)
        if self.transform == "log1p_cpm":
            library = counts.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                counts = counts * (1e6 / np.where(library > 0, library, np.nan))
        if not self._all:
            counts = counts[self._rows]
        if self.transform is not None:
            np.log1p(counts, out=counts)
        return counts.T

    def close(self):
        self._file.close()


def as_source(X):
    """``X`` as a :class:`RowSource`, or None when it is in memory."""
    if isinstance(X, RowSource):
        return X
    if getattr(X, "isbacked", False) and hasattr(X, "var_names"):
        return AnnDataSource(X)
    return None
