"""Preemption modes: a pure function of the mode, the user's placement and the profile."""

from __future__ import annotations

from typing import Any

import pytest

from mlctl.render import preemption

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
USER_TOLERATION = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
PROFILE = preemption.Profile({"node-lifecycle": "spot"}, (SPOT_TOLERATION,))
LABELS_ONLY = preemption.Profile({"node-lifecycle": "spot"})
TWO_LABELS = preemption.Profile({"node-lifecycle": "spot", "pool": "preemptible"})
NO_PROFILE = preemption.Profile()


def expr(key: str, operator: str, value: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": [value]}


def affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}}


def terms_of(place: preemption.Placement) -> list[list[dict[str, Any]]]:
    assert place.affinity is not None
    return [t["matchExpressions"] for t in place.affinity["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]]


USER = preemption.Placement(
    node_selector={"zone": "a", "node-lifecycle": "spot"},
    affinity=affinity([expr("arch", "In", "amd64")]),
    tolerations=(USER_TOLERATION, SPOT_TOLERATION),
)


# --- none -------------------------------------------------------------------------------


def test_none_passes_the_users_placement_through_untouched() -> None:
    assert preemption.apply("none", USER, PROFILE) == USER


# --- no profile ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["none", "allow", "constrain", "prevent"])
def test_without_a_profile_every_mode_changes_nothing(mode: str) -> None:
    assert preemption.apply(mode, USER, NO_PROFILE) == USER


# --- allow --------------------------------------------------------------------------------


def test_allow_adds_the_profile_tolerations_after_the_users() -> None:
    place = preemption.apply("allow", preemption.Placement(tolerations=(USER_TOLERATION,)), PROFILE)

    assert place.tolerations == (USER_TOLERATION, SPOT_TOLERATION)
    assert place.affinity is None
    assert dict(place.node_selector) == {}


def test_allow_adds_no_duplicate_even_when_mlrun_wrote_unset_fields_as_null() -> None:
    written_by_mlrun = {**SPOT_TOLERATION, "tolerationSeconds": None}

    place = preemption.apply("allow", preemption.Placement(tolerations=(written_by_mlrun,)), PROFILE)

    assert place.tolerations == (written_by_mlrun,)


def test_allow_changes_nothing_but_tolerations() -> None:
    place = preemption.apply("allow", USER, PROFILE)

    assert place.node_selector == USER.node_selector
    assert place.affinity == USER.affinity
    assert place.tolerations == USER.tolerations  # the spot toleration was there already


# --- constrain ------------------------------------------------------------------------------


def test_constrain_adds_tolerations_and_requires_a_preemptible_node() -> None:
    place = preemption.apply("constrain", preemption.Placement(), PROFILE)

    assert place.tolerations == (SPOT_TOLERATION,)
    assert terms_of(place) == [[expr("node-lifecycle", "In", "spot")]]


def test_constrain_ors_over_the_profile_labels() -> None:
    place = preemption.apply("constrain", preemption.Placement(), TWO_LABELS)

    assert terms_of(place) == [[expr("node-lifecycle", "In", "spot")], [expr("pool", "In", "preemptible")]]


def test_constrain_keeps_the_users_required_terms_and_ands_the_requirement_into_each() -> None:
    user = preemption.Placement(affinity=affinity([expr("arch", "In", "amd64")], [expr("arch", "In", "arm64")]))

    place = preemption.apply("constrain", user, LABELS_ONLY)

    assert terms_of(place) == [
        [expr("arch", "In", "amd64"), expr("node-lifecycle", "In", "spot")],
        [expr("arch", "In", "arm64"), expr("node-lifecycle", "In", "spot")],
    ]


def test_constrain_with_two_labels_and_two_user_terms_gives_every_combination() -> None:
    user = preemption.Placement(affinity=affinity([expr("arch", "In", "amd64")], [expr("arch", "In", "arm64")]))

    place = preemption.apply("constrain", user, TWO_LABELS)

    assert len(terms_of(place)) == 4
    assert [expr("arch", "In", "arm64"), expr("pool", "In", "preemptible")] in terms_of(place)


def test_constrain_keeps_other_affinity_parts() -> None:
    preferred = [{"weight": 1, "preference": {"matchExpressions": [expr("disk", "In", "ssd")]}}]
    pod_anti = {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname"}]}
    user = preemption.Placement(
        affinity={
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred},
            "podAntiAffinity": pod_anti,
        }
    )

    place = preemption.apply("constrain", user, LABELS_ONLY)

    assert place.affinity is not None
    assert place.affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert place.affinity["podAntiAffinity"] == pod_anti
    assert terms_of(place) == [[expr("node-lifecycle", "In", "spot")]]


def test_constrain_does_not_repeat_an_expression_the_user_wrote() -> None:
    user = preemption.Placement(affinity=affinity([expr("node-lifecycle", "In", "spot")]))

    assert terms_of(preemption.apply("constrain", user, LABELS_ONLY)) == [[expr("node-lifecycle", "In", "spot")]]


def test_constrain_with_tolerations_only_adds_them_and_no_affinity() -> None:
    place = preemption.apply("constrain", preemption.Placement(), preemption.Profile({}, (SPOT_TOLERATION,)))

    assert place.tolerations == (SPOT_TOLERATION,)
    assert place.affinity is None


# --- prevent ----------------------------------------------------------------------------------


def test_prevent_removes_spot_toleration_and_the_profile_selector_pair() -> None:
    place = preemption.apply("prevent", USER, PROFILE)

    assert place.tolerations == (USER_TOLERATION,)
    assert dict(place.node_selector) == {"zone": "a"}


def test_prevent_with_profile_tolerations_adds_no_affinity() -> None:
    place = preemption.apply("prevent", preemption.Placement(), PROFILE)

    assert place.affinity is None


def test_prevent_keeps_a_selector_pair_with_another_value() -> None:
    user = preemption.Placement(node_selector={"node-lifecycle": "on-demand"})

    assert dict(preemption.apply("prevent", user, PROFILE).node_selector) == {"node-lifecycle": "on-demand"}


def test_prevent_without_profile_tolerations_requires_a_non_preemptible_node() -> None:
    place = preemption.apply("prevent", preemption.Placement(), TWO_LABELS)

    # one term: every label NotIn, AND-ed
    assert terms_of(place) == [[expr("node-lifecycle", "NotIn", "spot"), expr("pool", "NotIn", "preemptible")]]


def test_prevent_ands_the_anti_requirement_into_each_user_term() -> None:
    user = preemption.Placement(affinity=affinity([expr("arch", "In", "amd64")], [expr("arch", "In", "arm64")]))

    place = preemption.apply("prevent", user, LABELS_ONLY)

    assert terms_of(place) == [
        [expr("arch", "In", "amd64"), expr("node-lifecycle", "NotIn", "spot")],
        [expr("arch", "In", "arm64"), expr("node-lifecycle", "NotIn", "spot")],
    ]


def test_prevent_keeps_the_users_match_fields() -> None:
    user = preemption.Placement(
        affinity={
            "nodeAffinity": {
                REQUIRED: {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
                    ]
                }
            }
        }
    )

    place = preemption.apply("prevent", user, LABELS_ONLY)

    assert place.affinity is not None
    (term,) = place.affinity["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]
    assert term["matchExpressions"] == [expr("node-lifecycle", "NotIn", "spot")]


# --- never an empty nodeSelectorTerms list ------------------------------------------------------


@pytest.mark.parametrize("mode", ["none", "allow", "constrain", "prevent"])
@pytest.mark.parametrize("profile", [PROFILE, LABELS_ONLY, NO_PROFILE])
def test_never_an_empty_node_selector_terms_list(mode: str, profile: preemption.Profile) -> None:
    user = preemption.Placement(affinity={"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": []}}})

    place = preemption.apply(mode, user, profile)

    if place.affinity is not None:
        assert place.affinity["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]


def test_the_users_input_is_not_changed() -> None:
    user_affinity = affinity([expr("arch", "In", "amd64")])
    user = preemption.Placement(affinity=user_affinity)

    preemption.apply("constrain", user, LABELS_ONLY)

    assert user_affinity == affinity([expr("arch", "In", "amd64")])
