"""Magnitude pruning: set the weights nearest zero to exactly zero, and count what is left.

    prune_magnitude(model, 0.5)                 the half of each layer's weights smallest in |w|
    prune_magnitude(model, 0.5, per_row=True)   half of each output neuron's own weights (every
                                                neuron keeps as many inputs: the structure a
                                                sparse kernel can use row by row)

Small weights add little to a neuron's sum, so they go first. The zeros are set once, in place;
a model fine-tuned afterwards would grow them back unless its updates were masked too (this
module only measures what pruning alone costs). `sparsity(model)` counts the zeros per layer.
"""
import numpy as np

from .. import errors
from ..autograd import changed_in_place
from .convert import layers_to_quantize


def prune_magnitude(model, amount, per_row=False, skip=()):
    """Zero the `amount` (a fraction in [0, 1)) of smallest-magnitude weights of every Linear and
    Conv2d, in place; returns sparsity(model)."""
    if not 0.0 <= amount < 1.0:
        raise errors.ValueError(f"prune_magnitude: amount must be a fraction in [0, 1), got {amount}")
    for _, module in layers_to_quantize(model, skip):
        weight = module.weight
        values = weight.numpy().reshape(weight.shape[0], -1) if per_row else weight.numpy().reshape(1, -1)
        count = int(round(amount * values.shape[1]))
        if count:
            # stable ranks: among equal magnitudes the first ones go (the same weights every time)
            order = np.argsort(np.abs(values), axis=1, kind="stable")[:, :count]
            pruned = values.copy()
            np.put_along_axis(pruned, order, 0.0, axis=1)
            weight.backend.copy_into(weight.data, pruned.reshape(weight.shape).astype(weight.dtype))
            changed_in_place(weight)
    return sparsity(model, skip)


def sparsity(model, skip=()):
    """[(layer name, zero weights, weights)] for every Linear and Conv2d."""
    return [(name, int((module.weight.numpy() == 0).sum()), int(module.weight.numel()))
            for name, module in layers_to_quantize(model, skip)]


def sparsity_table(rows):
    """The sparsity rows as a text table, with the total."""
    zeros, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    width = max([len(r[0]) for r in rows] + [5])
    lines = [f"{'layer':<{width}}  {'zeros':>9}  {'weights':>9}  sparsity"]
    lines += [f"{name:<{width}}  {z:>9,}  {n:>9,}  {z / max(n, 1):8.1%}" for name, z, n in rows]
    lines.append(f"{'total':<{width}}  {zeros:>9,}  {total:>9,}  {zeros / max(total, 1):8.1%}")
    return "\n".join(lines)
