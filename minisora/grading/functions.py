"""Exercises written as a function, each graded against minisora doing the same thing:

    gradient_step(w, x, t, lr) -> (dL/dw, new w)     lesson 03, L = (w x - t)^2 / 2
                          2 points: the slope and the step agree with backward() and SGD
    train_epoch(model, batches, optimizer) -> mean loss      lesson 05
                          3 points: the weights after the epoch agree with minisora's own loop
    adam_step(param, grad, m, v, step, lr, beta1, beta2, eps) -> (param, m, v)      lesson 06
                          3 points: six steps agree with minisora's Adam (PyTorch's equations)
    relu_forward_gpu[blocks, threads](x, y)          lesson 10, a numba.cuda kernel
                          3 points: every element right for launches smaller and larger than x
    mask_tokens(ids, vocab_size, mask_id, special_ids, generator) -> (inputs, labels)      lesson 12
                          3 points: BERT's rule on 20,000 positions: 15% of the ordinary tokens
                          chosen, of those 80% masked, 10% random, 10% kept (each share within 5
                          standard deviations of its binomial), labels -100 where not chosen
    gan_losses(generator, discriminator, real, noise) -> (d_loss, g_loss)      lesson 15
                          3 points: both losses' values, D's loss reaching D only (G's samples
                          detached), G's loss the non-saturating one, its gradients reaching G
    quantize_int8(x, scale, zero_point) -> q      lesson 16
                          3 points: every number as minisora's quantize (PyTorch's) gives it:
                          ties to even, the zero point added before rounding, saturation
                          instead of wrapping

Each grader says which exercise it checks and returns one Result (grade_file reports it). Where
a common slip explains a wrong answer, the message names it (the learning rate left out,
gradients never cleared, a thread that does one element and stops).
"""
import numpy as np

from ..tensor import Tensor
from .result import Result, failure


def grade_adam_step(function, say=print, steps=6):
    """The student's adam_step against minisora's Adam optimizer (PyTorch's equations), step by step."""
    from .. import nn, optim

    say("checking adam_step")
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(3, 4)), rng.normal(size=(steps, 3, 4))
    hyper = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8)
    reference = nn.Parameter(Tensor(start))
    optimizer = optim.Adam([reference], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]), eps=hyper["eps"])
    param, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    result = Result("adam steps", True, f"{steps} steps match minisora's Adam (and so PyTorch's) to 1e-10", 3.0)
    for step, grad in enumerate(grads, 1):
        reference.grad = Tensor(grad)
        optimizer.step()
        try:
            param, m, v = (np.asarray(a, dtype=np.float64) for a in function(param, grad, m, v, step, **hyper))
        except Exception as error:   # the student's code raising is a result to report
            result = failure("adam steps", error, f"step {step}", 3.0)
            break
        expected = reference.numpy()
        if param.shape != expected.shape or not np.allclose(param, expected, rtol=1e-10, atol=1e-12):
            worst = np.unravel_index(np.argmax(np.abs(param - expected)), expected.shape) if param.shape == expected.shape else ()
            result = Result("adam steps", False, f"step {step}: parameter {worst}: yours "
                                                 f"{param[worst] if worst else param.shape}, Adam's "
                                                 f"{expected[worst] if worst else expected.shape}", 3.0, worst=str(worst))
            break
    return result


def grade_gradient_step(function, say=print):
    """The slope of L = (w x - t)^2 / 2 and one step of gradient descent, against backward() and SGD."""
    from .. import nn, optim

    say("checking gradient_step")
    cases = [(2.0, 1.0, 1.5, 0.1), (-0.5, 3.0, 2.0, 0.01), (1.25, -2.0, 0.5, 0.5)]
    for w0, x, t, lr in cases:
        w = nn.Parameter(Tensor(w0, dtype="float64"))
        ((w * x - t) ** 2 / 2).backward()
        slope = w.grad.item()
        optim.SGD([w], lr=lr).step()
        try:
            got_slope, got_w = (float(v) for v in function(w0, x, t, lr))
        except Exception as error:
            result = failure("gradient step", error, f"w={w0}, x={x}, t={t}, lr={lr}", 2.0)
            break
        if not np.isclose(got_slope, slope, rtol=1e-12):
            hint = " (dL/dw = (w x - t) x: the chain rule's last link is x)" if np.isclose(got_slope, w0 * x - t) else ""
            result = Result("gradient step", False, f"w={w0}, x={x}, t={t}: your dL/dw is {got_slope}, "
                                                    f"backward() says {slope}{hint}", 2.0)
            break
        if not np.isclose(got_w, w.item(), rtol=1e-12):
            hints = {w0 - slope: " (the learning rate is left out: w - lr dL/dw)",
                     t - lr * slope: " (the step was taken from the target t, not from w)"}
            hint = next((h for value, h in hints.items() if np.isclose(got_w, value)), "")
            result = Result("gradient step", False, f"w={w0}, x={x}, t={t}, lr={lr}: your new w is {got_w}, one SGD "
                                                    f"step gives {w.item()}{hint}", 2.0)
            break
    else:
        result = Result("gradient step", True, f"dL/dw and the new w agree with backward() and SGD in "
                                               f"{len(cases)} cases", 2.0)
    return result


