"""LeNet: the convolutional network that reads digits (LeCun et al. 1998), in its common modern form.

    image (N, 1, S, S) -> conv1 5x5, 6 maps (padding 2) -> ReLU -> max pool 2
                       -> conv2 5x5, 16 maps -> ReLU -> max pool 2
                       -> flatten -> fc1 120 -> ReLU -> fc2 84 -> ReLU -> fc3 (one logit per class)
For 28x28 images (MNIST) conv2 has no padding: 28 -> 28 -> 14 -> 10 -> 5, and fc1 reads 16 x 5 x 5.
Images under 16 pixels (the 8x8 digits) would vanish under it, so there conv2 pads by 2 as conv1
does: 8 -> 8 -> 4 -> 4 -> 2, and fc1 reads 16 x 2 x 2. The names (conv1, conv2, fc1, fc2, fc3)
are those of PyTorch's tutorials' LeNet, so its state dict loads.
"""
import math

from .. import errors, nn
from .. import functional as F


class LeNet(nn.Module):
    def __init__(self, classes=10, image_size=28, in_channels=1):
        super().__init__()
        if min(classes, image_size, in_channels) < 1:
            raise errors.ValueError(f"LeNet: sizes must be positive, got classes={classes}, image_size={image_size}, "
                                    f"in_channels={in_channels}")
        self.config = {"classes": int(classes), "image_size": int(image_size), "in_channels": int(in_channels)}
        second_padding = 0 if image_size >= 16 else 2
        side = (image_size // 2 + 2 * second_padding - 4) // 2
        if side < 1:
            raise errors.ValueError(f"LeNet: images of {image_size} pixels are too small (at least 4)")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5, padding=second_padding)
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def features(self, x):
        """The two convolution stages' maps: [(N, 6, S, S), (N, 16, ...)] after each ReLU, before pooling."""
        x = self.as_images(x)
        first = F.relu(self.conv1(x))
        second = F.relu(self.conv2(F.max_pool2d(first, 2)))
        return [first, second]

    def forward(self, x):
        _, second = self.features(x)
        x = F.max_pool2d(second, 2)
        x = x.reshape(x.shape[0], -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    def as_images(self, x):
        """(N, C, S, S) from images given as rows of S*S pixels (digits), as (N, S, S) (MNIST) or as they are."""
        channels, size = self.config["in_channels"], self.config["image_size"]
        if x.ndim == 2 and x.shape[1] == channels * size * size:
            return x.reshape(x.shape[0], channels, size, size)
        if x.ndim == 3 and channels == 1 and x.shape[1:] == (size, size):
            return x.reshape(x.shape[0], 1, size, size)
        if x.ndim == 4 and x.shape[1:] == (channels, size, size):
            return x
        raise errors.ValueError(f"LeNet: images must be (N, {channels}, {size}, {size}), (N, {size}, {size}) or rows "
                                f"of {channels * size * size} pixels, got shape {tuple(x.shape)}")


def image_side(features):
    """The side of a square image of `features` pixels (64 -> 8, 784 -> 28)."""
    side = math.isqrt(int(features))
    if side * side != features:
        raise errors.ValueError(f"a CNN needs square images; {features} pixels are not a square")
    return side
