# %% [markdown]
# # Lesson 13: convolution, pooling and batch norm, and a CNN that reads digits
#
# A convolution is one small neuron slid over every place of an image: the same weights w (a
# kh x kw patch per input channel) look at each window, so a pattern is found wherever it is.
#
#     y[n, o, u, v] = b[o] + sum over c, i, j of w[o, c, i, j] x[n, c, u s + i, v s + j]
#
# Written as seven nested loops it is slow; minisora (like most libraries) copies every window
# into a column first (im2col), so that the whole convolution is one matrix product.

# %%
import numpy as np

import minisora as ms
from lesson_setup import FAST, figure_path

rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 6, 5))      # 2 images, 3 channels, 6 x 5 pixels
w = rng.standard_normal((4, 3, 3, 3))      # 4 output channels, each a 3 x 3 patch per input channel
b = rng.standard_normal(4)

y = np.zeros((2, 4, 4, 3))                 # the seven loops: n, o, u, v and c, i, j
for n in range(2):
    for o in range(4):
        for u in range(4):
            for v in range(3):
                y[n, o, u, v] = b[o] + sum(w[o, c, i, j] * x[n, c, u + i, v + j]
                                           for c in range(3) for i in range(3) for j in range(3))
ours = ms.F.conv2d(ms.tensor(x), ms.tensor(w), ms.tensor(b))
np.testing.assert_allclose(ours.numpy(), y, rtol=1e-12)
print("seven loops == ms.F.conv2d:", ours.shape)

cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))      # (2, 3, 4, 3, 3, 3): every window
cols = cols.transpose(0, 1, 4, 5, 2, 3).reshape(2, 3 * 9, 4 * 3)             # im2col: a column per output place
as_product = (w.reshape(4, 27) @ cols + b[:, None]).reshape(2, 4, 4, 3)
np.testing.assert_allclose(as_product, y, rtol=1e-12)
print(f"im2col: each image becomes a {cols.shape[1]} x {cols.shape[2]} matrix; the convolution, one product "
      f"(4 x 27) @ (27 x 12)")

# %% [markdown]
# Backward is the same two products turned around, plus col2im: dW = dY cols^T, dcols = W^T dY,
# and each input pixel adds up what every window that read it sends back. gradcheck agrees.

# %%
small = [rng.standard_normal(s) for s in ((1, 2, 5, 4), (3, 2, 2, 3), (3,))]
report = ms.gradcheck(lambda *t: ms.F.conv2d(*t, stride=2, padding=1),
                      [ms.tensor(a, requires_grad=True) for a in small])
assert report
print("gradcheck of conv2d (stride 2, padding 1):", "PASSED" if report else "FAILED")

# %% [markdown]
# ## Pooling and batch norm
#
# Max pooling keeps the largest number of each window (and remembers where it was: backward sends
# the gradient there only). Batch norm normalizes each channel by the batch's mean and variance
# while training, and keeps running averages of them for evaluation (PyTorch's momentum 0.1;
# the running variance is the unbiased one, n / (n - 1) times the batch's).

# %%
image = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 1.0, 1.0], [6.0, 1.0, 0.0, 7.0]]]])
pooled = ms.F.max_pool2d(ms.tensor(image), 2)
assert pooled.numpy()[0, 0].tolist() == [[5.0, 8.0], [6.0, 7.0]]
print("max pool 2x2 of a 4x4 image:", pooled.numpy()[0, 0].tolist())

norm = ms.nn.BatchNorm2d(3, dtype="float64")
batch = rng.standard_normal((4, 3, 5, 5)) * 2 + 3
out = norm(ms.tensor(batch))
per_channel = out.numpy().transpose(1, 0, 2, 3).reshape(3, -1)
assert np.allclose(per_channel.mean(1), 0, atol=1e-12) and np.allclose(per_channel.std(1), 1, atol=1e-3)
expected = 0.9 * 0 + 0.1 * batch.mean((0, 2, 3))
np.testing.assert_allclose(norm.running_mean.numpy(), expected, rtol=1e-12)
np.testing.assert_allclose(norm.running_var.numpy(), 0.9 + 0.1 * batch.var((0, 2, 3), ddof=1), rtol=1e-12)
print("batch norm: each channel mean 0, std 1; running mean moved a tenth of the way:",
      norm.running_mean.numpy().round(3).tolist())

# %% [markdown]
# ## A CNN on the digits
#
# LeNet (`ms.models.LeNet`): two convolution + ReLU + max pool stages, then three Linear layers.
# A short run here; `minisora train cnn` runs the full recipe, 98.6-99.7% of the held-out digits
# over three seeds, where the MLP of lesson 05 gets 98.0-98.6% (benchmarks/RESULTS.md).
# Data augmentation (`ms.data.transforms`) shows a network shifted or mirrored copies of its
# images; for digits this small a one-pixel shift is an eighth of the image, and it does not help.

# %%
ms.manual_seed(0)
train, validation = ms.data.random_split(ms.data.digits(), [0.8, 0.2])
model = ms.models.LeNet(10, image_size=8)
optimizer = ms.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
loader = ms.data.DataLoader(train, 32, shuffle=True, seed=0)
for epoch in range(12 if FAST else 20):
    for images, labels in loader:
        optimizer.zero_grad()
        ms.F.cross_entropy(model(images), labels).backward()
        optimizer.step()
model.eval()
images, labels = (ms.tensor(a) for a in validation.batch(np.arange(len(validation))))
with ms.no_grad():
    accuracy = float((model(images).numpy().argmax(1) == labels.numpy()).mean())
print(f"LeNet on the digits' held-out 20%: {accuracy:.2%}")
assert accuracy > (0.9 if FAST else 0.96)
with ms.no_grad():
    ms.plot.filters_and_feature_maps(model, images[:1], path=figure_path("13_feature_maps.png"))
print("saved", figure_path("13_feature_maps.png"))

shifted = ms.data.transforms.RandomShift(1)(images.numpy()[:1].reshape(1, 8, 8), np.random.default_rng(0))
assert shifted.shape == (1, 8, 8) and not np.array_equal(shifted, images.numpy()[:1].reshape(1, 8, 8))

# %% [markdown]
# **Exercise**: write the convolution's backward for dx (every kernel place sends its share back
# to the pixels it read) in `lessons/exercises/13_conv2d.py`, then grade it:
# `minisora check lessons/exercises/13_conv2d.py`.
