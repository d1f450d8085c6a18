"""minisora.nn: layers built from particles, and the Module that holds their parameters."""
from . import init
from .activation import ELU, GELU, Dropout, LeakyReLU, ReLU, Sigmoid, SiLU, Softplus, Tanh
from .attention import MultiHeadAttention
from .batch_norm import BatchNorm1d, BatchNorm2d
from .container import Sequential
from .convolution import AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d
from .embedding import Embedding, PositionalEncoding
from .graph import GATConv, GCNConv, SAGEConv, global_add_pool, global_max_pool, global_mean_pool
from .linear import Flatten, Identity, Linear
from .module import Module, Parameter
from .normalization import LayerNorm
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, forget_gate_bias_
from .transformer import FeedForward, TransformerBlock

__all__ = [
    "Module", "Parameter", "Linear", "Identity", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "GELU", "SiLU", "Softplus", "ELU", "Dropout", "Sequential", "init", "Embedding", "PositionalEncoding", "LayerNorm", "MultiHeadAttention",
    "FeedForward", "TransformerBlock", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "forget_gate_bias_", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "GCNConv", "GATConv", "SAGEConv", "global_mean_pool", "global_max_pool",
    "global_add_pool",
]
