"""The graph walk: record each particle call, then run their backwards in reverse order.

Forward: `call(Particle, *tensors)` runs the particle on the tensors' arrays and, when any
input requires a gradient, keeps a Context (the particle, its inputs, what it saved) on the
output. Those contexts are the graph.

Backward: `backward(root)` orders the graph topologically (every tensor after all tensors
computed from it), seeds dL/droot, and visits each tensor once: sums the gradients that
reached it, runs its hooks, then either stores the sum in `.grad` (a leaf) or hands it to
the particle that made it, whose `backward` sends one gradient to each input.

A particle whose forward returns a tuple of arrays (split) makes one tensor per result, all
sharing its Context. Its backward runs once, at the last of them in the walk: every use of
every result comes before it, so by then each result has its whole gradient (None for a result
nothing used).
"""
import contextlib
import time

from . import errors
from .backends.kernel import compiles, spent
from .particles.particle import Context, describe
from .tensor import Tensor  # minisora/__init__ imports this module first, so the cycle resolves

_grad_enabled = True
changes = 0   # in-place changes of tensors so far (changed_in_place): a clock for check_unchanged
observers = []  # callables(event, ctx, arrays, seconds) notified per particle call (inspect.trace)


def is_grad_enabled():
    return _grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager / decorator: particle calls inside record no graph."""

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False


class enable_grad(no_grad):
    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = True


def call(particle, *inputs, **params):
    """Run `particle` forward on Tensors `inputs`; the result remembers how it was made."""
    return call_with_context(particle, *inputs, **params)[0]


def call_with_context(particle, *inputs, **params):
    """`call`, also returning the particle's Context (for extra results such as max's indices)."""
    if not inputs:   # cat([]): nothing to take a device (or anything) from
        raise errors.ValueError(f"{particle.name}: expected at least one tensor, got none")
    device = inputs[0].device
    for t in inputs:
        if t.device != device:
            devices = ", ".join(f"{x.device}" for x in inputs)
            raise errors.RuntimeError(f"{particle.name}: inputs live on different devices ({devices}); move them with .to()")
    ctx = Context(particle, inputs[0].backend, inputs)
    ctx.params = params   # kept for tools that replay a call (the stepper's debugger)
    arrays = [t.data for t in inputs]
    if observers:
        output = _observed(particle.forward, "forward", ctx, arrays, params)
    else:
        output = particle.forward(ctx, *arrays, **params)
    tracked = None
    if _grad_enabled and any(t.requires_grad for t in inputs):
        ctx.needs_input_grad = tuple(t.requires_grad for t in inputs)
        ctx.changes = changes   # see check_unchanged
        tracked = ctx
    if type(output) is tuple:   # several results: a tensor each (see the module docstring)
        ctx.output_count = len(output)
        return tuple(Tensor._make(array, device, tracked, index) for index, array in enumerate(output)), ctx
    return Tensor._make(output, device, tracked), ctx


def _observed(method, event, ctx, arrays, params, shown=None):
    compiled_before, spent_before = compiles.count, spent.snapshot()
    start = time.perf_counter()
    output = method(ctx, *arrays, **params)
    seconds = time.perf_counter() - start
    # (counted only while a trace watches: trace.py)
    ctx.compiled = compiles.count > compiled_before
    ctx.spent = spent.since(spent_before)
    for observer in list(observers):
        observer(event, ctx, arrays if shown is None else shown, output, seconds)
    return output


def inputs_first(root, needing_grad=True):
    """The tensors root was computed from (with needing_grad, only those that need a gradient),
    each before every tensor computed from it; root is last. backward walks this list reversed."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        ctx = tensor._ctx
        if ctx is not None:
            for parent in reversed(ctx.inputs):   # reversed: the first input is visited first
                if (parent.requires_grad or not needing_grad) and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) * grad into `.grad` of every leaf that requires it."""
    backend = root.backend
    if not root.requires_grad:
        raise errors.RuntimeError("backward: this tensor does not require grad and has no graph behind it")
    if grad is None:
        if root.data.size != 1:
            raise errors.RuntimeError(
                f"backward: grad can be omitted only for a single-number output, got shape {root.shape}; "
                "pass grad= of the same shape"
            )
        seed = backend.full(root.shape, 1.0, root.dtype)
    else:
        if not isinstance(grad, Tensor):   # a list, a NumPy array, a number: onto the root's device
            grad = Tensor(grad, dtype=root.dtype if root.dtype.kind == "f" else None, device=root.device)
        seed = checked_gradient(root, grad, "backward(grad)", ValueError)

    grads = {id(root): seed}
    stored_as_leaf_grad = set()
    walk = list(reversed(inputs_first(root)))
    last_result = {id(t._ctx): t for t in walk if t._ctx is not None and t._ctx.output_count}
    results = {}   # id(ctx) -> the gradients of a many-result particle's results, as they arrive
    summed = set()   # ids of tensors whose gradient so far is a sum made here (no one else holds it)
    for tensor in walk:
        grad_array = grads.pop(id(tensor), None)
        ctx = tensor._ctx
        if grad_array is not None:
            if tensor._hooks:
                grad_array = _run_hooks(tensor, grad_array)   # checked there: kernels trust what comes next
            if ctx is None or tensor._retains_grad:
                _accumulate_grad(tensor, grad_array, stored_as_leaf_grad)
        if ctx is None:
            continue
        if ctx.output_count:
            arrived = results.setdefault(id(ctx), [None] * ctx.output_count)
            arrived[tensor._output_index] = grad_array
            if last_result[id(ctx)] is not tensor or all(g is None for g in arrived):
                continue
            grad_array = tuple(results.pop(id(ctx)))
        elif grad_array is None:
            continue
        if ctx.released:
            raise errors.RuntimeError(
                f"backward: trying to go through the graph of '{ctx.particle.name}' a second time, "
                "but its saved values were freed after the first backward; "
                "call backward(retain_graph=True) the first time"
            )
        if changes != ctx.changes:   # a tensor was changed in place since this call's forward
            check_unchanged(ctx)
        if observers:
            shown = list(grad_array) if ctx.output_count else None   # observers see one array per result
            input_grads = _observed(ctx.particle.backward, "backward", ctx, [grad_array], {}, shown)
        else:
            input_grads = ctx.particle.backward(ctx, grad_array)
        for parent, parent_grad, needed in zip(ctx.inputs, input_grads, ctx.needs_input_grad):
            if not needed or parent_grad is None:
                continue
            data = parent.data
            if type(parent_grad) is not backend.array_type or parent_grad.shape != data.shape \
                    or parent_grad.dtype != data.dtype:   # (the usual case needs no more look)
                parent_grad = checked_gradient(parent, parent_grad, f"{ctx.particle.name}: backward")
            key = id(parent)
            previous = grads.get(key)
            if previous is None:
                grads[key] = parent_grad
            elif key in summed:   # a sum autograd made itself: add to it in place (a weight used every step)
                backend.add_into(previous, parent_grad)
            else:
                grads[key] = backend.add(previous, parent_grad)
                summed.add(key)
        if not retain_graph:
            ctx.release()


def changed_in_place(tensor):
    """Note that `tensor`'s memory was just overwritten (an optimizer step, load_state_dict): its
    `_version` goes up by 1, as PyTorch's does, and check_unchanged will see it."""
    global changes
    changes += 1
    tensor._version += 1
    tensor._changed_at = changes


