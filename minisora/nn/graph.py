"""Graph layers: message passing from particles, with PyTorch Geometric's names, shapes, init
and state-dict keys. Each takes x (nodes, features) and an ms.graph.Graph (edges s -> t; a node
hears its sources).

    GCNConv    h_i = b + sum over j -> i (self-loops added) of W x_j / sqrt(deg_i deg_j)
    GATConv    h_i = b + sum over j -> i (and i itself) of a_ij W x_j, per head, with
               a_ij = softmax over i's sources j of LeakyReLU_0.2(att_src . W x_j + att_dst . W x_i)
    SAGEConv   h_i = W_l mean over j -> i of x_j + b + W_r x_i
    global_mean_pool / global_max_pool / global_add_pool: one row per graph of a batch
"""
from .. import errors, functional as F
from ..creation import zeros
from . import init
from .linear import Linear
from .module import Module, Parameter


def checked(layer, x, graph, in_channels):
    if x.ndim != 2 or x.shape[1] != in_channels:
        raise errors.ValueError(f"{layer}: x must be (nodes, {in_channels}), got {x.dtype}{list(x.shape)}")
    if x.shape[0] != graph.num_nodes:
        raise errors.ValueError(f"{layer}: x has {x.shape[0]} rows but the graph has {graph.num_nodes} nodes")
    if x.device != graph.device:
        raise errors.RuntimeError(f"{layer}: x is on {x.device}, the graph on {graph.device}; move one with .to()")


class GCNConv(Module):
    """Kipf & Welling's graph convolution: h = D^-1/2 (A + I) D^-1/2 x W^T + b, a spmm over the
    graph with its remaining self-loops (weights built once per graph and kept on it)."""

    def __init__(self, in_channels, out_channels, bias=True, dtype="float32"):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.lin = Linear(in_channels, out_channels, bias=False, dtype=dtype)
        init.glorot_(self.lin.weight)
        self.bias = Parameter(zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x, graph):
        checked("GCNConv", x, graph, self.in_channels)
        looped = graph.with_self_loops()
        h = F.spmm(looped, self.lin(x), graph.gcn_weights(x.dtype))
        return h if self.bias is None else h + self.bias

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}"


class GATConv(Module):
    """Graph attention (Velickovic et al., PyTorch Geometric's GATConv): per head, a softmax over
    each node's sources (itself included) of LeakyReLU(0.2) scores, the weighted sum of their
    transformed features; heads concatenated (concat=True) or averaged. Attention dropout drops
    the weights while training. `return_attention_weights=True` also returns the graph with
    self-loops and the weights (edges, heads), for plots."""

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2, dropout=0.0, bias=True,
                 dtype="float32"):
        super().__init__()
        self.in_channels, self.out_channels, self.heads = int(in_channels), int(out_channels), int(heads)
        self.concat, self.negative_slope, self.dropout = bool(concat), float(negative_slope), float(dropout)
        self.lin = Linear(in_channels, heads * out_channels, bias=False, dtype=dtype)
        init.glorot_(self.lin.weight)
        self.att_src = Parameter(zeros(1, heads, out_channels, dtype=dtype))
        self.att_dst = Parameter(zeros(1, heads, out_channels, dtype=dtype))
        init.glorot_(self.att_src)
        init.glorot_(self.att_dst)
        size = heads * out_channels if concat else out_channels
        self.bias = Parameter(zeros(size, dtype=dtype)) if bias else None

    def forward(self, x, graph, return_attention_weights=False):
        checked("GATConv", x, graph, self.in_channels)
        looped = graph.with_self_loops()
        sources, targets = looped.sources, looped.targets
        h = self.lin(x).reshape(x.shape[0], self.heads, self.out_channels)            # (N, H, C)
        score_src, score_dst = (h * self.att_src).sum(-1), (h * self.att_dst).sum(-1)   # (N, H)
        scores = F.gather_rows(score_src, sources, looped.by_source()) \
            + F.gather_rows(score_dst, targets, looped.by_target())                      # (E, H)
        weights = F.segment_softmax(F.leaky_relu(scores, self.negative_slope), targets, looped.num_nodes,
                                    looped.by_target())
        dropped = F.dropout(weights, self.dropout, self.training)
        out = F.spmm(looped, h, dropped)   # out[i, h] = sum over i's sources j of a_ij W x_j, head by head
        out = out.reshape(x.shape[0], self.heads * self.out_channels) if self.concat else out.mean(1)
        if self.bias is not None:
            out = out + self.bias
        return (out, (looped, weights)) if return_attention_weights else out

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}"


class SAGEConv(Module):
    """GraphSAGE with the mean aggregator: h_i = lin_l(mean of x_j over i's sources) + lin_r(x_i)
    (a node with no sources hears 0)."""

    def __init__(self, in_channels, out_channels, bias=True, dtype="float32"):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.lin_l = Linear(in_channels, out_channels, bias=bias, dtype=dtype)
        self.lin_r = Linear(in_channels, out_channels, bias=False, dtype=dtype)

    def forward(self, x, graph):
        checked("SAGEConv", x, graph, self.in_channels)
        sources, targets = graph.sources, graph.targets
        mean = F.scatter_mean(F.gather_rows(x, sources, graph.by_source()), targets, graph.num_nodes,
                              graph_groups=graph.by_target())
        return self.lin_l(mean) + self.lin_r(x)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, aggr='mean'"


def global_pool(x, batch, size, reduce):
    """One row per graph: x's rows combined by batch[i] (which graph node i belongs to)."""
    if size is None:
        size = int(batch.numpy().max()) + 1 if batch.numel() else 0
    return F.scatter(x, batch, size, reduce=reduce)


def global_mean_pool(x, batch, size=None):
    return global_pool(x, batch, size, "mean")


def global_max_pool(x, batch, size=None):
    return global_pool(x, batch, size, "max")


def global_add_pool(x, batch, size=None):
    return global_pool(x, batch, size, "sum")
