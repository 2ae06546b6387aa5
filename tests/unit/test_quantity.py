"""Kubernetes quantities: what is one, its exact value, and how a manifest carries it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mlctl.spec import quantity
from tests.unit.support import Cli, SpecFile


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", Decimal(2**30)),
        ("100Mi", Decimal(100 * 2**20)),
        ("1Ki", Decimal(1024)),
        ("1.5G", Decimal("1.5e9")),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("2", Decimal(2)),
        ("10k", Decimal(10000)),
        ("250u", Decimal("0.00025")),
        ("+1", Decimal(1)),
    ],
)
def test_quantity_is_read_to_its_exact_value(text: str, value: Decimal) -> None:
    assert quantity.parse(text) == value
    assert quantity.is_valid(text)


@pytest.mark.parametrize(
    "text", ["1 GB", "1GB", "1Gb", "1.2.3", "two", "1ki", "", " 1", "1 ", "0x10", "1e", "1Mi1", "\u0661"]
)
def test_malformed_quantity_is_refused_with_examples(text: str) -> None:
    with pytest.raises(quantity.QuantityError, match=r"is not a Kubernetes quantity \(examples: 500m"):
        quantity.parse(text)
    assert not quantity.is_valid(text)


@pytest.mark.parametrize("value", [None, True, False])
def test_null_and_booleans_are_not_quantities(value: object) -> None:
    assert not quantity.is_valid(value)


def test_numbers_written_without_quotes_are_quantities() -> None:
    assert quantity.parse(2) == 2
    assert quantity.parse(0.5) == Decimal("0.5")


def test_binary_and_decimal_suffixes_compare_by_value() -> None:
    assert quantity.parse("1Gi") > quantity.parse("1G")
    assert quantity.parse("1024Mi") == quantity.parse("1Gi")
    assert quantity.parse("1") == quantity.parse("1000m")


def test_manifest_keeps_ints_as_ints_and_text_as_written() -> None:
    assert quantity.to_manifest(1) == 1
    assert quantity.to_manifest("500m") == "500m"
    assert quantity.to_manifest("1e3") == "1e3"
    assert quantity.to_manifest(1.5) == "1.5"
    assert quantity.to_manifest(2.0) == "2"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "1e9999999", "2E-99999999999"])
def test_values_that_are_not_finite_or_out_of_range_are_refused(value: object) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse(value)


def test_a_spec_with_an_infinite_memory_limit_is_a_located_error(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(
        """
        kind: job
        metadata:
          name: h
        spec:
          image: x
          resources:
            limits:
              memory: 1e9999999
        """
    )

    result = cli("render", path)

    assert result.code == 3
    assert f"{path}:8:7: spec.resources.limits.memory:" in result.err
    assert "Infinity" not in result.out
