"""The degradation of clean images and the training targets (numpy, trusted side only).

Clean images are float32 (N, C, H, W) in [0, 1]. The degradation is a Gaussian blur (optional)
and additive Gaussian noise, drawn from a generator seeded by (seed, split): the same seed
gives the same degraded images, and the clean array is never written to.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def unit_range(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """`x` mapped from [lo, hi] to [0, 1] (clipped), float32."""
    scale = (hi - lo) or 1.0
    return np.clip((x - lo) / scale, 0.0, 1.0).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian kernel of radius ceil(3 sigma)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over H and W (edges reflected); a new array."""
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    out = x.astype(np.float64)
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > r else "edge")
        n = out.shape[axis]
        out = sum(k[i] * np.take(padded, np.arange(i, i + n), axis=axis) for i in range(len(k)))
    return out.astype(np.float32)


def degrade(clean: np.ndarray, sigma: float, blur_sigma: float, seed: int,
            split: str) -> np.ndarray:
    """The degraded copy of `clean` (blur, then noise of `sigma`), deterministic per
    (seed, split); `clean` is left as it is."""
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    out = blur(clean, blur_sigma) if blur_sigma > 0 else clean.astype(np.float32, copy=True)
    if sigma > 0:
        out = out + rng.normal(0.0, sigma, size=out.shape).astype(np.float32)
    return out.astype(np.float32)


def distill_targets(teacher: np.ndarray, clean: np.ndarray, alpha: float) -> np.ndarray:
    """The training targets of distillation: alpha * teacher + (1 - alpha) * clean."""
    if teacher.shape != clean.shape:
        raise ValueError(f"teacher outputs {teacher.shape} != targets {clean.shape}")
    return (alpha * teacher.astype(np.float64)
            + (1 - alpha) * clean.astype(np.float64)).astype(np.float32)
