"""The datasets a classifier run can use, split into train and validation the same way every time.

The split depends only on (dataset, val_split, split_seed), not on the training seed: runs with
different seeds are scored on the same held-out samples, and `minisora eval` rebuilds exactly
the validation set a checkpoint was scored on.
"""
from .. import data, errors

TWO_D = {"moons": data.moons, "circles": data.circles, "spiral": data.spiral}
DATASETS = ("digits", "moons", "circles", "spiral", "mnist", "fashion-mnist")


def load_dataset(config, split="train"):
    """The full dataset named by config["dataset"] (for MNIST: the 'train' or 'test' files)."""
    name = config["dataset"]
    if name == "digits":
        return data.digits()
    if name in TWO_D:
        return TWO_D[name](count=1000, seed=config["seed"])
    if name in ("mnist", "fashion-mnist"):
        if not config.get("data_dir"):
            raise errors.ValueError(f"dataset {name} is read from IDX files: pass --data-dir FOLDER "
                                    "(the folder with train-images-idx3-ubyte etc.)")
        classes = data.idx.FASHION_CLASSES if name == "fashion-mnist" else None
        return data.mnist(config["data_dir"], split=split, classes=classes)
    raise errors.ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def train_val_split(config):
    """(train, validation) subsets: a random split (by config["split_seed"]) holding out config["val_split"]."""
    full = load_dataset(config)
    fraction = float(config["val_split"])
    if not 0.0 < fraction < 1.0:
        raise errors.ValueError(f"--val-split must be between 0 and 1 (exclusive), got {fraction}")
    held_out = max(1, round(len(full) * fraction))
    if held_out >= len(full):
        raise errors.ValueError(f"--val-split {fraction} holds out all {len(full)} samples: none is left to train on")
    train, validation = data.random_split(full, [len(full) - held_out, held_out], seed=config["split_seed"])
    return train, validation


def test_set(config):
    """The separate test files of MNIST-style datasets (the others have only train and validation)."""
    if config["dataset"] not in ("mnist", "fashion-mnist"):
        raise errors.ValueError(f"dataset {config['dataset']} has no separate test set; use --split val")
    return load_dataset(config, "test")


def shape_of(dataset):
    """(features per sample, number of classes, class names)."""
    first = dataset.batch([0])
    features = int(first[0][0].size)
    names = dataset.classes
    return features, len(names), names
