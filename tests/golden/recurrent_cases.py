"""The recurrent cases the goldens hold: each a layer's options, input shape and lengths (None: all
steps real). Shared by make_recurrent.py (PyTorch) and test_recurrent_parity.py (minisora)."""
CASES = {
    # name: (kind, options, (T, batch, input_size), hidden_size, lengths)
    "rnn_tanh": ("RNN", {}, (4, 3, 2), 3, None),
    "rnn_relu_2_layers": ("RNN", {"num_layers": 2, "nonlinearity": "relu"}, (4, 2, 3), 2, None),
    "lstm": ("LSTM", {}, (5, 3, 4), 3, None),
    "lstm_no_bias_batch_first": ("LSTM", {"bias": False, "batch_first": True}, (2, 4, 3), 2, None),
    "lstm_bidirectional_2_layers_lengths": ("LSTM", {"num_layers": 2, "bidirectional": True}, (5, 3, 4), 3,
                                            [5, 3, 1]),
    "gru": ("GRU", {}, (5, 3, 4), 3, None),
    "gru_bidirectional_2_layers_lengths": ("GRU", {"num_layers": 2, "bidirectional": True}, (5, 3, 4), 3,
                                           [5, 4, 2]),
}
CELLS = {
    # name: (kind, batch, input_size, hidden_size)
    "rnn_cell": ("RNNCell", 3, 4, 2),
    "lstm_cell": ("LSTMCell", 3, 4, 2),
    "gru_cell": ("GRUCell", 3, 4, 2),
}
