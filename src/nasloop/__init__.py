"""nasloop: autonomous, LLM-driven neural architecture search."""

__version__ = "0.1.0"