def check_unchanged(ctx):
    """RuntimeError when an input this call saved for backward was changed in place since its
    forward: backward would silently use the new numbers."""
    for tensor in ctx.inputs:
        if tensor._changed_at > ctx.changes and any(
                saved is not None and ctx.backend.shares_memory(saved, tensor.data) for saved in ctx.saved):
            raise errors.RuntimeError(
                f"{ctx.particle.name}: backward needs its input {describe(tensor.data)}, which was changed in place "
                f"after the forward (it is at version {tensor._version} now: an optimizer step, "
                "load_state_dict or x[...] = ...); run the forward again after changing it, or change it after backward")


def _run_hooks(tensor, grad_array):
    for hook in list(tensor._hooks.values()):
        replaced = hook(Tensor._make(grad_array, tensor.device, None))
        if replaced is not None:
            grad_array = checked_gradient(tensor, replaced, f"hook {getattr(hook, '__name__', hook)!s}")
    return grad_array


def checked_gradient(tensor, grad, source, error=RuntimeError):
    """`grad` (a Tensor or an array) as backward hands it on for `tensor`: an array on tensor's
    device, of its shape, of a float dtype (cast to tensor's). Every gradient that enters a kernel
    passes here first, from backward(grad), a hook or a particle's backward: compiled loops
    trust shapes, and one too small would read past its memory (garbage, or a crash)."""
    backend = tensor.backend
    if isinstance(grad, Tensor):
        if grad.device != tensor.device:
            raise errors.RuntimeError(f"{source}: gave a gradient on {grad.device} for a tensor on {tensor.device}")
        grad = grad.data
    elif not backend.is_array(grad):
        raise errors.TypeError(f"{source}: gave {type(grad).__name__} as a gradient; expected a tensor on {tensor.device}")
    if grad.shape != tensor.data.shape:
        raise errors.of(error)(f"{source}: gave a gradient of shape {tuple(grad.shape)} for a tensor of shape "
                               f"{tensor.shape}")
    if grad.dtype != tensor.dtype:
        if grad.dtype.kind != "f":
            raise errors.TypeError(f"{source}: gave a gradient of dtype {grad.dtype} for a {tensor.dtype} tensor; "
                                   "gradients are float32 or float64")
        grad = backend.astype(grad, tensor.dtype)
    return grad


def _accumulate_grad(tensor, grad_array, stored):
    """Add into `.grad`. The array is copied when it may be shared with another tensor's grad."""
    backend = tensor.backend
    if grad_array.dtype != tensor.dtype:
        grad_array = backend.astype(grad_array, tensor.dtype)
    if tensor.grad is None:
        if id(grad_array) in stored or backend.is_view(grad_array):
            grad_array = backend.asarray(grad_array)
        stored.add(id(grad_array))
        tensor.grad = Tensor._make(grad_array, tensor.device, None)
    else:
        tensor.grad = Tensor._make(backend.add(tensor.grad.data, grad_array), tensor.device, None)


class RemovableHandle:
    """Returned by register_hook; `.remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)
