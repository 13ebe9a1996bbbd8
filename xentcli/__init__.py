"""xent: cross-entropy and prediction-quality reports for model outputs."""

__version__ = "0.1.0"
