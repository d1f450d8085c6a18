"""Write fine_tuning.npz: PyTorch's trajectory of the fine-tuning step in fine_tuning_cases.py
(parameter groups with their own lr, AdamW, clip_grad_norm_, LambdaLR with the warm-up and linear
decay), in float64: the parameters and each group's lr after every step.

Run once with PyTorch installed (python tests/golden/make_fine_tuning.py); the file is committed
so CI checks minisora against PyTorch without installing it.
"""
import os

import numpy as np
import torch

from fine_tuning_cases import ENCODER_LR, HEAD_LR, MAX_NORM, STEPS, WEIGHT_DECAY, data, warmup_linear


def main():
    w0, v0, x, y = (torch.tensor(a, dtype=torch.float64) for a in data())
    w, v = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(v0.clone())
    optimizer = torch.optim.AdamW([{"params": [w], "lr": ENCODER_LR}, {"params": [v]}], lr=HEAD_LR,
                                  weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear)
    ws, vs, lrs = [], [], []
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((torch.tanh(x @ w.T) @ v.T - y) ** 2).sum().backward()
        torch.nn.utils.clip_grad_norm_([w, v], MAX_NORM)
        lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
        ws.append(w.detach().numpy().copy())
        vs.append(v.detach().numpy().copy())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fine_tuning.npz")
    np.savez_compressed(path, torch_version=np.array(torch.__version__), w=np.stack(ws), v=np.stack(vs),
                        lrs=np.array(lrs))
    print(f"wrote {path} (PyTorch {torch.__version__})")


if __name__ == "__main__":
    main()
