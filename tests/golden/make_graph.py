"""Write graph.npz: the graph particles and GCNConv, GATConv (concat and mean of heads) and SAGEConv
as dense PyTorch matrices in float64 (the equations written with an adjacency matrix that counts
duplicate edges, no torch_geometric), and the gradients of a fixed weighted sum of each output,
for the graphs in graph_cases.py.

(PyTorch Geometric 2.8.1's GCNConv, GATConv and SAGEConv, loaded with the same state dicts, give
these outputs to 1e-15: checked once when the file was made.)

Run once with PyTorch installed (python tests/golden/make_graph.py); the file is committed so CI
checks minisora's graph layers against PyTorch without installing it.
"""
import os

import numpy as np
import torch

from graph_cases import GRAPHS, HEADS, IN_CHANNELS, OUT_CHANNELS


def adjacency(sources, targets, n):
    """A[t, s] = how many edges s -> t."""
    a = torch.zeros(n, n, dtype=torch.float64)
    for s, t in zip(sources, targets):
        a[t, s] += 1
    return a


def with_one_loop_each(a):
    """Existing self-loops dropped, one added at every node (PyTorch Geometric's GCN and GAT)."""
    return a - torch.diag(torch.diag(a)) + torch.eye(a.shape[0], dtype=a.dtype)


def gcn(x, p, a):
    looped = with_one_loop_each(a)
    inverse_root = looped.sum(1).pow(-0.5)
    return inverse_root[:, None] * looped * inverse_root[None, :] @ (x @ p["lin.weight"].T) + p["bias"]


def gat(x, p, a, concat):
    looped = with_one_loop_each(a)
    h = (x @ p["lin.weight"].T).reshape(x.shape[0], HEADS, OUT_CHANNELS)
    score_src, score_dst = (h * p["att_src"]).sum(-1), (h * p["att_dst"]).sum(-1)       # (N, H)
    scores = torch.nn.functional.leaky_relu(score_dst.T[:, :, None] + score_src.T[:, None, :], 0.2)   # (H, t, s)
    scores = scores - scores.masked_fill(looped == 0, -torch.inf).amax(-1, keepdim=True)
    weights = looped * scores.exp()              # a duplicate edge counts twice in the softmax
    weights = weights / weights.sum(-1, keepdim=True)
    out = torch.einsum("hts,shc->thc", weights, h)
    out = out.reshape(x.shape[0], -1) if concat else out.mean(1)
    return out + p["bias"]


def sage(x, p, a):
    counts = a.sum(1, keepdim=True)
    mean = torch.where(counts > 0, a @ x / counts.clamp(min=1), torch.zeros_like(x))
    return mean @ p["lin_l.weight"].T + p["lin_l.bias"] + x @ p["lin_r.weight"].T


LAYERS = {
    "gcn": (lambda rng: {"lin.weight": rng.standard_normal((OUT_CHANNELS, IN_CHANNELS)),
                         "bias": rng.standard_normal(OUT_CHANNELS)}, gcn),
    "gat_concat": (lambda rng: {"lin.weight": rng.standard_normal((HEADS * OUT_CHANNELS, IN_CHANNELS)),
                                "att_src": rng.standard_normal((1, HEADS, OUT_CHANNELS)),
                                "att_dst": rng.standard_normal((1, HEADS, OUT_CHANNELS)),
                                "bias": rng.standard_normal(HEADS * OUT_CHANNELS)},
                   lambda x, p, a: gat(x, p, a, True)),
    "gat_mean": (lambda rng: {"lin.weight": rng.standard_normal((HEADS * OUT_CHANNELS, IN_CHANNELS)),
                              "att_src": rng.standard_normal((1, HEADS, OUT_CHANNELS)),
                              "att_dst": rng.standard_normal((1, HEADS, OUT_CHANNELS)),
                              "bias": rng.standard_normal(OUT_CHANNELS)},
                 lambda x, p, a: gat(x, p, a, False)),
    "sage": (lambda rng: {"lin_l.weight": rng.standard_normal((OUT_CHANNELS, IN_CHANNELS)),
                          "lin_l.bias": rng.standard_normal(OUT_CHANNELS),
                          "lin_r.weight": rng.standard_normal((OUT_CHANNELS, IN_CHANNELS))}, sage),
}


def particles(sources, targets, n, rng):
    """The particles as dense products: M[i, e] = 1 where edge e ends at i."""
    e = len(sources)
    ends = torch.zeros(n, e, dtype=torch.float64)
    ends[targets, torch.arange(e)] = 1
    counts = ends.sum(1, keepdim=True)

    def segment_softmax(s):   # (E, H): a softmax over each target's edges
        masked = torch.where(ends[:, :, None] > 0, s[None], -torch.inf)   # (N, E, H)
        largest = masked.amax(1).nan_to_num(neginf=0.0)
        exps = (s - largest[targets]).exp()
        return exps / (ends @ exps)[targets]

    def scatter_max(s):
        masked = torch.where(ends[:, :, None] > 0, s[None], -torch.inf).amax(1)
        return torch.where(torch.isinf(masked), torch.zeros_like(masked), masked)

    return {
        "gather_rows": ((n, 3), lambda x: x[torch.tensor(sources, dtype=torch.long)]),
        "scatter_add": ((e, 3), lambda s: ends @ s),
        "scatter_mean": ((e, 3), lambda s: ends @ s / counts.clamp(min=1)),
        "scatter_max": ((e, 3), scatter_max),
        "segment_softmax": ((e, 2), segment_softmax),
        "spmm": ((n, 3), lambda x, w=torch.tensor(rng.standard_normal(e)): (ends * w) @ x[sources]),
    }


def main():
    arrays = {}
    for index, (name, ((sources, targets), n)) in enumerate(GRAPHS.items()):
        rng = np.random.default_rng(index)
        a = adjacency(sources, targets, n)
        x = rng.standard_normal((n, IN_CHANNELS))
        arrays[f"{name}/x"] = x
        for layer, (make, formula) in LAYERS.items():
            params = {k: torch.tensor(v, requires_grad=True) for k, v in make(rng).items()}
            xt = torch.tensor(x, requires_grad=True)
            out = formula(xt, params, a)
            weight = rng.standard_normal(out.shape)
            (out * torch.tensor(weight)).sum().backward()
            key = f"{name}/{layer}"
            arrays[f"{key}/output"], arrays[f"{key}/weight"], arrays[f"{key}/grad_x"] = \
                out.detach().numpy(), weight, xt.grad.numpy()
            for k, v in params.items():
                arrays[f"{key}/param/{k}"], arrays[f"{key}/grad/{k}"] = v.detach().numpy(), v.grad.numpy()
        for particle, (shape, formula) in (particles(sources, targets, n, rng) if sources else {}).items():
            value = torch.tensor(rng.standard_normal(shape), requires_grad=True)
            out = formula(value)
            weight = rng.standard_normal(out.shape)
            (out * torch.tensor(weight)).sum().backward()
            key = f"{name}/{particle}"
            arrays[f"{key}/input"], arrays[f"{key}/output"] = value.detach().numpy(), out.detach().numpy()
            arrays[f"{key}/weight"], arrays[f"{key}/grad"] = weight, value.grad.numpy()
            if particle == "spmm":
                arrays[f"{key}/values"] = formula.__defaults__[0].numpy()
    np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "graph.npz"), **arrays)


if __name__ == "__main__":
    main()
