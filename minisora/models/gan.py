"""Generative adversarial networks: a generator G(z) that turns noise into samples, a
discriminator D(x) that scores how real a sample looks (a logit), and the losses of their game.

    MLPGenerator(latent, hidden, out)        z -> [Linear -> ReLU] x len(hidden) -> Linear
    MLPDiscriminator(features, hidden)       x -> [Linear -> LeakyReLU(0.2)] x len(hidden) -> Linear -> a logit
    DCGenerator(latent)                      for 8x8 digits: z -> Linear -> 64 x 2 x 2 -> conv_transpose 4x4
                                             stride 2 (-> 32 x 4 x 4) -> BatchNorm, ReLU -> conv_transpose
                                             (-> 1 x 8 x 8) -> tanh, in [-1, 1] as the scaled digits
    DCDiscriminator()                        8x8 -> conv 4x4 stride 2 (32 x 4 x 4) -> LeakyReLU -> conv
                                             (64 x 2 x 2) -> LeakyReLU -> Linear -> a logit

The losses, on D's logits r = D(x) for real samples and f = D(G(z)) for generated ones, with
sigma the sigmoid, so D(x) = sigma(r) (each through binary_cross_entropy_with_logits, which never
takes the log of a rounded-off 0):
    "ns"          L_D = -log sigma(r) - log(1 - sigma(f))     L_G = -log sigma(f)        (non-saturating)
    "saturating"  L_D as ns                                    L_G = log(1 - sigma(f))   (the minimax game as
                                                                                          written; its gradient
                                                                                          vanishes while D wins)
    "hinge"       L_D = relu(1 - r) + relu(1 + f)              L_G = -f
    "lsgan"       L_D = (r - 1)^2 / 2 + f^2 / 2                L_G = (f - 1)^2 / 2
each averaged over the batch. Label smoothing (ns and saturating) aims D's real targets at
1 - smoothing instead of 1.
"""
from .. import errors, functional as F, nn
from ..creation import full, zeros

LOSSES = ("ns", "saturating", "hinge", "lsgan")


def check_loss(kind):
    if kind not in LOSSES:
        raise errors.ValueError(f"GAN loss must be one of {', '.join(LOSSES)}, got {kind!r}")


def discriminator_loss(real_logits, fake_logits, kind="ns", smoothing=0.0):
    """L_D: D's loss on a batch of real and a batch of generated samples (their logits)."""
    check_loss(kind)
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if kind == "lsgan":
        return ((real_logits - 1.0) ** 2).mean() * 0.5 + (fake_logits ** 2).mean() * 0.5
    real_targets = full(real_logits.shape, 1.0 - smoothing, dtype=real_logits.dtype, device=real_logits.device)
    fake_targets = zeros(fake_logits.shape, dtype=fake_logits.dtype, device=fake_logits.device)
    return (F.binary_cross_entropy_with_logits(real_logits, real_targets)
            + F.binary_cross_entropy_with_logits(fake_logits, fake_targets))


def generator_loss(fake_logits, kind="ns"):
    """L_G: G's loss on D's logits for its samples."""
    check_loss(kind)
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "lsgan":
        return ((fake_logits - 1.0) ** 2).mean() * 0.5
    if kind == "saturating":   # log(1 - sigma(f)) = -BCE(f, target 0)
        return -F.binary_cross_entropy_with_logits(fake_logits, zeros(fake_logits.shape, dtype=fake_logits.dtype,
                                                                       device=fake_logits.device))
    return F.binary_cross_entropy_with_logits(fake_logits, full(fake_logits.shape, 1.0, dtype=fake_logits.dtype,
                                                                device=fake_logits.device))


def stack(sizes, activation):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), activation()]
    return layers + [nn.Linear(sizes[-2], sizes[-1])]


class MLPGenerator(nn.Module):
    def __init__(self, latent, hidden=(128, 128), out=2):
        super().__init__()
        self.latent = int(latent)
        self.net = nn.Sequential(*stack([latent, *hidden, out], nn.ReLU))

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, features=2, hidden=(128, 128)):
        super().__init__()
        self.net = nn.Sequential(*stack([features, *hidden, 1], lambda: nn.LeakyReLU(0.2)))

    def forward(self, x):
        return self.net(x).reshape(-1)


class DCGenerator(nn.Module):
    def __init__(self, latent=32):
        super().__init__()
        self.latent = int(latent)
        self.project = nn.Linear(latent, 64 * 2 * 2)
        self.up1 = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(32)
        self.up2 = nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1)

    def forward(self, z):
        h = F.relu(self.project(z)).reshape(z.shape[0], 64, 2, 2)
        h = F.relu(self.norm(self.up1(h)))
        return F.tanh(self.up2(h))


class DCDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 4, stride=2, padding=1)
        self.head = nn.Linear(64 * 2 * 2, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x.reshape(x.shape[0], 1, 8, 8)), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        return self.head(h.reshape(x.shape[0], -1)).reshape(-1)
