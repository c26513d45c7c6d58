"""The one place where the benchmarks read PMIImputer's private internals.

The speed and embedding studies need what the estimator's public API does not
give: the batch size ``batch_size="auto"`` picks, the width of the network's
first layer and the learned tissue embedding. If the estimator's internals
change, only this module needs to follow.
"""

import numpy as np


def auto_batch_size(n_rows, large=True):
    """The batch size ``PMIImputer(batch_size="auto")`` uses on ``n_rows``
    training rows, in a fit of at least 1,000 samples (``large``, which
    batches more) or of fewer."""
    from skimpute_gtex import PMIImputer
    from skimpute_gtex._torch._plan import auto_batch_size as rule

    est = PMIImputer()
    return rule(n_rows, (*est._LARGE_BATCH, True) if large
                else (*est._SMALL_BATCH, False))


def hidden_sizes(estimator):
    """The hidden layer widths of ``estimator.hidden_layer_sizes``, as a list."""
    sizes = estimator.hidden_layer_sizes
    return [int(sizes)] if np.ndim(sizes) == 0 else [int(s) for s in sizes]


def input_width(estimator):
    """Inputs of the first linear layer of a fitted PMI network."""
    import torch

    return next(m for m in estimator.module_.modules()
                if isinstance(m, torch.nn.Linear)).in_features


def first_embedding(estimator):
    """``(categories, weights)`` of the first categorical covariate's embedding.

    ``weights`` has one row per category of ``estimator.categories_[0]``
    (row 0 of the table, for categories unseen in fit, is left out). Of an
    ensemble (``n_estimators_ > 1``), the first network's: each network
    learns its own embedding space, so they cannot be averaged.
    """
    network = getattr(estimator.module_, "members", [estimator.module_])[0]
    table = network.embeddings.tables[0]
    return (np.asarray(estimator.categories_[0], dtype=str),
            table.weight.detach().cpu().numpy()[1:])
