"""The convolution cases the goldens hold: (input shape, weight shape, bias?, options). Shared by
make_convolution.py (PyTorch) and test_convolution.py (minisora)."""
CASES = {
    "conv2d_plain": ((2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    "conv2d_stride_padding": ((1, 3, 9, 8), (5, 3, 3, 2), True, {"stride": 2, "padding": 1}),
    "conv2d_dilation_groups": ((2, 4, 9, 9), (6, 2, 3, 3), True, {"dilation": 2, "groups": 2, "padding": (1, 2)}),
    "conv2d_depthwise_same_even": ((2, 3, 5, 6), (3, 1, 2, 4), False, {"groups": 3, "padding": "same"}),
    "conv2d_odd_strides_batch_1": ((1, 2, 11, 7), (3, 2, 3, 3), True, {"stride": (3, 2), "dilation": (1, 2)}),
    "conv2d_1x1": ((2, 5, 4, 3), (2, 5, 1, 1), True, {}),
    "conv1d_plain": ((2, 3, 10), (4, 3, 3), True, {}),
    "conv1d_stride_dilation_groups": ((1, 4, 13), (6, 2, 3), True, {"stride": 2, "dilation": 2, "groups": 2,
                                                                      "padding": 2}),
    "conv1d_same_even": ((2, 2, 7), (3, 2, 4), False, {"padding": "same"}),
}
# pooling: (input shape, function name, arguments); "ties": integers in [-2, 2], so windows tie
POOL_CASES = {
    "max_pool2d_2": ((2, 3, 7, 6), "max_pool2d", (2,), False),
    "max_pool2d_overlap_padding": ((1, 2, 9, 8), "max_pool2d", (3, 2, 1), False),
    "max_pool2d_ties": ((2, 2, 6, 6), "max_pool2d", (3, 1, 1), True),
    "avg_pool2d_2": ((2, 3, 7, 6), "avg_pool2d", (2,), False),
    "avg_pool2d_rect_padding": ((1, 2, 7, 9), "avg_pool2d", ((3, 2), (2, 1), (1, 1)), False),
    "adaptive_avg_pool2d_1": ((2, 4, 5, 7), "adaptive_avg_pool2d", (1,), False),
    "adaptive_avg_pool2d_3x4": ((1, 2, 7, 6), "adaptive_avg_pool2d", ((3, 4),), False),
}
# conv_transpose2d: (input shape, weight shape (C, O / groups, kh, kw), bias?, options)
TRANSPOSED_CASES = {
    "conv_transpose2d_stride_padding": ((2, 4, 3, 3), (4, 3, 4, 4), True, {"stride": 2, "padding": 1}),
    "conv_transpose2d_groups_output_padding": ((1, 4, 3, 2), (4, 1, 3, 2), True,
                                               {"stride": (2, 1), "padding": (1, 0), "output_padding": (1, 0),
                                                "groups": 2}),
    "conv_transpose2d_dilation_batch_1": ((1, 2, 3, 4), (2, 3, 2, 2), False, {"dilation": 2}),
}
