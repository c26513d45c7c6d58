"""Seeds drawn from a NumPy random state."""

import numpy as np


def draw_seed(random_state):
    """Draw one integer seed from a :class:`numpy.random.RandomState`."""
    return int(random_state.randint(np.iinfo(np.int32).max))
