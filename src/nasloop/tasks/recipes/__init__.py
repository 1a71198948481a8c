"""The training-recipe search task: loss x optimizer for fixed architectures."""
