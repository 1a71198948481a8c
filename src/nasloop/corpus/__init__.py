"""Corpora of model variants for fine-tuning code models (see docs/corpus.md)."""
