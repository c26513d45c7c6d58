"""The :mod:`skimpute_gtex.model_selection` module: donor-disjoint splits, comparisons.

Samples of the same GTEx donor share genotype, age, sex and death
circumstances, so evaluating an imputer on a donor seen in training is
optimistic. These splitters keep all samples of a donor on one side.
:func:`compare_imputers` scores several imputers on the same masks of the
user's own data.
"""

from ._compare import compare_imputers
from ._split import DonorKFold, gtex_donor_split

__all__ = ["DonorKFold", "compare_imputers", "gtex_donor_split"]
