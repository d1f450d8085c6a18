"""Solution (lesson 05): one epoch of the training loop."""
import minisora as ms


def train_epoch(model, batches, optimizer):
    """Train on every (x, y) of `batches` once, in order; return the mean of the batch losses (a float)."""
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = ms.F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)
