# %% [markdown]
# # Lesson 10: the same particles on the GPU
#
# A GPU runs thousands of threads at once. A CPU kernel in minisora is a loop over elements;
# its GPU twin drops the loop and lets each thread take some elements. The math in between is
# the same Python function, compiled once for each target.
#
# Without a GPU this lesson runs on Numba's CUDA simulator, which runs every GPU thread as a
# Python thread. The numbers are the same; only the speed differs.

# %%
import ctypes.util
import inspect
import os

if ctypes.util.find_library("cuda") is None:        # no CUDA driver on this machine
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")   # must be set before numba is imported

import matplotlib
import numpy as np

import minisora as ms
from minisora import F
from minisora.backends import gpu
from minisora.particles import activations
from lesson_setup import FAST, figure_path

print("GPU:", ms.cuda.describe()["status"])

# %% [markdown]
# ## One function, two targets
# `gelu_value(x)` holds GELU's math for one number (`minisora/particles/activations.py`). The
# CPU loop `gelu_forward_kernel` calls it for i = 0, 1, 2, ... in turn. Its GPU twin
# `gelu_forward_gpu` calls the very same function: thread number `cuda.grid(1)` handles elements
# cuda.grid(1), + step, + 2 step, ... where `step = cuda.gridsize(1)` is the number of threads
# launched (a "grid-stride loop").

# %%
def python_source(kernel):
    """The Python a compiled kernel came from (numba keeps it as py_func, the simulator as fn)."""
    return inspect.getsource(getattr(kernel, "py_func", None) or kernel.fn)


print(inspect.getsource(activations.gelu_value))
print(inspect.getsource(activations.gelu_forward_kernel.python))
print(python_source(activations.gelu_forward_gpu))

# %%
x = np.linspace(-3, 3, 13)   # float64 (the tanh form, gelu_tanh, has float32 twins of its scalar math too)
on_cpu = F.gelu(ms.tensor(x)).numpy()
on_gpu = F.gelu(ms.tensor(x, device="cuda")).numpy()
print("gelu on the cpu:", np.round(on_cpu, 4))
print("gelu on the gpu:", np.round(on_gpu, 4))
print("largest difference:", np.abs(on_cpu - on_gpu).max())
assert np.allclose(on_cpu, on_gpu, atol=1e-6)

# %% [markdown]
# ## Who computes what
# A launch asks for `blocks` blocks of `threads` threads. This kernel writes, into each
# element, the number of the thread that handled it. With 2 blocks of 8 threads and 40
# elements, thread 0 takes elements 0, 16 and 32; thread 15 takes 15 and 31.

# %%
@gpu.gpu_kernel
def who_computes(out):
    start, step = gpu.cuda.grid(1), gpu.cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = start


owner = ms.zeros(40, dtype="int64", device="cuda")
gpu.launch(who_computes, 2, 8, owner.data)
owner = owner.numpy()
print(owner.reshape(5, 8))
assert owner[0] == owner[16] == owner[32] == 0 and owner[31] == 15

figure = ms.plot.figure.new_figure(8, 2.2)
axes = figure.add_subplot()
palette = matplotlib.colormaps["tab20"]                # one colour per thread (16 of them)
axes.bar(np.arange(40), np.ones(40), color=[palette(t / 16) for t in owner], width=0.9)
for i, t in enumerate(owner):
    axes.text(i, 0.5, str(t), ha="center", va="center", fontsize=7)
axes.set_yticks([])
axes.set_xlabel("element index (the number in each bar: the thread that computed it)")
axes.set_title("2 blocks x 8 threads over 40 elements: a grid-stride loop")
ms.plot.figure.finish(figure, figure_path("10_threads.png"))
print("saved", figure_path("10_threads.png"))

# %% [markdown]
# ## Adding up together
# A sum needs the threads to cooperate. In `sum_gpu` (minisora/particles/reductions.py) one
# block handles one output: each thread adds its share of the row, then the block combines the
# partial sums: warp shuffles on a GPU (threads of a warp read each other's registers), a
# halving tree in shared memory on the simulator.

# %%
rows = np.random.default_rng(0).standard_normal((4, 1000)).astype(np.float32)
print("row sums, cpu:", ms.tensor(rows).sum(dim=1).numpy())
print("row sums, gpu:", ms.tensor(rows, device="cuda").sum(dim=1).numpy())

# %% [markdown]
# ## A training step: every particle is a launch or two
# Moving a model moves its parameters; the data has to move too. Each particle call starts one
# or two kernels. The optimizer updates up to 12 parameters per launch: their arrays reach the
# kernel as tuples, and each block looks up which parameter and which stretch of it is its own
# (`launch_over_tensors` in backends/gpu.py). On a real GPU each launch costs some microseconds
# of Python before the GPU sees it, so a small network spends more time launching than computing;
# backends/gpu_runtime/launch_shortcut.py keeps that to about 12 us by doing numba.cuda's argument work once.
# (On the simulator, filling memory with zeros is a kernel too; a GPU's driver does that itself.)

# %%
ms.manual_seed(0)
model = ms.models.MLP(16, [32], 4).to("cuda")
optimizer = ms.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
data = ms.tensor(np.random.default_rng(1).standard_normal((64, 16)), dtype="float32", device="cuda")
labels = ms.tensor(np.random.default_rng(2).integers(0, 4, 64), device="cuda")
losses = []
for step in range(3 if FAST else 20):
    before = gpu.launches.copy()
    optimizer.zero_grad()
    loss = F.cross_entropy(model(data), labels)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
launched = gpu.launches - before
print(f"{sum(launched.values())} kernel launches per step; loss {losses[0]:.3f} -> {losses[-1]:.3f}")
for name, count in launched.most_common():
    print(f"  {count:3d}  {name}")
assert losses[-1] < losses[0]

# %% [markdown]
# On a machine with a GPU, `python benchmarks/gpu.py` times minisora's matrix product and a
# GPT training step against PyTorch, and counts the launches. The kernels themselves are in the
# particle files, each right below its CPU loop: look for `@gpu_kernel`.

# %% [markdown]
# **Exercise**: write a GPU kernel with a grid-stride loop in `lessons/exercises/10_relu_gpu.py` (it runs on the simulator without a GPU),
# then grade it: `minisora check lessons/exercises/10_relu_gpu.py`.
