"""Fine-tuning cycles: elites and corpora become prompt/answer pairs, a LoRA adapter learns them."""
