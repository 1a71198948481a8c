"""The model graph (nasloop.sandbox.modelgraph): an honest export runs like the model and
is counted like it; a hostile graph is refused with one line, never run as code."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from nasloop.sandbox.classify import CandidateFailure
from nasloop.sandbox.modelgraph import (
    BadGraph,
    GraphProgram,
    export_graph,
    same_model,
)
from nasloop.sandbox.outputs import encode


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.unused = nn.Linear(5, 5)  # counted, as torch counts parameters
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def exported() -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model = Small().eval()
    model.bn.running_mean.uniform_(-1, 1)
    return model, json.loads(json.dumps(export_graph(model, torch.zeros(4, 1, 8, 8))))


def test_the_graph_predicts_what_the_model_does(exported) -> None:
    model, graph = exported
    program = GraphProgram.load(graph)
    x = torch.randn(3, 1, 8, 8)  # fewer than the graph's batch: padded, then cut
    with torch.no_grad():
        assert torch.equal(program.run(x), model(x))


def test_parameters_are_counted_from_the_graph_running_statistics_excepted(exported) -> None:
    model, graph = exported
    assert GraphProgram.load(graph).params == sum(p.numel() for p in model.parameters())


def test_a_weight_passed_as_running_statistics_elsewhere_still_counts(exported) -> None:
    _, graph = exported
    forged = copy.deepcopy(graph)
    norm = next(v for v in forged["values"] if "batch_norm" in v.get("op", ""))
    conv = next(v for v in forged["values"] if "convolution" in v.get("op", ""))
    norm["args"][3] = conv["args"][1]  # the conv weight, also fed in as running_mean
    orphan = 4  # the running mean it replaced, stored but used by nothing: counted too
    assert GraphProgram.load(forged).params == GraphProgram.load(graph).params + orphan


def test_a_branch_on_the_data_is_recorded_as_taken() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.abs().sum() == 0:  # torch.export and make_fx refuse this
                x = x + 1
            return self.fc(x)

    model = Branchy().eval()
    x = torch.randn(8, 4)
    program = GraphProgram.load(json.loads(json.dumps(export_graph(model, x))))
    with torch.no_grad():
        assert torch.equal(program.run(x), model(x))


def test_what_cannot_be_recorded_is_said_in_one_line() -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    with pytest.raises(CandidateFailure, match="returned tuple"):
        export_graph(Pair(), torch.zeros(2, 3))


def _with_node(graph: dict, node: object) -> dict:
    forged = copy.deepcopy(graph)
    forged["values"].append(node)
    return forged


@pytest.mark.parametrize(("node", "why"), [
    ({"op": "torch.load", "args": []}, "not allowed"),
    ({"op": "builtins.eval", "args": ["1"]}, "not allowed"),
    ({"op": "aten.from_file.default", "args": ["/etc/passwd"]}, "not allowed"),
    ({"op": "aten.no_such_op.default", "args": []}, "no ATen operator"),
    ({"op": "aten.relu.default", "args": [{"ref": 10_000}]}, "not a literal"),
    ({"op": "aten.relu.default", "args": [{"call": "os.system"}]}, "not a literal"),
    ({"op": "aten.to.dtype", "args": [{"ref": 0}, {"dtype": "__class__"}]}, "not a literal"),
    ({"op": "aten.relu.default", "args": {"x": 1}}, "malformed"),
    ("aten.relu.default", "not an input, a tensor or an operator call"),
    ({"input": True}, "2 inputs"),
    ({"op": "aten.relu.default", "args": [], "code": "x"}, "not an operator call"),
])
def test_hostile_nodes_are_refused(exported, node, why) -> None:
    _, graph = exported
    with pytest.raises(BadGraph, match=why):
        GraphProgram.load(_with_node(graph, node))


def test_stored_tensors_are_arrays_never_pickles(exported) -> None:
    import base64
    import pickle

    _, graph = exported
    forged = copy.deepcopy(graph)
    entry = next(e for e in forged["values"] if "tensor" in e)
    entry["tensor"] = base64.b64encode(pickle.dumps(object())).decode()
    with pytest.raises(BadGraph, match="stored tensor"):
        GraphProgram.load(forged)
    entry["tensor"] = encode(np.array(["a", "b"]))  # not numbers: refused
    with pytest.raises(BadGraph, match="stored tensor"):
        GraphProgram.load(forged)


@pytest.mark.parametrize("change", [
    {"format": 2}, {"batch": 0}, {"batch": 10**9}, {"shape": "big"}, {"values": []},
    {"values": [{"input": True}] * 60_000}, {"output": 3}, {"output": {"ref": 10**6}},
    {"unused_parameters": [[-1]]},
])
def test_malformed_graphs_are_refused_in_one_line(exported, change) -> None:
    _, graph = exported
    with pytest.raises(BadGraph) as err:
        GraphProgram.load({**graph, **change})
    assert "\n" not in str(err.value)


def test_a_graph_that_fails_to_run_says_which_operator(exported) -> None:
    _, graph = exported
    program = GraphProgram.load(graph)
    with pytest.raises(BadGraph, match="do not fit"):
        program.run(torch.zeros(2, 1, 9, 9))
    broken = copy.deepcopy(graph)
    conv = next(v for v in broken["values"] if "convolution" in v.get("op", ""))
    conv["args"][1] = 1.5  # a number for the weight
    with pytest.raises(BadGraph, match="convolution failed"):
        GraphProgram.load(broken).run(torch.zeros(2, 1, 8, 8))


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 1, 3, padding=1)).eval()


def test_two_recordings_of_one_model_at_two_sizes_are_the_same_model() -> None:
    net = _conv_net()
    small = export_graph(net, torch.rand(2, 1, 8, 8))
    large = export_graph(net, torch.rand(1, 1, 16, 16))
    same_model(small, large)  # sizes (whole numbers) may differ
    rewired = copy.deepcopy(large)
    last = rewired["values"][-1]
    last["args"][0] = {"ref": 0}  # the last conv fed the input: a layer skipped
    with pytest.raises(BadGraph, match="not of the same model"):
        same_model(small, rewired)
    other = copy.deepcopy(large)
    other["values"][1]["tensor"] = encode(np.zeros((4, 1, 3, 3), np.float32))
    with pytest.raises(BadGraph, match="not of the same model"):
        same_model(small, other)


def test_restoration_refuses_a_latency_recording_that_computes_less() -> None:
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.restoration.data import RestorationInputs
    from nasloop.tasks.restoration.graph_audit import audit_graphs
    from nasloop.tasks.restoration.runner import RUNNER
    from nasloop.tasks.restoration.settings import RestorationSettings

    net = _conv_net()
    data = RestorationInputs(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8),
                             torch.rand(5, 1, 8, 8), (1, 1, 8, 8))
    settings = RestorationSettings(latency_size=16)
    graphs = {"val": export_graph(net, torch.rand(2, 1, 8, 8)),
              "latency": export_graph(net, torch.rand(1, 1, 16, 16))}

    def audited(g: dict) -> dict:
        job = EvalJob(candidate_id=1, code=json.dumps(g), runner=RUNNER,
                      params=settings.model_dump())
        return audit_graphs(job, data)

    honest = audited(graphs)
    assert honest["status"] == "ok", honest
    assert honest["reported"]["params"] == sum(p.numel() for p in net.parameters())
    assert honest["reported"]["latency_ms"] > 0
    strided = copy.deepcopy(graphs)
    for value in strided["latency"]["values"]:
        if "convolution" in value.get("op", ""):
            value["args"][3] = [4, 4]  # stride 4 at the latency resolution only
            value["args"][4] = [0, 0]
    forged = audited(strided)
    assert (forged["status"], forged["failure_class"]) == ("failed", "bad-result"), forged


@pytest.mark.parametrize(("layers", "why"), [
    ([nn.Conv2d(1, 1, 3, padding=1), nn.ReLU()], None),
    ([nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2), nn.MaxPool2d(2)],
     "operator MaxPool2d"),
    ([nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid()], "operator sigmoid"),
    ([nn.Conv2d(1, 1, 5, padding=2)], "allowed kernels are 3x3"),
    ([nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(1, 1, 3, stride=2, padding=1)],
     "allowed upsample modes"),
])
def test_the_allow_list_is_checked_on_the_recorded_operators(layers, why) -> None:
    from nasloop.tasks.restoration.hardware import check_recorded
    from nasloop.tasks.restoration.settings import HardwareLimits

    graph = json.loads(json.dumps(export_graph(nn.Sequential(*layers).eval(),
                                               torch.rand(2, 1, 8, 8))))
    program = GraphProgram.load(graph)
    if why is None:
        check_recorded(graph, program.stored_shape, HardwareLimits())
    else:
        with pytest.raises(CandidateFailure, match=why):
            check_recorded(graph, program.stored_shape, HardwareLimits())
