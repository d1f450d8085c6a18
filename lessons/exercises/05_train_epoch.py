"""Exercise (lesson 05): one epoch of the training loop.

    for each batch (x, y):
        clear the gradients the last batch left      optimizer.zero_grad()
        forward and the loss                         ms.F.cross_entropy(model(x), y)
        backward                                     loss.backward()
        update                                       optimizer.step()

Grade it: minisora check lessons/exercises/05_train_epoch.py
"""
import minisora as ms  # noqa: F401  (the loop needs ms.F.cross_entropy)


def train_epoch(model, batches, optimizer):
    """Train on every (x, y) of `batches` once, in order; return the mean of the batch losses (a float)."""
    raise NotImplementedError("write the loop: zero_grad, loss, backward, step for each batch")
