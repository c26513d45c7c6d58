"""The networks of the two models: nn.Module classes only."""

import math

import torch
from torch import nn


def embedding_dim(vocab_size):
    """Embedding width of Viñas et al.: floor(sqrt(vocab_size)) + 1."""
    return int(math.floor(math.sqrt(vocab_size))) + 1


class CovariateEmbeddings(nn.Module):
    """One learned embedding per categorical covariate column.

    ``vocab_sizes[k]`` counts the categories seen in fit; index 0 of every
    table is reserved for categories unseen in fit.
    """

    def __init__(self, vocab_sizes):
        super().__init__()
        self.tables = nn.ModuleList(
            nn.Embedding(v + 1, embedding_dim(v)) for v in vocab_sizes
        )
        self.out_features = sum(t.embedding_dim for t in self.tables)

    def forward(self, codes):
        if not self.tables:
            return codes.new_zeros((codes.shape[0], 0), dtype=torch.float32)
        return torch.cat([t(codes[:, k]) for k, t in enumerate(self.tables)], dim=1)


def mlp(in_features, hidden_layer_sizes, out_features, dropout, batch_norm):
    """Hidden blocks Linear -> BatchNorm -> ReLU (-> Dropout), linear output."""
    layers = []
    width = in_features
    for size in hidden_layer_sizes:
        layers.append(nn.Linear(width, size, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class ConditionalMLP(nn.Module):
    """MLP over ``[*inputs, numeric covariates, categorical embeddings]``.

    Parameters
    ----------
    n_inputs : int
        Total width of the per-gene tensors passed to ``forward`` (e.g. 2 x
        n_genes for PMI's ``x * m`` and ``m``).
    n_outputs : int
        Output width (n_genes).
    n_numeric : int
        Number of standardized numerical covariates.
    vocab_sizes : list of int
        Categories per categorical covariate column.
    """

    def __init__(
        self,
        n_inputs,
        n_outputs,
        n_numeric,
        vocab_sizes,
        hidden_layer_sizes,
        dropout,
        batch_norm,
    ):
        super().__init__()
        self.embeddings = CovariateEmbeddings(vocab_sizes)
        self.body = mlp(
            n_inputs + n_numeric + self.embeddings.out_features,
            hidden_layer_sizes,
            n_outputs,
            dropout,
            batch_norm,
        )

    def forward(self, tensors, numeric, codes):
        return self.body(torch.cat([*tensors, numeric, self.embeddings(codes)], dim=1))
