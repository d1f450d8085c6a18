# %% [markdown]
# # Lesson 16: quantization and pruning, a model in 8-bit integers
#
# A float32 weight takes 4 bytes; an int8 one, 1. A trained network's weights do not need 24
# bits of mantissa: 256 evenly spaced values, placed well, keep almost all of its accuracy, and
# the model is 4x smaller, its products done on integers. The map is an affine one:
#
#     q = clamp(round(x / s + z), -128, 127)        x ~ s (q - z)
#
# s (the scale) is the step between neighbouring values; z (the zero point) is the integer that
# stands for 0.0, so that 0 (a ReLU's zeros, a padding) is exact.

# %%
import os
import tempfile

import numpy as np

import minisora as ms
from minisora import quant
from lesson_setup import FAST, figure_path

x = np.array([-1.0, 0.0, 0.3, 2.55, 9.0], np.float32)
lo, hi = -1.0, 2.55                                   # the range we choose to cover
scale = (hi - lo) / 255                               # 255 steps between -128 and 127
zero_point = int(-128 - round(lo / scale))            # the integer that lands on 0.0
q = quant.quantize_per_tensor(ms.tensor(x), scale, zero_point)
by_hand = np.clip(np.rint(x / scale + zero_point), -128, 127)
assert q.numpy().tolist() == by_hand.tolist() and q.dtype == np.int8
back = quant.dequantize(q, scale, zero_point).numpy()
print(f"scale {scale:.5f}, zero point {zero_point}; {x.tolist()} -> {q.numpy().tolist()} -> {back.round(4).tolist()}")
assert np.all(np.abs(back - x)[:4] <= scale / 2 + 1e-7)   # inside the range: off by half a step at most
assert back[4] == np.float32(scale * (127 - zero_point))   # 9.0 is past it: saturated at 127
print(f"inside the range the error is at most s/2 = {scale / 2:.5f}; 9.0 saturates at {back[4]:.3f}")

# %% [markdown]
# ## Rounding: half to even
#
# A number exactly between two steps goes to the even one (2.5 -> 2, 3.5 -> 4), as IEEE
# arithmetic and PyTorch round: rounding half up would push every tie the same way, a bias that
# adds up over a long sum. And a subtlety PyTorch has: quantize rounds x/s + z as one number, its
# fake_quantize (used in training, below) rounds x/s and then adds z. With an odd z they part.

# %%
ties = ms.tensor(np.array([0.25, 0.75, 1.25, -1.25], np.float32))       # 0.5, 1.5, 2.5, -2.5 steps of 0.5
assert quant.quantize_per_tensor(ties, 0.5, 0).numpy().tolist() == [0, 2, 2, -2]
one_tie = ms.tensor(np.array([0.25], np.float32))                         # half a step, zero point 5
as_quantize = int(quant.quantize_per_tensor(one_tie, 0.5, 5).numpy()[0])  # round(5.5) = 6
as_fake = float(quant.fake_quantize(one_tie, 0.5, 5).numpy()[0]) / 0.5 + 5  # round(0.5) + 5 = 5
assert (as_quantize, as_fake) == (6, 5.0)
print(f"ties to even: 0.5, 1.5, 2.5, -2.5 steps -> 0, 2, 2, -2; with z = 5 quantize gives {as_quantize}, "
      f"fake_quantize {as_fake:.0f}")

# %% [markdown]
# **Exercise**: write the int8 quantizer (round half to even, the zero point added before the
# rounding, saturation instead of wrapping) in `lessons/exercises/16_quantize.py`, then grade it:
# `minisora check lessons/exercises/16_quantize.py`.

# %% [markdown]
# ## Per tensor or per channel
#
# One scale for a whole weight matrix is set by its largest number: a neuron whose weights are
# all small then gets only a few of the 256 values. One scale per output neuron (per channel,
# each row of W) fits each row. Symmetric (z = 0) for weights: s = max|W[n]| / 127.5.

# %%
rng = np.random.default_rng(0)
weights = rng.standard_normal((8, 64)) * np.geomspace(0.02, 1.0, 8)[:, None]   # rows of very different sizes


def error_of(scales, axis):
    scales = np.asarray(scales)
    w = ms.tensor(weights.astype(np.float32))
    if axis is None:
        q = quant.quantize_per_tensor(w, float(scales), 0)
        return float(np.mean((quant.dequantize(q, float(scales), 0).numpy() - weights) ** 2))
    q = quant.quantize_per_channel(w, scales, np.zeros(8, np.int64), axis=0)
    return float(np.mean((quant.dequantize(q, scales, np.zeros(8, np.int64), axis=0).numpy() - weights) ** 2))


per_tensor = error_of(np.abs(weights).max() / 127.5, None)
per_channel = error_of(quant.weight_qparams(weights)[0], 0)
assert per_channel < per_tensor / 4
print(f"mean squared error: per tensor {per_tensor:.2e}, per channel {per_channel:.2e} "
      f"({per_tensor / per_channel:.0f}x smaller)")

