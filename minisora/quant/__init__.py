"""minisora.quant: int8 models. Post-training quantization (prepare, calibrate, convert),
quantization-aware training (prepare_qat), dynamic quantization, magnitude pruning, and the
quantization particles as functions (quantize_per_tensor, dequantize, fake_quantize, ...).

    model = quant.quantize_model(model, calibration_batches)     # Linear/Conv2d -> int8
    ms.save({"model": model.state_dict(), "layout": quant.layout(model)}, "int8.safetensors")
"""
from .convert import (calibrate, convert, layout, prepare, prepare_qat, quantize_dynamic, quantize_model,
                      restore_layout)
from .functional import dequantize, fake_quantize, quantize_per_channel, quantize_per_tensor, quantized_linear
from .modules import Prepared, QuantizedConv2d, QuantizedLinear, weight_qparams
from .observers import MinMaxObserver, MovingAverageObserver, PercentileObserver, qparams_from_range
from .pruning import prune_magnitude, sparsity, sparsity_table

__all__ = [
    "calibrate", "convert", "layout", "prepare", "prepare_qat", "quantize_dynamic", "quantize_model", "restore_layout",
    "dequantize", "fake_quantize", "quantize_per_channel", "quantize_per_tensor", "quantized_linear", "Prepared",
    "QuantizedConv2d", "QuantizedLinear", "weight_qparams", "MinMaxObserver", "MovingAverageObserver",
    "PercentileObserver", "qparams_from_range", "prune_magnitude", "sparsity", "sparsity_table",
]
