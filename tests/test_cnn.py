"""The CNN: a PyTorch LeNet's weights load and give its logits, transforms are seeded by the
loader's generator (so a resumed run is bit for bit the same), and `minisora train cnn` trains,
resumes and evaluates."""
import os

import numpy as np
import pytest

import minisora as ms
from minisora.cli import main
from minisora.data import DataLoader, TensorDataset, transforms as T
from minisora.training import ClassifierRun

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
QUIET = dict(log=lambda *a: None)


def test_a_pytorch_lenet_loads_and_gives_the_same_logits():
    model = ms.models.LeNet(10, image_size=28)
    result = model.load_state_dict(ms.load_safetensors(os.path.join(GOLDEN, "lenet.safetensors")))
    assert not result.missing_keys and not result.unexpected_keys
    expected = np.load(os.path.join(GOLDEN, "lenet_logits.npz"))
    with ms.no_grad():
        logits = model(ms.tensor(expected["images"]))
    np.testing.assert_allclose(logits.numpy(), expected["logits"], rtol=1e-5, atol=1e-6)
    first, second = model.features(ms.tensor(expected["images"][:1]))
    assert first.shape == (1, 6, 28, 28) and second.shape == (1, 16, 10, 10)
    assert ms.models.LeNet(10, image_size=8)(ms.randn(4, 64)).shape == (4, 10)   # digits come as rows of 64
    with pytest.raises(ValueError, match=r"LeNet: images must be \(N, 1, 8, 8\), \(N, 8, 8\) or rows of 64 pixels"):
        ms.models.LeNet(10, image_size=8)(ms.randn(4, 63))


def test_transforms_do_what_they_say():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    floats = T.ToFloat()(pixels)
    assert floats.dtype == np.float32 and np.allclose(floats * 255, pixels)
    normalized = T.Normalize(0.5, 0.25)(floats)
    np.testing.assert_allclose(normalized, (floats - 0.5) / 0.25, rtol=1e-6)
    shifted = T.RandomShift(1)(floats, np.random.default_rng(1))
    assert shifted.shape == floats.shape
    for image, original in zip(shifted, floats):   # each is the original moved by at most a pixel, zeros coming in
        assert any(np.array_equal(image, np.pad(original, 1)[1 + dy:5 + dy, 1 + dx:5 + dx])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    flipped = T.RandomHorizontalFlip(1.0)(floats, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped, floats[..., ::-1])
    crop = T.RandomCrop(3)(floats[:, None], np.random.default_rng(0))
    assert crop.shape == (5, 1, 3, 3)
    assert T.AsImages(1, 2, 2)(np.zeros((3, 4))).shape == (3, 1, 2, 2)
    with pytest.raises(ValueError, match=r"RandomCrop: a \(6, 6\) crop from padded images of \(4, 4\)"):
        T.RandomCrop(6)(floats, np.random.default_rng(0))


def test_a_loaders_transforms_replay_from_its_saved_state():
    data = TensorDataset(np.arange(8 * 9, dtype=np.float32).reshape(8, 9), np.arange(8))
    loader = DataLoader(data, 4, shuffle=True, seed=3,
                        transform=T.Compose([T.AsImages(1, 3, 3), T.RandomShift(1)]))
    state = loader.state_dict()
    first = [x.numpy() for x, _ in loader]
    loader.load_state_dict(state)
    again = [x.numpy() for x, _ in loader]
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and first[0].shape == (4, 1, 3, 3)
    assert not all(np.array_equal(a, b) for a, b in zip(first, [x.numpy() for x, _ in loader]))   # next epoch: new shifts


def test_train_cnn_resumes_bit_for_bit_with_augmentation(tmp_path):
    config = {"model": "cnn", "epochs": 2, "augment": True, "batch_size": 64, "scheduler": "none"}
    straight = ClassifierRun(config, str(tmp_path / "a"), **QUIET)
    straight.fit(progress=False)
    ClassifierRun({**config, "epochs": 1}, str(tmp_path / "b"), **QUIET).fit(progress=False)
    resumed = ClassifierRun.resume(str(tmp_path / "b"), {"epochs": 2}, **QUIET)
    resumed.fit(progress=False)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_train_cnn_from_the_command_line(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "cnn", "--epochs", "2", "--out", out, "--no-progress"]) == 0
    assert os.path.getsize(os.path.join(out, "filters.png")) > 5000   # the filters and one image's feature maps
    printed = capsys.readouterr().out
    assert "training cnn (LeNet," in printed and "lr 0.05, batch 32" in printed
    assert main(["eval", "--checkpoint", out]) == 0 and "cnn on digits (val, 359 samples)" in capsys.readouterr().out
    assert main(["train", "mlp", "--augment", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "--augment do(es) not apply to mlp" in capsys.readouterr().err


def test_image_grids_show_filters_and_refuse_other_shapes(tmp_path):
    figure = ms.plot.image_grid(ms.randn(6, 1, 5, 5), path=str(tmp_path / "filters.png"), title="filters")
    assert len([a for a in figure.axes if a.images]) == 6 and (tmp_path / "filters.png").exists()
    with pytest.raises(ValueError, match=r"image_grid: images must be \(K, H, W\) or a weight"):
        ms.plot.image_grid(np.zeros((3, 4)))


def test_train_cnn_on_mnist_idx_files_the_test_writes(tmp_path, capsys):
    """An MNIST-format subset, written here: the 8x8 digits scaled up to 28x28 (each pixel 3x3, a
    2-pixel border), 600 training images and 200 test ones. LeNet learns them, and eval reads the
    test files."""
    from minisora.data.idx import FILES
    from test_data import write_idx

    digits = ms.data.digits()
    images = np.pad(np.kron(digits.arrays[0].reshape(-1, 8, 8), np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
    images, labels = (images * 255).astype(np.uint8), digits.arrays[1].astype(np.uint8)
    for split, rows in (("train", slice(0, 600)), ("test", slice(600, 800))):
        write_idx(str(tmp_path / FILES[split][0]), images[rows])
        write_idx(str(tmp_path / FILES[split][1]), labels[rows])
    out = str(tmp_path / "run")
    assert main(["train", "cnn", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "10", "--out", out,
                 "--no-progress"]) == 0
    assert main(["eval", "--checkpoint", out, "--split", "test"]) == 0
    printed = capsys.readouterr().out
    accuracy = float(printed.split("accuracy ")[1].split("%")[0])
    assert "cnn on mnist (test, 200 samples)" in printed and accuracy > 80, printed[-300:]
