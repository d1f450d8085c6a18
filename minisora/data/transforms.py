"""Transforms: what a DataLoader does to each batch of images before the model sees it.

    Compose([ToFloat(), RandomCrop(28, padding=2), Normalize(0.1307, 0.3081)])

Each transform takes a batch of images as a NumPy array, (N, C, H, W) or (N, H, W) (one channel;
it stays so), and the loader's own random generator: the random ones (crops, flips, shifts) draw
from it, so a seed fixes them and a checkpoint of the loader (DataLoader.state_dict) resumes them
exactly where they were. Transforms run on the CPU, on the batch, before it becomes a tensor.

    ToFloat          uint8 pixels 0..255 -> float32 0..1 (floats pass unchanged)
    Normalize        (x - mean[c]) / std[c] per channel
    RandomCrop       pad by `padding` zeros, then cut a size x size window at a random place
                     (each image its own): with padding p, a random shift of up to p pixels
    RandomShift      the same, the image keeps its size: shifted by up to max_shift pixels each way
    RandomHorizontalFlip   mirror each image left-right with probability p (not for digits:
                     a mirrored 2 is no 2)
    AsImages         rows of C H W pixels -> (N, C, H, W) (the bundled digits come as rows)
"""
import numpy as np

from .. import errors


def planes(batch):
    """(N, C, H, W) view of a batch given as (N, H, W) or (N, C, H, W), and a function to undo it."""
    batch = np.asarray(batch)
    if batch.ndim == 3:
        return batch[:, None], lambda x: x[:, 0]
    if batch.ndim == 4:
        return batch, lambda x: x
    raise errors.ValueError(f"transforms: images must be (N, H, W) or (N, C, H, W), got shape {batch.shape}")


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, batch, generator):
        for transform in self.transforms:
            batch = transform(batch, generator)
        return batch

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


class ToFloat:
    def __call__(self, batch, generator=None):
        batch = np.asarray(batch)
        return (batch / np.float32(255)).astype(np.float32) if batch.dtype == np.uint8 else batch

    def __repr__(self):
        return "ToFloat()"


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = np.atleast_1d(np.asarray(mean, np.float64)), np.atleast_1d(np.asarray(std, np.float64))
        if (self.std <= 0).any():
            raise errors.ValueError(f"Normalize: std must be positive, got {std}")

    def __call__(self, batch, generator=None):
        images, back = planes(batch)
        if images.shape[1] != self.mean.size and self.mean.size != 1:
            raise errors.ValueError(f"Normalize: {self.mean.size} means for images of {images.shape[1]} channels")
        shape = (1, -1, 1, 1)
        return back(((images - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(images.dtype))

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    def __init__(self, size, padding=0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding = int(padding)
        if min(self.size) < 1 or self.padding < 0:
            raise errors.ValueError(f"RandomCrop: size must be positive and padding >= 0, got {size}, {padding}")

    def __call__(self, batch, generator):
        images, back = planes(batch)
        p, (height, width) = self.padding, self.size
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p)))
        if padded.shape[2] < height or padded.shape[3] < width:
            raise errors.ValueError(f"RandomCrop: a {self.size} crop from padded images of {padded.shape[2:]}")
        tops = generator.integers(0, padded.shape[2] - height + 1, len(images))
        lefts = generator.integers(0, padded.shape[3] - width + 1, len(images))
        rows = tops[:, None] + np.arange(height)
        columns = lefts[:, None] + np.arange(width)
        out = padded[np.arange(len(images))[:, None, None, None], np.arange(images.shape[1])[None, :, None, None],
                     rows[:, None, :, None], columns[:, None, None, :]]
        return back(out)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift:
    """Each image moved by up to max_shift pixels each way (zeros come in): RandomCrop of its own size."""

    def __init__(self, max_shift=1):
        self.max_shift = int(max_shift)

    def __call__(self, batch, generator):
        images, back = planes(batch)
        return back(planes(RandomCrop(images.shape[2:], self.max_shift)(images, generator))[0])

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = float(p)

    def __call__(self, batch, generator):
        images, back = planes(batch)
        flip = generator.random(len(images)) < self.p
        out = images.copy()
        out[flip] = images[flip][..., ::-1]
        return back(out)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class AsImages:
    def __init__(self, channels, height, width):
        self.shape = (int(channels), int(height), int(width))

    def __call__(self, batch, generator=None):
        batch = np.asarray(batch)
        if batch.ndim != 2 or batch.shape[1] != np.prod(self.shape):
            raise errors.ValueError(f"AsImages: rows of {int(np.prod(self.shape))} pixels expected, got {batch.shape}")
        return batch.reshape((len(batch),) + self.shape)

    def __repr__(self):
        return f"AsImages{self.shape}"
