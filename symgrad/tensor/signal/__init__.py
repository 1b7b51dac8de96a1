"""Signal processing on tensors, as Theano's ``theano.tensor.signal``: pooling (``pool``)."""
