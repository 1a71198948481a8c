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

An auditor's waiting process (nasloop.sandbox.audit) is warmed for its own work: it audits
a graph of one warm-up network, untrained, recorded once in the worker (`warm_auditor`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from nasloop.tasks.image_classification.checks import unload_module

if TYPE_CHECKING:
    from collections.abc import Callable

    from nasloop.data.split_files import CandidateData

WARM_SAMPLES = 64  # training and validation inputs per warm-up run (two batches of 32)
trained = 0  # warm-up networks trained in this process so far (what tests look at)
audited = 0  # warm-up networks audited in this process so far (warm_auditor)

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


AUDIT_WARM_SHAPE = (1, 8, 8)  # the auditor's warm-up graph's inputs: any shape warms the path
AUDIT_WARM_CLASSES = 10
_audit_warm_up: tuple[str, CandidateData] | None = None  # (audit job JSON, its inputs)


def prepare_audit_warm_up() -> None:
    """Record the auditor's warm-up graph once, in the worker (`preload`): LEMUR_NET,
    untrained, on random inputs of `AUDIT_WARM_SHAPE`. Waiting auditor processes inherit it
    and only audit it (`warm_auditor`): an auditor never records, so neither does its
    warm-up. Leaves the RNG state and loaded modules as they were."""
    global _audit_warm_up
    import torch

    from nasloop.data.split_files import CandidateData
    from nasloop.sandbox import audit, modelgraph
    from nasloop.tasks.image_classification.checks import build_model, load_module
    from nasloop.tasks.image_classification.jobs import eval_job
    from nasloop.tasks.image_classification.trainer import GRAPH_BATCH, logits_only

    shape = (GRAPH_BATCH, *AUDIT_WARM_SHAPE)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model(load_module(LEMUR_NET), "lemur", LEMUR_NET, shape,
                                AUDIT_WARM_CLASSES, {}, "cpu").eval()
            x = torch.randn(shape)
            graph = modelgraph.export_graph(logits_only(model), x)
    finally:
        unload_module()
    job = audit.audit_job(eval_job(LEMUR_NET, epochs=1), graph).model_dump_json()
    empty = x[:0]  # an auditor reads only the validation inputs
    _audit_warm_up = (job, CandidateData("audit warm-up", empty, torch.zeros(0, dtype=torch.long),
                                         x, empty, shape, AUDIT_WARM_CLASSES))


def warm_auditor(waiting: Callable[[], bool] = lambda: False) -> None:
    """Audit the warm-up graph (`prepare_audit_warm_up`) as an auditor's process audits a
    candidate's: the job read, the graph rebuilt, predicted with and counted by
    graph_audit.audit_graph. A waiting auditor's process does this (nasloop.sandbox.zygote)
    unless `waiting()`, so that the pages and lazily made state the audit path touches are
    its own before the candidate's graph arrives."""
    global audited
    if _audit_warm_up is None or waiting():
        return
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.image_classification.graph_audit import audit_graph

    raw, inputs = _audit_warm_up
    if audit_graph(EvalJob.model_validate_json(raw), inputs, predict_test=False)["status"] == "ok":
        audited += 1


def preload() -> None:
    """Import what `warm_process` needs and record the auditor's warm-up graph (in the
    worker, so that no waiting process does)."""
    from nasloop.tasks.image_classification import jobs, trainer  # noqa: F401

    prepare_audit_warm_up()


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
        unload_module()
