"""gauntlet: config-driven experiments through the five challenges of large models."""

__version__ = "0.1.0"
