"""The optimizer settings whose PyTorch trajectories optimizers.npz holds (shared by the maker and the test)."""

# name -> (torch optimizer, keyword arguments); test_optim.py runs minisora's on the same table.
CASES = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum_decay": ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    "sgd_dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_decay": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    "adamw": ("AdamW", dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)),
    "adadelta": ("Adadelta", dict(lr=1.0, rho=0.9, weight_decay=0.1)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_centered_momentum": ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
}
STEPS, SHAPE = 8, (3, 5)
