"""scikit-learn's bundled handwritten digits: 1797 images of 8x8 pixels (values 0..16), 10 classes.

The file ships inside scikit-learn, so this works offline. Pixels are scaled to [0, 1] and
each image is one row of 64 features.
"""
import numpy as np

from .dataset import TensorDataset


def digits():
    from sklearn.datasets import load_digits   # imported here: only this dataset needs scikit-learn

    bunch = load_digits()
    images = (bunch.images.reshape(len(bunch.images), -1) / 16.0).astype(np.float32)
    return TensorDataset(images, bunch.target.astype(np.int64), classes=[str(d) for d in range(10)], name="digits")
