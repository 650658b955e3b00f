"""ssibench: a benchmark of self-supervised losses for accelerated MRI reconstruction."""

__version__ = "0.1.0"
