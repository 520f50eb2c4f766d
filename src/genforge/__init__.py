"""genforge: train, judge and ship generative image models."""

__version__ = "0.1.0"