def grade_train_epoch(function, say=print):
    """The student's epoch against minisora's loop, from the same weights over the same batches."""
    from .. import data, nn, optim, random as ms_random
    from .. import functional as F

    say("checking train_epoch")
    features, labels = data.moons(96, noise=0.2, seed=0).arrays
    order = np.random.default_rng(0).permutation(96)   # the moons come sorted by class
    x, y = Tensor(features[order], dtype="float32"), Tensor(labels[order])
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)]

    def fresh():
        ms_random.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
        return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def loop(model, optimizer, clear):
        losses = []
        for inputs, targets in batches:
            if clear:
                optimizer.zero_grad()
            loss = F.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses)), [p.numpy().copy() for p in model.parameters()]

    expected_loss, expected = loop(*fresh(), clear=True)
    _, uncleared = loop(*fresh(), clear=False)
    model, optimizer = fresh()
    start = [p.numpy().copy() for p in model.parameters()]
    try:
        got_loss = float(function(model, batches, optimizer))
    except Exception as error:
        result = failure("epoch", error, "train_epoch", 3.0)
    else:
        got = [p.numpy() for p in model.parameters()]
        same = lambda a, b: all(np.allclose(u, v, rtol=1e-5, atol=1e-7) for u, v in zip(a, b))   # noqa: E731
        if same(got, start):
            result = Result("epoch", False, "the weights did not change: call optimizer.step() after backward()", 3.0)
        elif same(got, uncleared):
            result = Result("epoch", False, "gradients add up across batches: call optimizer.zero_grad() before "
                                            "each backward()", 3.0)
        elif not same(got, expected):
            result = Result("epoch", False, "the weights after the epoch differ from minisora's loop (zero_grad, "
                                            "forward, cross_entropy, backward, step for each batch, in order)", 3.0)
        elif not np.isclose(got_loss, expected_loss, rtol=1e-5):
            result = Result("epoch", False, f"the weights are right, the mean loss returned is {got_loss}, "
                                            f"the batches' mean is {expected_loss:.6g}", 3.0)
        else:
            result = Result("epoch", True, f"the weights and the mean loss ({expected_loss:.4f}) agree with "
                                           "minisora's loop", 3.0)
    return result


def grade_relu_kernel(kernel, say=print):
    """The student's GPU kernel, launched with fewer and with more threads than elements."""
    from numba import config, cuda

    say(f"checking relu_forward_gpu{' (on the CUDA simulator)' if config.ENABLE_CUDASIM else ''}")
    rng = np.random.default_rng(0)
    result = Result("gpu kernel", True, "every element right with 1 x 4, 2 x 8 and 3 x 32 threads (fewer and more "
                                        "than the elements)", 3.0)
    for size, blocks, threads in ((37, 1, 4), (5, 2, 8), (200, 3, 32)):
        x = rng.standard_normal(size)
        y = cuda.to_device(np.full(size, np.nan))
        try:
            kernel[blocks, threads](cuda.to_device(x), y)
            got = y.copy_to_host()
        except Exception as error:
            result = failure("gpu kernel", error, f"a launch of {blocks} x {threads} threads on {size} elements", 3.0)
            break
        wrong = ~np.isclose(got, np.maximum(x, 0), equal_nan=False)
        if wrong.any():
            first = int(np.argmax(wrong))
            hint = (": each thread must go on to element i + cuda.gridsize(1) (a grid-stride loop)"
                    if first >= blocks * threads and not wrong[:blocks * threads].any() else "")
            result = Result("gpu kernel", False, f"{blocks} x {threads} threads on {size} elements: element {first} is "
                                                 f"{got[first]}, should be {max(x[first], 0):.6g}{hint}", 3.0)
            break
    return result


