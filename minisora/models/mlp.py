"""MLP: the multi-layer perceptron the CLI and lessons train on digits, moons and MNIST.

    x -> Linear -> activation -> [Dropout] -> ... -> Linear -> logits (one per class)

Images are flattened to rows first, so (N, 28, 28) MNIST and (N, 64) digits both fit.
"""
from .. import errors, nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


class MLP(nn.Module):
    def __init__(self, in_features, hidden, classes, activation="relu", dropout=0.0):
        super().__init__()
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        if activation not in ACTIVATIONS:
            raise errors.ValueError(f"MLP: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if any(h < 1 for h in hidden) or in_features < 1 or classes < 1:
            raise errors.ValueError(f"MLP: sizes must be positive, got in={in_features}, hidden={hidden}, classes={classes}")
        self.config = {"in_features": int(in_features), "hidden": [int(h) for h in hidden], "classes": int(classes),
                       "activation": activation, "dropout": float(dropout)}
        layers, width = [nn.Flatten()], in_features
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
