# %% [markdown]
# # Lesson 05: an MLP learns handwritten digits
#
# 1797 images of 8x8 pixels (scikit-learn's bundled digits), 10 classes. We hold out 20% for
# validation (the model never trains on them: they tell us how it does on new images), train
# a 64 -> 64 -> 10 MLP with SGD and with Adam, compare batch sizes, and save and reload the model.

# %%
import os
import tempfile

import numpy as np
from matplotlib.ticker import MaxNLocator

import minisora as ms
from lesson_setup import FAST, figure_path

digits = ms.data.digits()
train, val = ms.data.random_split(digits, [0.8, 0.2], seed=0)
print(f"{len(train)} training images, {len(val)} held out; pixels scaled to [0, 1]")
val_x, val_y = (ms.tensor(a) for a in val.batch(np.arange(len(val))))
epochs = 4 if FAST else 20


def accuracy(model):
    model.eval()
    with ms.no_grad():
        return float((model(val_x).numpy().argmax(1) == val_y.numpy()).mean())


def train_model(make_optimizer, batch_size=128, seed=0):
    ms.manual_seed(seed)
    model = ms.models.MLP(64, 64, 10)
    optimizer = make_optimizer(model.parameters())
    loader = ms.data.DataLoader(train, batch_size, shuffle=True, seed=seed)
    history = []
    for epoch in range(epochs):
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = ms.F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_accuracy": accuracy(model)})
    return model, history


# %% [markdown]
# SGD with momentum against Adam, same network, same data order:

# %%
runs = {
    "SGD lr 0.1, momentum 0.9": lambda p: ms.optim.SGD(p, lr=0.1, momentum=0.9),
    "Adam lr 1e-3": lambda p: ms.optim.Adam(p, lr=1e-3),
}
histories = {}
for label, make in runs.items():
    model, histories[label] = train_model(make)
    print(f"{label:<26} val accuracy after {epochs} epochs: {histories[label][-1]['val_accuracy']:.1%}")

# %% [markdown]
# The batch size: smaller batches take more (noisier) steps per epoch.

# %%
for batch_size in (32, 256):
    _, history = train_model(runs["SGD lr 0.1, momentum 0.9"], batch_size)
    print(f"batch {batch_size:<4} val accuracy after {epochs} epochs: {history[-1]['val_accuracy']:.1%}")

# %%
figure = ms.plot.figure.new_figure(10, 4)
loss_axes, accuracy_axes = figure.subplots(1, 2)
for label, history in histories.items():
    loss_axes.plot([h["epoch"] for h in history], [h["train_loss"] for h in history], label=label)
    accuracy_axes.plot([h["epoch"] for h in history], [h["val_accuracy"] for h in history], label=label)
loss_axes.set_title("training loss")
accuracy_axes.set_title("validation accuracy")
loss_axes.set_ylabel("cross-entropy (mean over the epoch)")
accuracy_axes.set_ylabel("accuracy")
for axes in (loss_axes, accuracy_axes):
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs are whole numbers
    axes.legend(fontsize=8)
ms.plot.figure.finish(figure, figure_path("05_sgd_vs_adam.png"))
print("saved", figure_path("05_sgd_vs_adam.png"))

# %% [markdown]
# Saving and loading: a checkpoint holds the numbers (safetensors) and nothing that runs when
# loaded. The reloaded model predicts exactly what the saved one did.

# %%
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "mlp.safetensors")
    ms.save({"model": model.state_dict()}, path)
    again = ms.models.MLP(64, 64, 10)
    again.load_state_dict(ms.load(path)["model"])
    assert accuracy(again) == accuracy(model)
    print(f"reloaded from {os.path.getsize(path):,} bytes: same accuracy, {accuracy(again):.1%}")

# %% [markdown]
# **Exercise**: write one epoch of the training loop in `lessons/exercises/05_train_epoch.py`,
# then grade it: `minisora check lessons/exercises/05_train_epoch.py`.
