"""digitduel: train, time and compare neural networks on the MNIST digit-pair task."""

__version__ = "0.1.0"
