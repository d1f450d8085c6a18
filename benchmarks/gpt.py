"""The transformer, side by side with PyTorch CPU eager (2 threads), interleaved, medians:

    GPT training step   V96, T64, d128, 4 heads, 4 layers, batch 32, AdamW   (tokens per second)
    attention block     multi-head causal self-attention, B8, d256, 8 heads, forward + backward,
                        at T 64, 256 and 1024

    python benchmarks/gpt.py [--rounds N] [--lengths 64 256 1024]

Each side runs in a process of its own (see common.py). Both build the same network: token + learned position embeddings, pre-LayerNorm blocks
with separate q, k, v projections, tanh-GELU feed-forward, a bias-free head. PyTorch is
optional (pip install ".[torch]"); without it only minisora's numbers print.
"""
import argparse
import statistics

import numpy as np

from common import Worker, have_torch, machine, measure_rounds, summary

V, T, D, HEADS, LAYERS, BATCH = 96, 64, 128, 4, 4, 32
ATTENTION = dict(batch=8, d_model=256, heads=8)
LENGTHS = (64, 256, 1024)


def inputs(case):
    """The steps build their own fixed data; a case only says the attention block's length."""
    return tuple(case.values())


def minisora_gpt_step():
    import minisora as ms

    ms.manual_seed(0)
    model = ms.models.GPT(V, T, D, HEADS, LAYERS)
    optimizer = ms.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)
    ids, targets = (ms.tensor(rng.integers(0, V, (BATCH, T))) for _ in range(2))

    def step():
        optimizer.zero_grad()
        model.loss(ids, targets).backward()
        optimizer.step()
    return step


def minisora_attention(length=256):
    import minisora as ms

    ms.manual_seed(0)
    a = ATTENTION
    layer = ms.nn.MultiHeadAttention(a["d_model"], a["heads"], causal=True)
    x = ms.randn(a["batch"], length, a["d_model"], requires_grad=True)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).sum().backward()
    return step


def torch_modules():
    import torch
    import torch.nn.functional as F

    class Attention(torch.nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = heads
            self.qkv, self.out = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = (part.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                       for part in self.qkv(x).split(d, dim=-1))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.out(y.transpose(1, 2).reshape(b, t, d))

    class Block(torch.nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
            self.attention = Attention(d, heads)
            self.feed_forward = torch.nn.Sequential(torch.nn.Linear(d, 4 * d), torch.nn.GELU(approximate="tanh"),
                                                    torch.nn.Linear(4 * d, d))

        def forward(self, x):
            x = x + self.attention(self.norm1(x))
            return x + self.feed_forward(self.norm2(x))

    class GPT(torch.nn.Module):
        def __init__(self, vocab=V, context=T, d=D, heads=HEADS, layers=LAYERS):
            super().__init__()
            self.token_embedding, self.position_embedding = torch.nn.Embedding(vocab, d), torch.nn.Embedding(context, d)
            self.blocks = torch.nn.Sequential(*(Block(d, heads) for _ in range(layers)))
            self.norm, self.head = torch.nn.LayerNorm(d), torch.nn.Linear(d, vocab, bias=False)

        def forward(self, ids):
            x = self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1], device=ids.device))
            return self.head(self.norm(self.blocks(x)))

    return Attention, GPT


def torch_gpt_step():
    import torch

    torch.manual_seed(0)
    model = torch_modules()[1]()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)
    ids, targets = (torch.tensor(rng.integers(0, V, (BATCH, T))) for _ in range(2))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(ids).view(-1, V), targets.view(-1)).backward()
        optimizer.step()
    return step


def torch_attention(length=256):
    import torch

    torch.manual_seed(0)
    a = ATTENTION
    layer = torch_modules()[0](a["d_model"], a["heads"])
    x = torch.randn(a["batch"], length, a["d_model"], requires_grad=True)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).sum().backward()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--lengths", type=int, nargs="+", default=LENGTHS, help="the attention block's lengths")
    args = parser.parse_args()
    names = ["minisora"] + (["torch"] if have_torch() else [])
    print(machine())
    print(f"median [lowest-highest] of {args.rounds} interleaved rounds, each library in a process of its own; "
          "vs torch > 1: minisora is faster")
    cases = [("GPT training step", "gpt_step", {})]
    cases += [(f"attention block T{length}", "attention", {"length": length}) for length in args.lengths]
    for label, step, case in cases:
        rounds = measure_rounds({name: Worker("gpt", f"{name}_{step}", case) for name in names}, args.rounds)
        line = summary(label, rounds)
        if step == "gpt_step":
            line += f"  ({BATCH * T / statistics.median(rounds['minisora']):,.0f} tokens/s)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
