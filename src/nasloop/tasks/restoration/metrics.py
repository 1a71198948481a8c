"""PSNR and SSIM of restored images against clean ones (numpy; the trusted side's metrics).

Images are (N, C, H, W) in [0, 1] (data range 1). Both are computed per image and averaged
over the images. SSIM follows Wang et al. (2004) as scikit-image computes it by default: a
uniform 7x7 window (smaller when the image is), sample covariances, K1 = 0.01, K2 = 0.03,
the mean over the window positions fully inside the image and over the channels.
"""

from __future__ import annotations

import numpy as np

MAX_PSNR = 100.0  # a perfect restoration's PSNR (dB): a number, never inf
K1, K2, WINDOW = 0.01, 0.03, 7


def psnr_per_image(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0
                   ) -> np.ndarray:
    """PSNR in dB of each image, capped at MAX_PSNR."""
    diff = restored.astype(np.float64) - clean.astype(np.float64)
    mse = np.mean(diff.reshape(len(diff), -1) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        value = 10 * np.log10(data_range**2 / mse)
    return np.minimum(value, MAX_PSNR)


def psnr(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0) -> float:
    """Mean PSNR (dB) over the images."""
    return float(np.mean(psnr_per_image(restored, clean, data_range)))


def ssim_per_image(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0
                   ) -> np.ndarray:
    """SSIM of each image (mean over channels and window positions)."""
    from numpy.lib.stride_tricks import sliding_window_view

    x, y = restored.astype(np.float64), clean.astype(np.float64)
    win = min(WINDOW, x.shape[2], x.shape[3])
    wx = sliding_window_view(x, (win, win), axis=(2, 3))  # (N, C, h, w, win, win)
    wy = sliding_window_view(y, (win, win), axis=(2, 3))
    n = win * win
    mx, my = wx.mean(axis=(-2, -1)), wy.mean(axis=(-2, -1))
    cov = n / (n - 1)
    vx = (wx**2).mean(axis=(-2, -1)) - mx**2
    vy = (wy**2).mean(axis=(-2, -1)) - my**2
    vxy = (wx * wy).mean(axis=(-2, -1)) - mx * my
    vx, vy, vxy = vx * cov, vy * cov, vxy * cov
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.reshape(len(s), -1).mean(axis=1)


def ssim(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM over the images."""
    return float(np.mean(ssim_per_image(restored, clean, data_range)))
