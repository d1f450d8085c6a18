"""Write optimizers.npz: PyTorch's parameter trajectories for fixed gradients, in float64.

Run once with PyTorch installed (python tests/golden/make_optimizers.py); the file is committed
so CI checks minisora's optimizers against PyTorch without installing it.
"""
import os

import numpy as np
import torch

from optimizer_cases import CASES, SHAPE, STEPS


def main():
    rng = np.random.default_rng(2026)
    start = rng.normal(size=SHAPE)
    grads = rng.normal(size=(STEPS,) + SHAPE)
    arrays = {"start": start, "grads": grads}
    for name, (optimizer, kwargs) in CASES.items():
        parameter = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        opt = getattr(torch.optim, optimizer)([parameter], **kwargs)
        trajectory = []
        for grad in grads:
            parameter.grad = torch.tensor(grad, dtype=torch.float64)
            opt.step()
            trajectory.append(parameter.detach().numpy().copy())
        arrays[name] = np.stack(trajectory)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers.npz")
    np.savez_compressed(path, torch_version=np.array(torch.__version__), **arrays)
    print(f"wrote {path} (PyTorch {torch.__version__})")


if __name__ == "__main__":
    main()
