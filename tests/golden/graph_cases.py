"""The graphs the graph goldens hold: (edge_index as (sources, targets), num_nodes). Shared by
make_graph.py (PyTorch, dense matrices) and test_gnn.py (minisora)."""
GRAPHS = {
    # node 3 isolated, node 0 with a self-loop already, 1 -> 2 twice (a duplicate edge)
    "mixed": (([0, 1, 1, 2, 4, 0, 2, 5, 4], [0, 2, 2, 0, 0, 4, 1, 4, 5]), 6),
    "single_node": (([], []), 1),
    "path_both_ways": (([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]), 4),
}
IN_CHANNELS, OUT_CHANNELS, HEADS = 3, 4, 2
