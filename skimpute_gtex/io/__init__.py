"""The :mod:`skimpute_gtex.io` module: AnnData (``.h5ad``) files in and out.

:func:`read_anndata` turns an AnnData object or ``.h5ad`` file into the
``frame`` and ``covariate_spec`` the imputers take; :func:`write_anndata` puts
the imputed matrix back into ``X`` next to the observed one. Both need the
optional ``anndata`` package (``pip install "skimpute-gtex[anndata]"``).
"""

from ._anndata import read_anndata, write_anndata

__all__ = ["read_anndata", "write_anndata"]
