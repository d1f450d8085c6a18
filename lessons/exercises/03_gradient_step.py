"""Exercise (lesson 03): one step of gradient descent on one weight, by the chain rule by hand.

    L = (w x - t)^2 / 2:   p = w x,  e = p - t,  L = e^2 / 2
    dL/dw = dL/de * de/dp * dp/dw                  -- one factor per link
    new w = w - lr * dL/dw

Grade it: minisora check lessons/exercises/03_gradient_step.py
"""


def gradient_step(w, x, t, lr):
    """Return (dL/dw, the new w after one step with learning rate lr), as two numbers."""
    raise NotImplementedError("write dL/dw by the chain rule, then the step: return slope, new_w")