def grade_gan_losses(function, say=print):
    """The student's two GAN losses on small MLP players, against minisora's own (models.gan):
    their values, and where each one's gradients go."""
    from .. import random as ms_random
    from ..autograd import no_grad
    from ..models.gan import MLPDiscriminator, MLPGenerator, discriminator_loss, generator_loss

    say("checking gan_losses")
    ms_random.manual_seed(0)
    generator, discriminator = MLPGenerator(3, [8], 2).double(), MLPDiscriminator(2, [8]).double()
    rng = np.random.default_rng(0)
    real, noise = Tensor(rng.standard_normal((6, 2))), Tensor(rng.standard_normal((6, 3)))
    players = list(generator.parameters()) + list(discriminator.parameters())
    with no_grad():
        fake = generator(noise)
        expected_d = discriminator_loss(discriminator(real), discriminator(fake)).item()
        expected_g = generator_loss(discriminator(fake)).item()
    count = len(list(generator.parameters()))
    try:
        d_loss, g_loss = function(generator, discriminator, real, noise)
        values = (d_loss.item(), g_loss.item())
        for p in players:
            p.grad = None
        d_loss.backward()
    except Exception as error:
        return failure("gan losses", error, "gan_losses(generator, discriminator, real, noise) and L_D's backward", 3.0)
    if not np.isclose(values[0], expected_d, rtol=1e-10):
        return Result("gan losses", False, f"your L_D is {values[0]:.6g}, -log D(x) - log(1 - D(G(z))) averaged is "
                                           f"{expected_d:.6g}", 3.0)
    if any(p.grad is not None for p in players[:count]):
        return Result("gan losses", False, "L_D's gradients reach the generator: detach G's samples before D scores "
                                           "them for its own loss", 3.0)
    if not np.isclose(values[1], expected_g, rtol=1e-10):
        saturating = -float(np.mean(np.logaddexp(0.0, discriminator(fake).numpy())))
        hint = (" (that is log(1 - D(G(z))), the saturating loss: G should minimise -log D(G(z)))"
                if np.isclose(values[1], saturating, rtol=1e-10) else "")
        return Result("gan losses", False, f"your L_G is {values[1]:.6g}, -log D(G(z)) averaged is {expected_g:.6g}"
                                           f"{hint}", 3.0)
    try:
        for p in players:
            p.grad = None
        g_loss.backward()
    except Exception as error:
        return failure("gan losses", error, "L_G's backward", 3.0)
    if not all(p.grad is not None and bool(np.any(p.grad.numpy())) for p in players[:count]):
        return Result("gan losses", False, "L_G's gradients do not reach the generator: score G's samples "
                                           "without detaching them for G's loss", 3.0)
    return Result("gan losses", True, "both losses match minisora's; L_D reaches D only, L_G reaches G", 3.0)


def grade_mask_tokens(function, say=print):
    """The student's masking rule on one large batch, against BERT's proportions (the draws are the
    student's own, so the shares are tested, each within 5 standard deviations of its binomial)."""
    say("checking mask_tokens")
    vocab, mask_id, specials = 30, 2, np.arange(4)
    ids = np.random.default_rng(0).integers(4, vocab, (200, 110))
    ids[:, -10:] = 0   # padding
    try:
        inputs, labels = (np.asarray(a) for a in function(ids.copy(), vocab, mask_id, specials,
                                                           np.random.default_rng(1)))
    except Exception as error:
        return failure("masking rule", error, "mask_tokens(ids, 30, 2, [0, 1, 2, 3], generator)", 3.0)
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        return Result("masking rule", False, f"inputs {inputs.shape} and labels {labels.shape} must have the ids' "
                                             f"shape {ids.shape}", 3.0)
    chosen, ordinary = labels != -100, ids != 0
    n = int(ordinary.sum())

    def near(share, expected, count):
        return abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / max(count, 1))

    if chosen.mean() > 0.5:
        return Result("masking rule", False, "labels hold a token at almost every position: the loss would score "
                                             "them all; put -100 (ignore_index) where a token was not chosen", 3.0)
    if (chosen & ~ordinary).any():
        return Result("masking rule", False, "a padding (special) token was chosen: choose only the ordinary ones "
                                             "(not in special_ids)", 3.0)
    if not (labels[chosen] == ids[chosen]).all():
        return Result("masking rule", False, "a chosen position's label must be its original token id", 3.0)
    if not (inputs[~chosen] == ids[~chosen]).all():
        return Result("masking rule", False, "a position that was not chosen changed: only chosen ones may", 3.0)
    k = int(chosen.sum())
    if not near(k / n, 0.15, n):
        return Result("masking rule", False, f"{k / n:.1%} of the ordinary tokens were chosen; BERT chooses 15%", 3.0)
    masked = chosen & (inputs == mask_id)
    kept = chosen & (inputs == ids)
    random = chosen & ~masked & ~kept
    if masked.sum() == k:
        return Result("masking rule", False, "every chosen token became <mask>: BERT masks 80%, puts a random token "
                                             "in 10% and keeps 10% (no token is masked when the model is used)", 3.0)
    ordinary_share = (vocab - len(specials) - 1) / (vocab - len(specials))   # a random draw that differs
    shares = {"masked": (masked.sum() / k, 0.8), "random": (random.sum() / k, 0.1 * ordinary_share),
              "kept": (kept.sum() / k, 0.1 + 0.1 * (1 - ordinary_share))}
    for what, (share, expected) in shares.items():
        if not near(share, expected, k):
            return Result("masking rule", False, f"{share:.1%} of the chosen tokens were {what}; BERT's rule gives "
                                                 f"{expected:.1%}", 3.0)
    if np.isin(inputs[random], specials).any():
        return Result("masking rule", False, "a random replacement was a special token: draw from the ordinary ids",
                      3.0)
    return Result("masking rule", True, f"{k} of {n} ordinary tokens chosen (15%), 80/10/10 masked/random/kept, "
                                        "labels -100 elsewhere", 3.0)


