"""Theano's ``theano.sandbox`` path: ``symgrad.sandbox.rng_mrg.MRG_RandomStreams`` (MRG31k3p random
streams computed inside compiled kernels)."""
