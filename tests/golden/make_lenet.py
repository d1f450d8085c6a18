"""Write lenet.safetensors and lenet_logits.npz: a PyTorch LeNet (the tutorials' names conv1, conv2,
fc1, fc2, fc3; 28x28 input, ReLU, max pooling) as a PyTorch user saves it, and its logits for fixed
images. Run once with PyTorch installed (python tests/golden/make_lenet.py); the files are committed."""
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


class LeNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(400, 120), torch.nn.Linear(120, 84), torch.nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def main():
    torch.manual_seed(0)
    model = LeNet()
    save_file(model.state_dict(), os.path.join(HERE, "lenet.safetensors"))
    images = torch.tensor(np.random.default_rng(0).random((3, 1, 28, 28)), dtype=torch.float32)
    with torch.no_grad():
        logits = model(images)
    np.savez_compressed(os.path.join(HERE, "lenet_logits.npz"), images=images.numpy(), logits=logits.numpy())


if __name__ == "__main__":
    main()