def grade_quantize_int8(function, say=print):
    """The student's int8 quantizer against minisora's quantize particle (PyTorch's numbers) on
    scales that are powers of two, where x / scale is exact whatever way it is computed, with every
    tie, numbers past both ends, and three zero points."""
    from ..particles import get

    say("checking quantize_int8")
    x = np.concatenate([np.arange(-80, 81) * 0.125, [40.0, -40.0, 1e6, -1e6, 0.2, -0.3]])
    for scale, zero_point in ((0.25, 0), (0.25, 5), (0.0625, -3)):
        expected = get("quantize").reference(x, scale, zero_point)
        try:
            q = np.asarray(function(x.copy(), scale, zero_point))
        except Exception as error:
            return failure("int8 quantizer", error, f"quantize_int8(x, {scale}, {zero_point})", 3.0)
        if q.shape != x.shape or q.dtype != np.int8:
            return Result("int8 quantizer", False, f"return an np.int8 array of x's shape {x.shape}, got "
                                                   f"{q.dtype} {q.shape}", 3.0)
        if np.array_equal(q, expected):
            continue
        steps = x / scale
        if (steps.astype(np.int64).clip(-128 - zero_point, 127 - zero_point) + zero_point == q).all():
            return Result("int8 quantizer", False, "0.8 steps became 0: the cast to int truncates towards 0; round to "
                                                   "the nearest integer first (np.rint)", 3.0)
        big = x > 127 * scale
        if (q[big] < 0).any():
            return Result("int8 quantizer", False, "a number past the top of the range came out negative: the int8 "
                                                   "wrapped around; clamp to [-128, 127] before the cast", 3.0)
        if zero_point and np.array_equal(q, get("quantize").reference(x, scale, 0)):
            return Result("int8 quantizer", False, f"the zero point {zero_point} is missing: q = round(x / scale + "
                                                   "zero_point)", 3.0)
        if np.array_equal(q, np.clip(np.rint(steps) + zero_point, -128, 127)):
            return Result("int8 quantizer", False, "the zero point was added after rounding: PyTorch rounds x / scale "
                                                   "+ zero_point as one number (0.5 steps with zero point 5: round(5.5) "
                                                   "= 6, round(0.5) + 5 = 5)", 3.0)
        ties = np.isclose(steps % 1, 0.5)
        if not np.array_equal(q[~ties], expected[~ties]):
            wrong = np.flatnonzero(q != expected)[0]
        else:
            return Result("int8 quantizer", False, "2.5 steps rounded to 3: ties go to the even integer (np.rint; "
                                                   "2.5 -> 2, 3.5 -> 4), as PyTorch and IEEE round", 3.0)
        return Result("int8 quantizer", False, f"x = {x[wrong]} (scale {scale}, zero point {zero_point}): yours "
                                               f"{q[wrong]}, expected {expected[wrong]}", 3.0)
    return Result("int8 quantizer", True, "every number as PyTorch's quantize_per_tensor: ties to even, the zero "
                                          "point, saturation at both ends", 3.0)


FUNCTION_EXERCISES = {"gradient_step": grade_gradient_step, "train_epoch": grade_train_epoch,
                      "adam_step": grade_adam_step, "relu_forward_gpu": grade_relu_kernel,
                      "gan_losses": grade_gan_losses, "mask_tokens": grade_mask_tokens,
                      "quantize_int8": grade_quantize_int8}
