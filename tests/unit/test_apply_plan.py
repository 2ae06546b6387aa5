"""The pure parts of applying: digests, what a live object holds, what is settled, references."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlctl.cluster import apply
from mlctl.kube import labels


def config_map(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fn-code", "labels": {"app.kubernetes.io/managed-by": "mlctl"}},
        "data": data,
    }


def as_live(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server gives back: the object with server fields and defaults added."""
    live = copy.deepcopy(obj)
    live["metadata"].update({"namespace": "ns", "resourceVersion": "12", "uid": "u-1", "managedFields": []})
    live["metadata"]["annotations"]["added-by-someone"] = "x"
    return live


def test_a_stamp_is_a_digest_of_the_content_and_leaves_the_input_alone() -> None:
    obj = config_map(code="print(1)")
    original = copy.deepcopy(obj)

    stamped = apply.stamp([obj])[0]
    again = apply.stamp([config_map(code="print(1)")])[0]
    other = apply.stamp([config_map(code="print(2)")])[0]

    assert obj == original
    digest = stamped["metadata"]["annotations"][labels.APPLIED_DIGEST]
    assert len(digest) == 64
    assert again["metadata"]["annotations"][labels.APPLIED_DIGEST] == digest
    assert other["metadata"]["annotations"][labels.APPLIED_DIGEST] != digest


def test_secrets_are_not_stamped() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"key": "hunter2"}}
    assert apply.stamp([secret]) == [secret]


def test_a_live_copy_with_the_digest_and_every_value_is_settled() -> None:
    stamped = apply.stamp([config_map(code="print(1)")])[0]
    assert apply.settled(stamped, as_live(stamped))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda live: live["data"].update(code="edited by hand"), id="a value edited by hand"),
        pytest.param(lambda live: live["metadata"]["labels"].clear(), id="a label removed"),
        pytest.param(lambda live: live["metadata"]["annotations"].pop(labels.APPLIED_DIGEST), id="no digest"),
        pytest.param(
            lambda live: live["metadata"]["annotations"].update({labels.APPLIED_DIGEST: "0"}), id="another digest"
        ),
        pytest.param(lambda live: live.update(data={"code": 1}), id="a number for a string"),
    ],
)
def test_anything_else_is_not_settled(change: Any) -> None:
    stamped = apply.stamp([config_map(code="print(1)")])[0]
    live = as_live(stamped)
    change(live)
    assert not apply.settled(stamped, live)
    assert not apply.settled(stamped, None)
    assert not apply.settled(config_map(code="print(1)"), as_live({**stamped}))  # an object without a stamp


@pytest.mark.parametrize(
    ("live", "wanted", "held"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([{"name": "x", "default": 1}], [{"name": "x"}], True),
        ([{"name": "x"}, {"name": "y"}], [{"name": "x"}], False),  # a list keeps its length
        ([{"name": "y"}, {"name": "x"}], [{"name": "x"}, {"name": "y"}], False),  # and its order
        ({"replicas": 1}, {"replicas": 1.0}, False),
        ({"flag": 1}, {"flag": True}, False),
        ({"cpu": "500m"}, {"cpu": "0.5"}, False),  # defaulted differently: the full path decides
        ({"a": None}, {"a": None}, True),
        ({}, {"a": None}, False),
    ],
)
def test_holds_compares_maps_as_supersets_and_everything_else_exactly(live: Any, wanted: Any, held: bool) -> None:
    assert apply.holds(live, wanted) is held


def test_references_skip_what_the_same_apply_creates() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "run"},
        "spec": {
            "template": {
                "spec": {
                    "priorityClassName": "high",
                    "serviceAccountName": "trainer-sa",
                    "nodeSelector": {"b": "2", "a": "1"},
                    "volumes": [
                        {"name": "code", "configMap": {"name": "fn-code"}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "claim"}},
                        {"name": "opt", "secret": {"secretName": "maybe", "optional": True}},
                        {"name": "cred", "secret": {"secretName": "creds"}},
                    ],
                }
            }
        },
    }

    refs = apply.references([config_map(code="x"), job])

    assert refs == {
        "PriorityClass": {"high"},
        "ServiceAccount": {"trainer-sa"},
        "PersistentVolumeClaim": {"claim"},
        "ConfigMap": set(),
        "Secret": {"creds"},
        "nodeSelector": {"a=1,b=2"},
    }


def pod_with_password(password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x", "env": [{"name": "DB_PASSWORD", "value": password}]}]},
    }


def test_the_digest_does_not_let_a_guess_of_a_secret_value_be_checked() -> None:
    digests = {
        apply.stamp([pod_with_password(guess)])[0]["metadata"]["annotations"][labels.APPLIED_DIGEST]
        for guess in ("hunter2", "correct horse")
    }

    assert len(digests) == 1


def test_a_changed_secret_value_is_still_not_settled() -> None:
    stamped = apply.stamp([pod_with_password("new")])[0]
    live = as_live({**apply.stamp([pod_with_password("old")])[0]})

    assert not apply.settled(stamped, live)


def test_service_accounts_named_for_an_operators_pods_are_references_unless_applied_alongside() -> None:
    spark = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": "etl"},
        "spec": {"driver": {"serviceAccount": "spark-sa"}, "executor": {"serviceAccount": "spark-sa"}},
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "monitor"}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "monitor"},
        "spec": {"template": {"spec": {"serviceAccountName": "monitor"}}},
    }

    assert apply.references([spark])["ServiceAccount"] == {"spark-sa"}
    assert apply.references([account, deployment])["ServiceAccount"] == set()


def test_replicas_mlctl_set_before_are_handed_over_when_an_hpa_takes_the_count() -> None:
    wanted = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "predictor"}, "spec": {}}
    owned_by = [
        {"manager": "mlctl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}
    ]
    live = {
        "metadata": {"name": "predictor", "namespace": "ns", "managedFields": owned_by},
        "spec": {"replicas": 3},
    }

    handover = apply.replicas_handover(wanted, live)

    assert handover == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "predictor", "namespace": "ns"},
        "spec": {"replicas": 3},
    }
    scaled = {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    after_hpa = {**live, "metadata": {**live["metadata"], "managedFields": [scaled]}}
    assert apply.replicas_handover(wanted, after_hpa) is None
    assert apply.replicas_handover({**wanted, "spec": {"replicas": 2}}, live) is None  # a fixed count stays mlctl's
    assert apply.replicas_handover(wanted, None) is None  # created: the HPA raises it to its minimum
