"""Sandboxed evaluation of candidate files: contract, trainer, worker, executors."""