# %% [markdown]
# ## Calibration: where the range comes from
#
# A layer's input (an activation) changes with every sample, so its range is measured: a few
# batches go through the model while an observer watches. Min/max keeps every number inside,
# and one outlier stretches the steps for all the rest; a percentile observer lets the rare
# outliers saturate so that the bulk gets finer steps.

# %%
activations = np.concatenate([rng.standard_normal(20000), [60.0]]).astype(np.float32)   # one outlier
bulk_error = {}
for observer in (quant.MinMaxObserver(), quant.PercentileObserver(99.9)):
    observer(activations)
    s, z = float(observer.qparams()[0][0]), int(observer.qparams()[1][0])
    bulk = ms.tensor(activations[:-1])
    restored = quant.dequantize(quant.quantize_per_tensor(bulk, s, z), s, z)
    name = type(observer).__name__
    bulk_error[name] = float(np.mean((restored.numpy() - activations[:-1]) ** 2))
    print(f"{name:<20} range [{float(observer.lo):6.2f}, {float(observer.hi):6.2f}]  step {s:.4f}  "
          f"error on the bulk {bulk_error[name]:.2e}")
assert bulk_error["PercentileObserver"] < bulk_error["MinMaxObserver"] / 10

# %% [markdown]
# ## The int8 product
#
# With x ~ s_x (q_x - z_x) and W[n] ~ s_w[n] q_w[n], a neuron's sum becomes one multiplication of
# an integer sum: y[m, n] = s_x s_w[n] sum_k (q_x[m, k] - z_x) q_w[n, k] + b[n]. The sum of 8-bit
# products is exact in int32: all the rounding is in the scales.

# %%
xs = rng.standard_normal((5, 64)).astype(np.float32)
s_x, z_x = (float(v[0]) for v in quant.qparams_from_range([xs.min()], [xs.max()]))
q_x = quant.quantize_per_tensor(ms.tensor(xs), s_x, int(z_x))
s_w, _ = quant.weight_qparams(weights)
q_w = quant.quantize_per_channel(ms.tensor(weights.astype(np.float32)), s_w, np.zeros(8, np.int64), axis=0)
sums = quant.quantized_linear(q_x, q_w, ms.ones(8), x_zero_point=int(z_x), output="int32")
exact = (q_x.numpy().astype(np.int64) - int(z_x)) @ q_w.numpy().astype(np.int64).T
assert np.array_equal(sums.numpy(), exact)
y = quant.quantized_linear(q_x, q_w, ms.tensor((s_x * s_w).astype(np.float32)), x_zero_point=int(z_x)).numpy()
float_y = xs @ weights.T
relative = float(np.abs(y - float_y).max() / np.abs(float_y).max())
assert relative < 0.03
print(f"int32 sums == the exact integer product; y within {relative:.1%} of the float32 product")

# %% [markdown]
# ## A whole model: post-training quantization
#
# `quant.quantize_model` wraps every Linear with an observer (prepare), runs calibration
# batches (calibrate), and swaps each for a QuantizedLinear (convert). The digits MLP:

# %%
digits = ms.data.digits()
train, val = ms.data.random_split(digits, [0.8, 0.2], seed=0)
val_x, val_y = (ms.tensor(a) for a in val.batch(np.arange(len(val))))


def accuracy(model):
    model.eval()
    with ms.no_grad():
        return float((model(val_x).numpy().argmax(1) == val_y.numpy()).mean())


def trained_mlp():
    ms.manual_seed(0)
    model = ms.models.MLP(64, 64, 10)
    optimizer = ms.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(6 if FAST else 30):
        model.train()
        for batch_x, batch_y in ms.data.DataLoader(train, 64, shuffle=True, seed=0):
            optimizer.zero_grad()
            ms.F.cross_entropy(model(batch_x), batch_y).backward()
            optimizer.step()
    return model


def fresh_copy(model):
    copy = ms.models.MLP(64, 64, 10)
    copy.load_state_dict(model.state_dict())
    return copy


model = trained_mlp()
float_accuracy = accuracy(model)
calibration = [ms.tensor(train.batch(np.arange(start, start + 128))[0]) for start in range(0, 512, 128)]
int8_model = quant.quantize_model(fresh_copy(model), calibration)
int8_accuracy = accuracy(int8_model)
print(int8_model)
assert abs(int8_accuracy - float_accuracy) <= 0.01
print(f"val accuracy: float32 {float_accuracy:.2%}, int8 {int8_accuracy:.2%} "
      f"({100 * (int8_accuracy - float_accuracy):+.2f} points)")

with tempfile.TemporaryDirectory() as folder:
    sizes = {}
    for name, m in (("float32", model), ("int8", int8_model)):
        path = os.path.join(folder, f"{name}.safetensors")
        ms.save({"model": m.state_dict(), "layout": quant.layout(m)}, path)
        sizes[name] = os.path.getsize(path)
    reloaded = quant.restore_layout(ms.models.MLP(64, 64, 10), ms.load(path)["layout"])
    reloaded.load_state_dict(ms.load(path)["model"])
    assert accuracy(reloaded) == int8_accuracy
assert sizes["float32"] / sizes["int8"] > 2.5
matrices = {name: sum(t.numel() * t.dtype.itemsize for key, t in m.state_dict().items() if key.endswith("weight"))
            for name, m in (("float32", model), ("int8", int8_model))}
