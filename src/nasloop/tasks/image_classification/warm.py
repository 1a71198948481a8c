"""Warming a pre-forked candidate process with trusted work, while it waits for its job.

A candidate's process is a fresh fork: the first run of training there faults in the pages
of every library function and Python object it touches (about 5,000-27,000 minor faults on
digits, measured in bench/sandbox_overhead.py) and is 10-30 % slower than the same run in a
process that has trained before. So each waiting process trains two small networks of
nasloop's own (never a candidate's code, never a seed file) on a few batches of the data it
holds, through the same `run_job` a candidate goes through: one LEMUR-form file (its own
`learn`, SGD, gradient clipping) and one bare-form file (nasloop's loop, cosine schedule),
covering the layers and operations candidates use most. That is the process's own state
from before any job: nothing crosses from one candidate to the next. The RNG state is kept,
so a candidate trains exactly as it would without the warm-up; and the job never waits for
it (see nasloop.sandbox.zygote: it stops when the job arrives).
"""

from __future__ import annotations

import dataclasses
import linecache
import sys
from typing import TYPE_CHECKING

from nasloop.tasks.image_classification.checks import CODE_NAME

if TYPE_CHECKING:
    from collections.abc import Callable

    from nasloop.data.split_files import CandidateData

WARM_SAMPLES = 64  # training and validation inputs per warm-up run (two batches of 32)
trained = 0  # warm-up networks trained in this process so far (what tests look at)

LEMUR_NET = '''
import torch
import torch.nn.functional as F
from torch import nn


def supported_hyperparameters():
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        c, side = in_shape[1], min(in_shape[2], in_shape[3])
        self.stem = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.BatchNorm2d(8),
                                  nn.ReLU(inplace=True))
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8),
                                    nn.LeakyReLU(0.1), nn.Conv2d(8, 8, 5, padding=2, groups=2),
                                    nn.GELU())
        self.down = nn.Sequential(nn.Conv2d(16, 16, 3, stride=2 if side >= 4 else 1, padding=1),
                                  nn.SiLU(), nn.Dropout2d(0.1))
        self.pools = side >= 8
        self.max_pool, self.avg_pool = nn.MaxPool2d(2), nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.Tanh(), nn.Dropout(0.2),
                                  nn.Linear(32, out_shape[0]))

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([x, self.branch(x) + x], dim=1)
        x = self.down(x)
        if self.pools:
            x = self.max_pool(x) + self.avg_pool(x)
        x = F.relu(x) * torch.sigmoid(x)
        return self.head(self.gap(x).view(x.size(0), -1, 1, 1))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"],
                                         momentum=prm["momentum"])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3.0)
            self.optimizer.step()
'''

BARE_NET = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_shape[1], 8, 3, padding=1), nn.BatchNorm2d(8),
                                  nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveMaxPool2d(2), nn.Flatten(),
                                  nn.Linear(32, out_shape[0]))

    def forward(self, x):
        return self.body(x)
'''


def preload() -> None:
    """Import what `warm_process` needs (in the worker, so that no waiting process does)."""
    from nasloop.tasks.image_classification import jobs, trainer  # noqa: F401


def warm_process(data: CandidateData, waiting: Callable[[], bool] = lambda: False) -> None:
    """Train the two warm-up networks for one epoch on `WARM_SAMPLES` of `data` in this
    process (CPU), each unless `waiting()`; leaves the RNG state and loaded modules as they
    were."""
    global trained
    import torch

    from nasloop.tasks.image_classification.jobs import eval_job
    from nasloop.tasks.image_classification.trainer import run_job

    n = WARM_SAMPLES
    few = dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n],
                              val_x=data.val_x[:n], test_x=data.test_x[:0])
    try:
        with torch.random.fork_rng(devices=[]):
            for code in (LEMUR_NET, BARE_NET):
                if waiting():
                    return
                if run_job(eval_job(code, epochs=1, max_params=10**9), few)["status"] == "ok":
                    trained += 1  # (not when the job's arrival cut it short)
    finally:
        sys.modules.pop("nasloop_candidate", None)
        linecache.cache.pop(CODE_NAME, None)
