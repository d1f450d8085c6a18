"""Post-training quantization and quantization-aware training of a whole model, in three moves:

    prepare(model)               every Linear and Conv2d wrapped in Prepared (an observer on its input)
    calibrate(model, inputs)     a few batches through the model: each observer learns its input's range
    convert(model)               each Prepared replaced by its int8 layer (QuantizedLinear, QuantizedConv2d)

prepare_qat(model) wraps them to fake-quantize as well: train a few steps, then convert.
quantize_dynamic(model) converts at once, each input's range measured on every batch instead.
Embeddings, normalization and activations stay float32 (they hold few of the weights, and the
int8 layers take and give float32 tensors).

A quantized model is saved as its state dict (int8 weights, float32 scales, int32 zero points)
with `layout(model)`, which says which layers are int8; `restore_layout(model, layout)` turns a
freshly built float model back into that shape, so that the state dict loads into it exactly.
"""
from .. import errors
from ..autograd import no_grad
from ..nn.linear import Linear
from .modules import Prepared, QuantizedConv2d, QuantizedLinear, qat_observer, quantizable
from .observers import activation_observer


def replace(model, name, new):
    """Put `new` where the submodule called `name` ("blocks.0.attn.qkv") is."""
    *path, child = name.split(".")
    parent = model
    for step in path:
        parent = getattr(parent, step)
    parent._modules[child] = new   # in its place: a Sequential runs its children in this order


def layers_to_quantize(model, skip=()):
    return [(name, module) for name, module in model.named_modules()
            if name and quantizable(module) and not any(name == s or name.startswith(s + ".") for s in skip)]


def prepare(model, observer="minmax", percentile=99.99, skip=()):
    """Wrap every Linear and Conv2d of `model` (in place; not those named in `skip`) to observe its input."""
    found = layers_to_quantize(model, skip)
    if not found:
        raise errors.ValueError(f"prepare: {type(model).__name__} has no Linear or Conv2d layer to quantize")
    for name, module in found:
        replace(model, name, Prepared(module, activation_observer(observer, percentile)))
    return model


def prepare_qat(model, skip=()):
    """prepare, fake-quantizing too: the model trains as it will run in int8."""
    for name, module in layers_to_quantize(model, skip):
        replace(model, name, Prepared(module, qat_observer(), fake=True))
    return model.train()


def calibrate(model, inputs):
    """Run `inputs` (an iterable of model inputs, Tensors or tuples of them) through the prepared model."""
    model.eval()
    with no_grad():
        for batch in inputs:
            model(*batch) if isinstance(batch, tuple) else model(batch)
    return model


def convert(model):
    """Replace every Prepared layer by its int8 layer (in place); returns the model, in eval mode."""
    prepared = [(name, module) for name, module in model.named_modules() if isinstance(module, Prepared)]
    if not prepared:
        raise errors.ValueError("convert: nothing is prepared; call quant.prepare (and calibrate) or "
                                "quant.prepare_qat first")
    for name, module in prepared:
        replace(model, name, module.converted())
    return model.eval()


def quantize_dynamic(model, skip=()):
    """Every Linear to a QuantizedLinear whose input scale is measured on each batch (no calibration)."""
    for name, module in layers_to_quantize(model, skip):
        if type(module) is Linear:
            replace(model, name, QuantizedLinear.from_float(module))
    return model.eval()


def quantize_model(model, calibration_inputs, observer="minmax", percentile=99.99, skip=()):
    """prepare, calibrate and convert: post-training static quantization in one call."""
    return convert(calibrate(prepare(model, observer, percentile, skip), calibration_inputs))


def layout(model):
    """{layer name: what it is} for every int8 layer: what a checkpoint keeps to rebuild the model."""
    return {name: module.layout() for name, module in model.named_modules()
            if isinstance(module, (QuantizedLinear, QuantizedConv2d))}


def restore_layout(model, saved):
    """Replace the float layers named in `saved` (from `layout`) by empty int8 ones, ready for load_state_dict."""
    for name, spec in saved.items():
        spec = dict(spec)
        kind = spec.pop("kind")
        if kind == "linear":
            replace(model, name, QuantizedLinear(**spec))
        elif kind == "conv2d":
            replace(model, name, QuantizedConv2d(**spec))
        else:
            raise errors.ValueError(f"restore_layout: unknown quantized layer kind {kind!r} for {name}")
    return model