assert matrices["float32"] == 4 * matrices["int8"]
rest = {name: sizes[name] - matrices[name] for name in sizes}
print(f"on disk: float32 {sizes['float32']:,} bytes, int8 {sizes['int8']:,} bytes "
      f"({sizes['float32'] / sizes['int8']:.1f}x smaller), reloaded: the same accuracy. The weight matrices "
      f"alone: {matrices['float32']:,} -> {matrices['int8']:,} bytes (4x); the rest (biases, scales, zero points, "
      f"the file's names and layout) {rest['float32']:,} -> {rest['int8']:,} bytes")

# %% [markdown]
# ## Training through the rounding: fake quantization and the straight-through estimator
#
# Quantization-aware training runs the float model with every weight and input quantized and
# dequantized on the fly (fake_quantize), so the loss sees the int8 model's rounding. Rounding's
# derivative is 0 almost everywhere, which would stop all learning; the straight-through
# estimator passes the gradient as if rounding were not there, and only the clamp stops it.

# %%
inputs = ms.tensor(np.array([-3.0, -0.26, 0.0, 0.26, 3.0]), dtype="float64", requires_grad=True)
fake = quant.fake_quantize(inputs, 0.1, 0, qmin=-8, qmax=7)
fake.sum().backward()
assert fake.numpy().round(6).tolist() == [-0.8, -0.3, 0.0, 0.3, 0.7]
assert inputs.grad.numpy().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
print(f"fake_quantize(s=0.1, range -8..7): {fake.numpy().round(2).tolist()}; gradient {inputs.grad.numpy().tolist()}")

qat = quant.prepare_qat(fresh_copy(model))
optimizer = ms.optim.SGD(qat.parameters(), lr=0.01, momentum=0.9)
for batch_x, batch_y in ms.data.DataLoader(train, 64, shuffle=True, seed=1):
    optimizer.zero_grad()
    ms.F.cross_entropy(qat(batch_x), batch_y).backward()
    optimizer.step()
qat_accuracy = accuracy(quant.convert(qat))
assert qat_accuracy >= float_accuracy - 0.02
print(f"after one epoch of quantization-aware training, converted to int8: {qat_accuracy:.2%}")

# %% [markdown]
# ## Pruning
#
# Another way to shrink: set the weights nearest zero to exactly zero. Small weights add little
# to a neuron's sum, so half of them can go; per row keeps every neuron's share the same.

# %%
for per_row in (False, True):
    pruned = fresh_copy(model)
    report = quant.prune_magnitude(pruned, 0.5, per_row=per_row)
    assert sum(z for _, z, _ in report) == sum(n for _, _, n in report) // 2
    pruned_accuracy = accuracy(pruned)
    assert pruned_accuracy > float_accuracy - 0.05
    print(f"50% pruned{' per row' if per_row else ''}: val accuracy {pruned_accuracy:.2%} "
          f"({100 * (pruned_accuracy - float_accuracy):+.2f} points)")
print(quant.sparsity_table(report))

# %% [markdown]
# ## The picture: where the 256 values sit, and what rounding costs
#
# Left: the first layer's weights and the int8 grid of the row with the largest weights. Right:
# the error of quantizing numbers across and past a range, on a 4-bit grid (16 values, -8..7,
# so that the steps show): a sawtooth within +-s/2 inside, a straight line (saturation) outside.

# %%
import matplotlib.pyplot as plt  # noqa: E402

first = model.layers[1].weight.numpy()
row = int(np.abs(first).max(1).argmax())
grid_scale = np.abs(first[row]).max() / 127.5
figure, (histogram, error) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
histogram.hist(first.ravel(), bins=80, color="tab:blue", label="all weights of layer 1")
for level in np.arange(-128, 128, 8) * grid_scale:
    histogram.axvline(level, color="tab:orange", lw=0.4)
histogram.axvline(0, color="tab:orange", lw=0.4, label=f"every 8th int8 value of row {row}")
histogram.set_xlabel("weight")
histogram.set_ylabel("count")
histogram.set_title("weights and the int8 grid")
histogram.legend(fontsize=8)
line = np.linspace(-1.5, 1.5, 2001).astype(np.float32)
s_line = 0.125
restored = quant.fake_quantize(ms.tensor(line), s_line, 0, qmin=-8, qmax=7).numpy()
error.plot(line, restored - line, color="tab:red", lw=0.8, label="dequantized - x (s = 0.125, -8..7)")
error.axhline(s_line / 2, color="gray", ls="--", lw=0.8, label="+-s/2")
error.axhline(-s_line / 2, color="gray", ls="--", lw=0.8)
error.set_xlabel("x")
error.set_ylabel("error")
error.set_title("rounding inside the range, saturation outside")
error.legend(fontsize=8)
figure.tight_layout()
figure.savefig(figure_path("16_quantization.png"))
inside = (line >= -8 * s_line) & (line <= 7 * s_line)
assert np.abs(restored - line)[inside].max() <= s_line / 2 + 1e-6
print("saved", figure_path("16_quantization.png"))
