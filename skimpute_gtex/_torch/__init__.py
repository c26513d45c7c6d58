"""Private torch core: the deep imputers and everything they train with.

The only package of skimpute_gtex that imports torch: the torch estimator base
(``_estimator``), PMI and GAIN, their networks, training loop, devices and
threads. The baselines, metrics and datasets import without torch.
"""
