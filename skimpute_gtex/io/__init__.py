"""The :mod:`skimpute_gtex.io` module: AnnData (``.h5ad``) files in and out.

:func:`read_anndata` turns an AnnData object or ``.h5ad`` file into the
``frame`` and ``covariate_spec`` the imputers take; :func:`write_anndata` puts
the imputed matrix back into ``X`` next to the observed one. Both need the
optional ``anndata`` package (``pip install "skimpute-gtex[anndata]"``).

:class:`AnnDataSource` (a backed ``.h5ad``) and :class:`ARCHS4Source` (an
HDF5 file in ARCHS4's layout) read a matrix on disk a block of samples at a
time, for fits larger than memory (:ref:`scale`).
"""

from ._anndata import read_anndata, write_anndata
from ._sources import AnnDataSource, ARCHS4Source, RowSource

__all__ = ["read_anndata", "write_anndata", "AnnDataSource", "ARCHS4Source",
           "RowSource"]
