"""Graph layers and particles against PyTorch (golden/graph.npz: the equations as dense float64
matrices, make_graph.py), on graphs with an isolated node, a self-loop already there, a duplicate
edge and a single node; float64 gradient checks of the layers; the layers' names, init and errors."""
import os

import numpy as np
import pytest

import minisora as ms
from minisora import F, nn
from minisora.graph import Graph
from golden.graph_cases import GRAPHS, HEADS, IN_CHANNELS, OUT_CHANNELS
from helpers import check_gradcheck

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden", "graph.npz"))
CLOSE = dict(rtol=1e-10, atol=1e-12)


def layer(kind):
    if kind == "gcn":
        return nn.GCNConv(IN_CHANNELS, OUT_CHANNELS, dtype="float64")
    if kind == "sage":
        return nn.SAGEConv(IN_CHANNELS, OUT_CHANNELS, dtype="float64")
    return nn.GATConv(IN_CHANNELS, OUT_CHANNELS, heads=HEADS, concat=kind == "gat_concat", dtype="float64")


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
@pytest.mark.parametrize("kind", ["gcn", "gat_concat", "gat_mean", "sage"])
def test_layers_match_pytorch(kind, graph_name):
    (sources, targets), n = GRAPHS[graph_name]
    graph, key = Graph(np.array([sources, targets], np.int64).reshape(2, -1), n), f"{graph_name}/{kind}"
    module = layer(kind)
    names = [k[len(key) + 7:] for k in GOLDEN.files if k.startswith(f"{key}/param/")]
    assert sorted(names) == sorted(module.state_dict()), "the state-dict keys are PyTorch Geometric's"
    module.load_state_dict({k: GOLDEN[f"{key}/param/{k}"] for k in names})
    x = ms.tensor(GOLDEN[f"{graph_name}/x"], requires_grad=True)
    out = module(x, graph)
    np.testing.assert_allclose(out.numpy(), GOLDEN[f"{key}/output"], **CLOSE)
    (out * ms.tensor(GOLDEN[f"{key}/weight"])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), GOLDEN[f"{key}/grad_x"], **CLOSE)
    parameters = dict(module.named_parameters())
    for k in names:
        np.testing.assert_allclose(parameters[k].grad.numpy(), GOLDEN[f"{key}/grad/{k}"], **CLOSE, err_msg=k)


PARTICLES = {
    "gather_rows": lambda v, s, t, n: F.gather_rows(v, s),
    "scatter_add": lambda v, s, t, n: F.scatter_add(v, t, n),
    "scatter_mean": lambda v, s, t, n: F.scatter_mean(v, t, n),
    "scatter_max": lambda v, s, t, n: F.scatter_max(v, t, n),
    "segment_softmax": lambda v, s, t, n: F.segment_softmax(v, t, n),
}


@pytest.mark.parametrize("graph_name", ["mixed", "path_both_ways"])
@pytest.mark.parametrize("particle", sorted(PARTICLES) + ["spmm"])
def test_particles_match_pytorch(particle, graph_name):
    (sources, targets), n = GRAPHS[graph_name]
    key = f"{graph_name}/{particle}"
    value = ms.tensor(GOLDEN[f"{key}/input"], requires_grad=True)
    s, t = ms.tensor(sources), ms.tensor(targets)
    if particle == "spmm":
        out = F.spmm(Graph(np.array([sources, targets]), n), value, ms.tensor(GOLDEN[f"{key}/values"]))
    else:
        out = PARTICLES[particle](value, s, t, n)
    np.testing.assert_allclose(out.numpy(), GOLDEN[f"{key}/output"], **CLOSE)
    (out * ms.tensor(GOLDEN[f"{key}/weight"])).sum().backward()
    np.testing.assert_allclose(value.grad.numpy(), GOLDEN[f"{key}/grad"], **CLOSE)


@pytest.mark.parametrize("kind", ["gcn", "gat_concat", "gat_mean", "sage"])
def test_layers_gradcheck(kind):
    (sources, targets), n = GRAPHS["mixed"]
    graph = Graph(np.array([sources, targets]), n)
    ms.manual_seed(0)
    module = layer(kind)
    x = np.random.default_rng(0).standard_normal((n, IN_CHANNELS))
    check_gradcheck(lambda h: module(h, graph), [x])   # (the parameters' gradients: against PyTorch above)


def test_gat_returns_its_attention_weights_and_drops_them_while_training():
    graph = Graph(np.array([[0, 1, 2], [1, 2, 0]]), 3)
    ms.manual_seed(0)
    gat = nn.GATConv(IN_CHANNELS, OUT_CHANNELS, heads=HEADS, dropout=0.5)
    x = ms.randn(3, IN_CHANNELS)
    gat.eval()
    out, (looped, weights) = gat(x, graph, return_attention_weights=True)
    assert weights.shape == (looped.num_edges, HEADS) and looped.num_edges == 6
    np.testing.assert_allclose(F.scatter_add(weights, looped.targets, 3).numpy(), np.ones((3, HEADS)), rtol=1e-6)
    np.testing.assert_allclose(gat(x, graph).numpy(), out.numpy())   # eval: no dropout, the same numbers
    gat.train()
    assert not np.allclose(gat(x, graph).numpy(), out.numpy())


def test_global_pools_give_a_row_per_graph():
    x = ms.tensor([[1.0, -1.0], [3.0, 5.0], [2.0, 0.0]])
    batch = ms.tensor([0, 0, 1])
    np.testing.assert_allclose(nn.global_mean_pool(x, batch).numpy(), [[2.0, 2.0], [2.0, 0.0]])
    np.testing.assert_allclose(nn.global_max_pool(x, batch).numpy(), [[3.0, 5.0], [2.0, 0.0]])
    np.testing.assert_allclose(nn.global_add_pool(x, batch, size=3).numpy(), [[4.0, 4.0], [2.0, 0.0], [0.0, 0.0]])


def test_layers_refuse_features_that_do_not_fit_the_graph():
    graph = Graph(np.array([[0, 1], [1, 0]]), 2)
    with pytest.raises(ValueError, match=r"^GCNConv: x has 3 rows but the graph has 2 nodes"):
        nn.GCNConv(3, 4)(ms.randn(3, 3), graph)
    with pytest.raises(ValueError, match=r"^GATConv: x must be \(nodes, 3\), got float32\[2, 5\]"):
        nn.GATConv(3, 4)(ms.randn(2, 5), graph)
