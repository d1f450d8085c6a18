"""The graph particles (gather_rows, scatter_add/mean/max, segment_softmax, spmm): kernels against
the NumPy references on every device (CPU, and the CUDA simulator's atomic and deterministic
forms), float64 gradient checks on drawn graphs (isolated nodes, duplicate edges, self-loops, a
single node, non-contiguous features), the Graph object's groupings and GCN weights, and clear
errors for ids out of range, float ids and wrong row counts. (PyTorch's numbers: test_gnn.py.)"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import F
from minisora.graph import Graph
from minisora.particles import get
from minisora.particles.graph import group_by
from helpers import DEVICES, TOLERANCE, check_against_reference, check_gradcheck

# 5 nodes: node 3 isolated, node 0 has a self-loop, 1 -> 2 twice (a duplicate)
EDGES = np.array([[0, 1, 1, 2, 4, 0, 2], [0, 2, 2, 0, 0, 4, 1]])
NODES = 5


def graphs():
    """(edge_index, num_nodes) with isolated nodes, duplicates and self-loops likely; 0 edges too."""
    return st.integers(1, 6).flatmap(lambda n: st.tuples(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=0, max_size=12)
        .map(lambda pairs: np.array(pairs, np.int64).reshape(-1, 2).T), st.just(n)))


def test_group_by_is_a_stable_counting_sort():
    indptr, order = group_by(np.array([2, 0, 2, 1, 0]), 4)
    np.testing.assert_array_equal(indptr, [0, 2, 3, 5, 5])
    np.testing.assert_array_equal(order, [1, 4, 3, 0, 2])   # each node's edges in edge order


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["scatter_add", "scatter_mean", "scatter_max"])
def test_scatters_match_the_reference(name, dtype, device):
    rng = np.random.default_rng(0)
    src, index = rng.standard_normal((EDGES.shape[1], 3)), EDGES[1]
    check_against_reference(get(name), lambda s, i: F.scatter(s, i, NODES, reduce=name.split("_")[1]),
                            [src, index], {"num_nodes": NODES}, dtype=dtype, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("deterministic", [False, True])
def test_gpu_atomic_and_deterministic_sums_agree(device, deterministic):
    rng = np.random.default_rng(1)
    src = rng.standard_normal((EDGES.shape[1], 2, 3))   # trailing dims: heads x features
    for reduce in ("sum", "mean"):
        out = F.scatter(ms.tensor(src, device=device), ms.tensor(EDGES[1], device=device), NODES, reduce=reduce,
                        deterministic=deterministic)
        expected = get(f"scatter_{'add' if reduce == 'sum' else reduce}").reference(src, EDGES[1], NODES)
        np.testing.assert_allclose(out.numpy(), expected, **TOLERANCE["float64"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gather_softmax_spmm_match_the_reference(dtype, device):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((NODES, 4))
    check_against_reference(get("gather_rows"), F.gather_rows, [x, EDGES[0]], dtype=dtype, device=device)
    scores = rng.standard_normal((EDGES.shape[1], 2)) * 5
    check_against_reference(get("segment_softmax"), lambda s, i: F.segment_softmax(s, i, NODES), [scores, EDGES[1]],
                            {"num_nodes": NODES}, dtype=dtype, device=device)
    graph = Graph(EDGES, NODES, device=device)
    values = rng.standard_normal(EDGES.shape[1])
    check_against_reference(get("spmm"), lambda v, h, _: F.spmm(graph, h, v), [values, x, EDGES], dtype=dtype,
                            device=device)
    heads = rng.standard_normal((EDGES.shape[1], 2))   # a weight per head: GAT's weighted sum of messages
    check_against_reference(get("spmm"), lambda v, h, _: F.spmm(graph, h, v), [heads, x.reshape(NODES, 2, 2), EDGES],
                            dtype=dtype, device=device)


def test_segment_softmax_is_stable_and_sums_to_one_per_node():
    scores = ms.tensor([1000.0, 1001.0, -1000.0, 5.0])
    weights = F.segment_softmax(scores, ms.tensor([0, 0, 1, 0]), 3).numpy()
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose([weights[[0, 1, 3]].sum(), weights[2]], [1.0, 1.0])


def test_scatter_max_takes_the_first_of_ties_and_leaves_empty_rows_zero():
    src = ms.tensor([[2.0], [2.0], [1.0]], requires_grad=True)
    out = F.scatter_max(src, ms.tensor([1, 1, 1]), 3)
    np.testing.assert_array_equal(out.numpy(), [[0.0], [2.0], [0.0]])
    out.sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [[1.0], [0.0], [0.0]])


@settings(max_examples=12, deadline=None)
@given(graph=graphs(), features=st.sampled_from([1, 3]), reduce=st.sampled_from(["sum", "mean", "max"]),
       strided=st.booleans())
def test_scatter_and_gather_gradcheck_on_drawn_graphs(graph, features, reduce, strided):
    edge_index, n = graph
    rng = np.random.default_rng(edge_index.size + features)
    src = rng.standard_normal((edge_index.shape[1], 2 * features))
    src = src[:, ::2] if strided else src[:, :features]   # a non-contiguous view when strided
    target = edge_index[1]
    np.testing.assert_allclose(F.scatter(ms.tensor(src), ms.tensor(target), n, reduce=reduce).numpy(),
                               get(f"scatter_{'add' if reduce == 'sum' else reduce}").reference(src, target, n),
                               **TOLERANCE["float64"])
    if edge_index.shape[1]:
        check_gradcheck(lambda s, i: F.scatter(s, i, n, reduce=reduce), [src, target])
    x = rng.standard_normal((n, features))
    check_gradcheck(lambda h, i: F.gather_rows(h, i), [x, edge_index[0]])


@settings(max_examples=12, deadline=None)
@given(graph=graphs(), heads=st.sampled_from([1, 2]))
def test_segment_softmax_and_spmm_gradcheck_on_drawn_graphs(graph, heads):
    edge_index, n = graph
    if edge_index.shape[1] == 0:
        return
    rng = np.random.default_rng(edge_index.size + heads)
    check_gradcheck(lambda s, i: F.segment_softmax(s, i, n), [rng.standard_normal((edge_index.shape[1], heads)),
                                                               edge_index[1]])
    g = Graph(edge_index, n)
    check_gradcheck(lambda v, h: F.spmm(g, h, v), [rng.standard_normal(edge_index.shape[1]),
                                                    rng.standard_normal((n, 3))])
    check_gradcheck(lambda v, h: F.spmm(g, h, v), [rng.standard_normal((edge_index.shape[1], heads)),
                                                    rng.standard_normal((n, heads, 2))])


def test_graph_self_loops_and_gcn_weights():
    g = Graph(EDGES, NODES)
    looped = g.with_self_loops()
    assert looped.num_edges == EDGES.shape[1] - 1 + NODES   # node 0's loop replaced, one at every node
    degree = np.bincount(looped.host_edges[1], minlength=NODES)
    expected = 1 / np.sqrt(degree[looped.host_edges[0]] * degree[looped.host_edges[1]])
    np.testing.assert_allclose(g.gcn_weights(np.float64).numpy(), expected)
    assert g.with_self_loops() is looped and g.by_target() is g.by_target()   # built once, kept


def test_graph_from_networkx_lists_both_directions():
    nx = pytest.importorskip("networkx")
    g = Graph.from_networkx(nx.path_graph(3))
    assert sorted(map(tuple, g.host_edges.T)) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    indptr, neighbours = g.neighbours()
    np.testing.assert_array_equal(neighbours[indptr[1]:indptr[2]], [0, 2])


def test_bad_input_names_the_particle_and_the_ids():
    x = ms.tensor(np.ones((3, 2)))
    with pytest.raises(IndexError, match=r"^gather_rows: index 3 is out of range \[0, 3\) for 3 nodes"):
        F.gather_rows(x, ms.tensor([0, 3]))
    with pytest.raises(IndexError, match=r"^scatter_add: index -1 is out of range \[0, 2\)"):
        F.scatter_add(x, ms.tensor([0, -1, 1]), 2)
    with pytest.raises(TypeError, match=r"^scatter_mean: index must be integers, got float32\[3\]"):
        F.scatter_mean(x, ms.tensor([0.0, 1.0, 1.0]), 2)
    with pytest.raises(ValueError, match=r"^scatter_max: src float64\[3, 2\] has 3 rows, index int64\[2\] 2 ids"):
        F.scatter_max(x, ms.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match=r"^spmm: values float64\[2\] must hold one weight per edge \(7 edges\)"):
        F.spmm(Graph(EDGES, NODES), ms.tensor(np.ones((NODES, 2))), ms.tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"^spmm: values \(E,\) take x \(nodes, features\) and values \(E, heads\)"):
        F.spmm(Graph(EDGES, NODES), ms.tensor(np.ones((NODES, 3, 2))), ms.tensor(np.ones((7, 2))))
    with pytest.raises(IndexError, match=r"^Graph: edge_index names node 4, outside num_nodes=3"):
        Graph(EDGES, 3)
    with pytest.raises(TypeError, match=r"^Graph: edge_index must be integers"):
        Graph(EDGES.astype(float))
