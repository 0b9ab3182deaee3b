"""convkit: convolutional networks as one coherent toolkit across domains."""

__version__ = "0.1.0"
