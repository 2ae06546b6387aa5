"""Preemption modes as a pure function of the user's placement and the profile.

``apply(mode, placement, profile)`` returns the placement a pod gets:

- ``none``: untouched.
- ``allow``: the profile's tolerations are added (the user's first, no
  duplicates); nothing else changes.
- ``constrain``: tolerations added, and a preemptible node is required: the
  profile's labels become node-affinity ``In`` requirements (one per label,
  OR-ed, as MLRun does), AND-ed into each of the user's own required terms
  instead of replacing them.
- ``prevent``: the profile's tolerations are removed from the user's list,
  its label pairs from the node selector, and from the user's required
  node-affinity terms the expressions that demand a profile label
  (``k In [v]``; a term left with nothing is dropped); when the profile has
  no tolerations (so no taint keeps pods off spot nodes), ``NotIn``
  requirements for its labels are AND-ed into each remaining term. No term
  ever both requires and forbids a label.

With no profile configured every mode changes nothing. An empty
``nodeSelectorTerms`` list is never produced, not even from the user's own
affinity (MLRun writes one): Kubernetes rejects it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlctl.spec import validate

_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True)
class Placement:
    node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity: Mapping[str, Any] | None = None
    tolerations: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Profile:
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.node_selector or self.tolerations)


def apply(mode: str, placement: Placement, profile: Profile) -> Placement:
    if mode == "none" or not profile.configured:
        return Placement(placement.node_selector, _prune(placement.affinity), placement.tolerations)
    tolerations = list(placement.tolerations)
    selector = dict(placement.node_selector)
    affinity = copy.deepcopy(dict(placement.affinity)) if placement.affinity else None
    if mode in ("allow", "constrain"):
        tolerations += [t for t in profile.tolerations if not any(_same(t, u) for u in tolerations)]
    if mode == "constrain" and profile.node_selector:
        requirements = [[_expression(k, "In", v)] for k, v in profile.node_selector.items()]
        affinity = _and_into_terms(affinity, requirements)
    if mode == "prevent":
        tolerations = [t for t in tolerations if not any(_same(t, p) for p in profile.tolerations)]
        selector = {k: v for k, v in selector.items() if profile.node_selector.get(k) != v}
        affinity = without_spot_requirements(affinity, profile.node_selector)
        if not profile.tolerations and profile.node_selector:
            requirement = [_expression(k, "NotIn", v) for k, v in profile.node_selector.items()]
            affinity = _and_into_terms(affinity, [requirement])
    return Placement(selector, _prune(affinity), tuple(tolerations))


def without_spot_requirements(
    affinity: dict[str, Any] | None, profile_selector: Mapping[str, str]
) -> dict[str, Any] | None:
    """``affinity`` whose required terms no longer demand a spot label; emptied terms dropped."""
    if not affinity or not isinstance(affinity.get("nodeAffinity"), Mapping):
        return affinity
    node_affinity = dict(affinity["nodeAffinity"])
    required = node_affinity.get(_REQUIRED)
    if not isinstance(required, Mapping):
        return affinity
    terms = []
    for term in required.get("nodeSelectorTerms") or []:
        if not isinstance(term, Mapping):
            continue
        kept = [e for e in term.get("matchExpressions") or [] if not validate.demands_spot(e, profile_selector)]
        new = {k: v for k, v in term.items() if k != "matchExpressions"}
        if kept:
            new["matchExpressions"] = kept
        if any(new.values()):
            terms.append(new)
    node_affinity[_REQUIRED] = {**required, "nodeSelectorTerms": terms}
    return {**affinity, "nodeAffinity": node_affinity}


def _same(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Tolerations are the same when their set fields are (MLRun writes unset ones as null)."""
    return {k: v for k, v in one.items() if v is not None} == {k: v for k, v in other.items() if v is not None}


def _prune(affinity: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The affinity without an empty required-terms list (the API server rejects one)."""
    if not affinity:
        return None
    node_affinity = affinity.get("nodeAffinity")
    if not isinstance(node_affinity, Mapping):
        return affinity
    required = node_affinity.get(_REQUIRED)
    if not isinstance(required, Mapping) or required.get("nodeSelectorTerms"):
        return affinity
    pruned_node = {k: v for k, v in node_affinity.items() if k != _REQUIRED}
    pruned = {k: v for k, v in affinity.items() if k != "nodeAffinity"}
    if any(v for v in pruned_node.values()):
        pruned["nodeAffinity"] = pruned_node
    return pruned or None


def _expression(key: str, operator: str, value: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": [value]}


def _and_into_terms(affinity: dict[str, Any] | None, alternatives: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Require (any one of ``alternatives``) AND (any one of the existing terms).

    Terms are OR-ed and expressions inside a term AND-ed, so the result is
    the cross product: each user term extended by each alternative.
    """
    affinity = affinity or {}
    node_affinity = dict(affinity.get("nodeAffinity") or {})
    required = dict(node_affinity.get(_REQUIRED) or {})
    terms = [t for t in required.get("nodeSelectorTerms") or [] if t]
    if not terms:
        terms = [{}]
    combined = []
    for term in terms:
        for extra in alternatives:
            new = copy.deepcopy(term)
            expressions = list(new.get("matchExpressions") or [])
            expressions += [e for e in extra if e not in expressions]
            new["matchExpressions"] = expressions
            combined.append(new)
    required["nodeSelectorTerms"] = combined
    node_affinity[_REQUIRED] = required
    return {**affinity, "nodeAffinity": node_affinity}
