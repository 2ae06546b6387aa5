"""Kubernetes resource quantities: parse, compare, normalise.

The grammar is Kubernetes' own (``resource.Quantity``): a signed decimal
number and an optional binary (Ki..Ei), decimal (n u m k M G T P E) or
exponent (e3, E-2) suffix. MLRun's looser check lets ``1.2.3`` through;
the API server would refuse it, so mlctl refuses it up front.

Spark memory is the exception: Spark reads ``spark.driver.memory`` and
``spark.executor.memory`` as JVM sizes, whose units (k, m, g, t, p, with an
optional b, any case) are binary, so ``4G`` there means 4 GiB, not 4e9 bytes.

``is_gpu`` is the one test of whether a resource name is a GPU.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_GPU_HINT = re.compile(r"gpu", re.IGNORECASE)

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_JVM_SIZE = re.compile(r"^(?P<number>[0-9]+)(?P<unit>[kmgtp])b?$", re.IGNORECASE)
_JVM_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


_MAX_EXPONENT = 64


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def parse(value: object) -> Decimal:
    """The exact numeric value of a quantity (``"1Gi"`` -> 1073741824, ``"500m"`` -> 0.5)."""
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, float) and not math.isfinite(value):
        raise QuantityError(f"{value} is not a quantity (a finite number is needed)")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value)
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(f"'{text}' is not a Kubernetes quantity (examples: 500m, 2, 1.5, 512Mi, 4Gi, 1e3)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"'{text}' is not a number") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E") and suffix not in _DECIMAL:
        exponent = int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:  # Kubernetes holds quantities far below this
            raise QuantityError(f"'{text}': the exponent is out of range (at most e{_MAX_EXPONENT})")
        return number * (Decimal(10) ** exponent)
    return number * _DECIMAL[suffix]


def is_valid(value: object) -> bool:
    try:
        parse(value)
    except QuantityError:
        return False
    return True


def to_manifest(value: object) -> str | int:
    """The value as a manifest carries it: ints stay ints, the rest is the text given."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        # plain digits: 1000.0 -> "1000", not normalize()'s "1E+3"
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


def jvm_size(value: object) -> tuple[int, str] | None:
    """``(number, unit)`` of a JVM size (``4G`` -> (4, 'g')), or None when ``value`` is not one."""
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    match = _JVM_SIZE.match(value.strip())
    return (int(match["number"]), match["unit"].lower()) if match else None


def parse_spark_memory(value: object) -> Decimal:
    """Bytes of a Spark memory amount: a JVM size (binary units), else a Kubernetes quantity."""
    size = jvm_size(value)
    if size is not None:
        return Decimal(size[0] * _JVM_UNITS[size[1]])
    try:
        return parse(value)
    except QuantityError:
        raise QuantityError(
            f"'{value}' is neither a JVM memory size (512m, 4g) nor a Kubernetes quantity (512Mi, 4Gi)"
        ) from None


def is_gpu(resource: str) -> bool:
    """Whether a resource name is a GPU (``nvidia.com/gpu``, ``amd.com/gpu``, ``gpu.intel.com/i915`` ...)."""
    return bool(_GPU_HINT.search(resource))
