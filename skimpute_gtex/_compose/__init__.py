"""Private: what a fitted deep imputer is mixed and calibrated with.

The low-rank blend (``_low_rank``), the gene panels' ridge mixture
(``_panels``) and the conformal scores of the intervals (``_conformal``):
NumPy code over the estimator's predictions, with no torch of its own.
"""
