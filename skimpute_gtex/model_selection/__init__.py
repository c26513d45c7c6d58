"""The :mod:`skimpute_gtex.model_selection` module: donor-disjoint splits.

Samples of the same GTEx donor share genotype, age, sex and death
circumstances, so evaluating an imputer on a donor seen in training is
optimistic. These splitters keep all samples of a donor on one side.
"""

from ._split import DonorKFold, gtex_donor_split

__all__ = ["DonorKFold", "gtex_donor_split"]
