"""Solution (lesson 03): one step of gradient descent on one weight, by the chain rule by hand."""


def gradient_step(w, x, t, lr):
    """Return (dL/dw, the new w after one step with learning rate lr), as two numbers."""
    e = w * x - t                # dL/de = e, de/dp = 1, dp/dw = x
    slope = e * 1 * x
    return slope, w - lr * slope
