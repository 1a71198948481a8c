"""The Mutation spec: frozen, hashable, JSON round-trip, stable description."""

from __future__ import annotations

import pydantic
import pytest

from nasloop.agents.mutation import Mutation, MutationError


def test_describe_and_json_round_trip() -> None:
    mutation = Mutation(op="widen", layer="conv2", args={"factor": 2.0})
    assert mutation.describe() == "widen(layer=conv2, factor=2)"
    assert Mutation(op="activation", args={"kind": "GELU"}).describe() == "activation(kind=GELU)"
    again = Mutation.model_validate_json(mutation.model_dump_json())
    assert again == mutation and hash(again) == hash(mutation)
    assert Mutation.model_validate(mutation.model_dump()) == mutation


def test_frozen_and_strict() -> None:
    mutation = Mutation(op="kernel", layer="conv1", args={"size": 5})
    with pytest.raises(pydantic.ValidationError):
        mutation.op = "widen"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        Mutation(op="kernel", colour="red")  # type: ignore[call-arg]


def test_error_reason_is_one_line() -> None:
    err = MutationError("first line\nsecond line")
    assert err.reason == "first line"
