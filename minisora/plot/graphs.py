"""Pictures of graphs: the nodes coloured by class, and node embeddings projected to 2-D."""
import numpy as np

from .figure import finish, new_figure

MAX_DRAWN = 400   # a bigger graph is drawn as the subgraph of this many of its nodes (a hairball otherwise)


def graph_layout(edges, nodes, seed=0):
    """2-D places for `nodes` (a spring layout by networkx) given host edges (2, E) among them."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(len(nodes)))
    g.add_edges_from(map(tuple, edges.T))
    places = nx.spring_layout(g, seed=seed)
    return np.array([places[i] for i in range(len(nodes))])


def graph_classes(graph, predicted, truth=None, path=None, title="predicted classes", class_names=None, seed=0):
    """The graph (an ms.graph.Graph) with each node coloured by its predicted class; a node whose
    prediction is wrong (where `truth` is given) gets a red ring. Graphs over MAX_DRAWN nodes show
    the subgraph of MAX_DRAWN nodes drawn at random (seeded)."""
    nodes = np.arange(graph.num_nodes)
    if graph.num_nodes > MAX_DRAWN:
        nodes = np.sort(np.random.default_rng(seed).choice(graph.num_nodes, MAX_DRAWN, replace=False))
    number = np.full(graph.num_nodes, -1)
    number[nodes] = np.arange(len(nodes))
    edges = number[graph.host_edges]
    edges = edges[:, (edges >= 0).all(0) & (edges[0] < edges[1])]
    places = graph_layout(edges, nodes, seed)
    figure = new_figure(7, 6)
    axes = figure.add_subplot()
    for s, t in edges.T:
        axes.plot(places[[s, t], 0], places[[s, t], 1], color="0.8", linewidth=0.6, zorder=1)
    classes = np.asarray(predicted)[nodes]
    scatter = axes.scatter(places[:, 0], places[:, 1], c=classes, cmap="tab10", vmin=0, vmax=9, s=60 if len(nodes) < 100
                           else 14, zorder=2)
    rings = []
    if truth is not None:
        wrong = classes != np.asarray(truth)[nodes]
        rings = [axes.scatter(places[wrong, 0], places[wrong, 1], facecolors="none", edgecolors="red", s=140 if len(nodes) < 100
                     else 40, linewidths=1.5, zorder=3, label="wrong")]
        title = f"{title} ({wrong.sum()} of {len(nodes)} wrong)"
    names = class_names or [str(c) for c in range(int(classes.max()) + 1 if len(classes) else 0)]
    handles = [axes.scatter([], [], color=scatter.cmap(scatter.norm(c)), label=names[c]) for c in np.unique(classes)]
    axes.legend(handles=handles + rings, loc="best", fontsize=8)
    axes.set_title(title + ("" if len(nodes) == graph.num_nodes else f", {len(nodes)} of {graph.num_nodes} nodes"))
    axes.set_axis_off()
    return finish(figure, path)


def embedding_projection(embeddings, labels, path=None, title="node embeddings", class_names=None):
    """Each node's embedding (N, D) projected on its two principal directions, coloured by label."""
    centred = np.asarray(embeddings, np.float64) - np.mean(embeddings, axis=0)
    _, strengths, directions = np.linalg.svd(centred, full_matrices=False)
    points = centred @ directions[:2].T if centred.shape[1] >= 2 else np.c_[centred[:, 0], np.zeros(len(centred))]
    share = strengths[:2] ** 2 / max((strengths ** 2).sum(), 1e-300)
    figure = new_figure(6, 5)
    axes = figure.add_subplot()
    labels = np.asarray(labels)
    for c in np.unique(labels):
        name = class_names[c] if class_names else str(c)
        axes.scatter(points[labels == c, 0], points[labels == c, 1], s=10, label=name, color=f"C{c % 10}")
    axes.set_xlabel(f"first principal direction ({share[0]:.0%} of the variance)")
    axes.set_ylabel(f"second ({share[1]:.0%})" if len(share) > 1 else "second")
    axes.set_title(title)
    axes.legend(fontsize=8, markerscale=2)
    return finish(figure, path)
