"""The graph behind a tensor, as text (explain), as Mermaid (renders on GitHub and in notebooks)
and as Graphviz DOT.

    y = F.relu(x @ w + b)
    print(ms.inspect.explain(y))          # indented: y's particle, then what it was made from
    print(ms.inspect.to_mermaid(y))       # flowchart: leaves at the bottom, y on top

Each tensor is a node: a leaf shows its name (when `names` gives one) and shape; a computed
tensor shows the particle that made it. Arrows point from inputs to what was made from them.
"""
from ..autograd import inputs_first
from ..particles.particle import describe


def label(tensor, names):
    shape = describe(tensor.data)
    if tensor._ctx is not None:
        return f"{tensor._ctx.particle.name} {shape}"
    name = names.get(id(tensor), "leaf")
    return f"{name} {shape}" + (" (requires grad)" if tensor.requires_grad else "")


def name_map(names):
    """{id(tensor): name} from a Module (its parameter names) or a {name: tensor} dict."""
    if names is None:
        return {}
    pairs = names.named_parameters() if hasattr(names, "named_parameters") else names.items()
    return {id(tensor): name for name, tensor in pairs}


def explain(tensor, names=None):
    """The graph as indented text, the result first; a tensor used twice is written out once."""
    names, numbers, lines = name_map(names), {id(t): i for i, t in enumerate(inputs_first(tensor, needing_grad=False))}, []

    def write(t, depth, written):
        number = numbers[id(t)]
        if id(t) in written:
            lines.append(f"{'  ' * depth}#{number} (see above)")
            return
        written.add(id(t))
        formula = f"   {t._ctx.particle.formula}" if t._ctx is not None else ""
        lines.append(f"{'  ' * depth}#{number} {label(t, names)}{formula}")
        if t._ctx is not None:
            for parent in t._ctx.inputs:
                write(parent, depth + 1, written)

    write(tensor, 0, set())
    return "\n".join(lines)


def to_mermaid(tensor, names=None):
    """A Mermaid flowchart (paste into a ```mermaid block on GitHub or in a notebook)."""
    names, order = name_map(names), inputs_first(tensor, needing_grad=False)
    numbers = {id(t): i for i, t in enumerate(order)}
    lines = ["flowchart BT"]
    for i, t in enumerate(order):
        text = label(t, names).replace('"', "'")
        lines.append(f'    n{i}["{text}"]' if t._ctx is not None else f'    n{i}(["{text}"])')
    for t in order:
        if t._ctx is not None:
            lines.extend(f"    n{numbers[id(p)]} --> n{numbers[id(t)]}" for p in t._ctx.inputs)
    return "\n".join(lines)


def to_dot(tensor, names=None):
    """Graphviz DOT (`dot -Tpng graph.dot -o graph.png`)."""
    names, order = name_map(names), inputs_first(tensor, needing_grad=False)
    numbers = {id(t): i for i, t in enumerate(order)}
    lines = ["digraph minisora {", "    rankdir=BT;", '    node [fontname="Helvetica"];']
    for i, t in enumerate(order):
        shape = "box" if t._ctx is not None else "ellipse"
        text = label(t, names).replace('"', '\\"')
        lines.append(f'    n{i} [label="{text}", shape={shape}];')
    for t in order:
        if t._ctx is not None:
            lines.extend(f"    n{numbers[id(p)]} -> n{numbers[id(t)]};" for p in t._ctx.inputs)
    lines.append("}")
    return "\n".join(lines)
