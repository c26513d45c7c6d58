"""Hypothesis settings for the property tests in this folder.

The ``ci`` profile (no deadline, print the reproduction blob on failure) is
loaded by default; set ``HYPOTHESIS_PROFILE`` to load another registered one.
"""

import os
import warnings

from hypothesis import settings

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# When a property fails, Hypothesis's pytest plugin imports its patch writer,
# whose libcst dependency emits a DeprecationWarning at import; with the
# project's "error::DeprecationWarning" filter that turns a test failure into a
# pytest INTERNALERROR. Import it here, quietly, once.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:
        pass
