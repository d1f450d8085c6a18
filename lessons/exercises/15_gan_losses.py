"""Exercise (lesson 15): the two losses of a GAN, and which samples are detached.

    L_D = -log D(x) - log(1 - D(G(z)))      D's loss: real x scored as real, G(z) as fake;
                                           its gradients must reach D only
    L_G = -log D(G(z))                     G's loss, the non-saturating one; its gradients
                                           reach G through D

D returns logits (D(x) = sigmoid(logit)); F.binary_cross_entropy_with_logits(logits, targets)
averages -t log sigmoid(l) - (1 - t) log(1 - sigmoid(l)) without rounding a sigmoid to 0.
Return (d_loss, g_loss) as tensors; the checker runs backward on each.

Hint: for D's loss, G's samples are data: fake.detach(). For G's loss they must not be.
Grade it: minisora check lessons/exercises/15_gan_losses.py
"""
import minisora as ms
from minisora import F


def gan_losses(generator, discriminator, real, noise):
    fake = generator(noise)
    ones, zeros = ms.ones(real.shape[0], dtype=real.dtype), ms.zeros(real.shape[0], dtype=real.dtype)
    raise NotImplementedError("write d_loss and g_loss: return d_loss, g_loss")
