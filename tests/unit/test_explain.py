"""Why a run is stuck: the pure explanation over pods, events, nodes and the namespace's objects."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from mlctl.kube import labels
from mlctl.runs import explain
from mlctl.spec import state_thresholds

SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
SPOT_TAINT = {"key": "node-lifecycle", "value": "spot", "effect": "NoSchedule"}
GI = 2**30


def node(name: str, cpu: str = "8", memory: str = "32Gi", gpus: int = 0, *, spot: bool = False) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
        labels["accelerator"] = "nvidia"
    if spot:
        labels["node-lifecycle"] = "spot"
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": [SPOT_TAINT]} if spot else {},
        "status": {"allocatable": allocatable},
    }


# the integration testbed's nodes
NODES = [
    node("cpu-1"),
    node("cpu-2"),
    node("spot-1", spot=True),
    node("spot-2", spot=True),
    node("gpu-1", cpu="16", memory="64Gi", gpus=4),
]


def pending_pod(
    name: str = "trainer-abc12-x",
    *,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    affinity: dict[str, Any] | None = None,
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {"name": "base", "image": "python:3.12", "resources": {"requests": requests or {}, "limits": limits or {}}}
        ]
    }
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if volumes:
        spec["volumes"] = volumes
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec,
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/5 nodes"}
            ],
        },
    }


def bound(node_name: str, **requests: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"busy-{node_name}"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "resources": {"requests": requests}}]},
        "status": {"phase": "Running"},
    }


def facts(*pods: dict[str, Any], busy: list[dict[str, Any]] | None = None, **kwargs: Any) -> explain.Facts:
    defaults: dict[str, Any] = {
        "run_id": "abc12",
        "namespace": "ml",
        "pods": list(pods),
        "nodes": NODES,
        "node_requests": explain.requested_on_nodes(busy or []),
        "claims": [],
        "spec_file": "train.yaml",
        "profile_selector": {"node-lifecycle": "spot"},
        "profile_tolerations": (SPOT_TOLERATION,),
    }
    defaults.update(kwargs)
    return explain.Facts(**defaults)


def only(explanation: explain.Explanation, reason: str) -> explain.Blocker:
    found = [b for b in explanation.blockers if b.reason == reason]
    assert len(found) == 1, [b.to_json() for b in explanation.blockers]
    return found[0]


def reasons(explanation: explain.Explanation) -> set[str]:
    return {b.reason for b in explanation.blockers}


# --- resources -------------------------------------------------------------------------


def test_more_gpus_than_the_largest_node_names_it_and_suggests_the_largest_count() -> None:
    result = explain.explain(facts(pending_pod(limits={"nvidia.com/gpu": "8"})))
    blocker = only(result, explain.TOO_LARGE)
    assert blocker.message == "needs nvidia.com/gpu: 8; the largest node (gpu-1) has 4"
    assert blocker.suggestion == "mlctl set-resources train.yaml --limits gpus=4 --patch"
    assert blocker.never_fits
    assert blocker.pods == ("trainer-abc12-x",)


def test_memory_short_everywhere_names_the_most_free_and_lowers_the_request_to_it() -> None:
    busy = [bound("gpu-1", memory="34Gi"), bound("cpu-1", memory="10Gi"), bound("cpu-2", memory="10Gi")]
    result = explain.explain(facts(pending_pod(requests={"memory": "64Gi"}), busy=busy))
    blocker = only(result, explain.INSUFFICIENT)
    assert blocker.message == "insufficient memory: needs 64Gi, the most free on a node is 30Gi (gpu-1)"
    assert blocker.suggestion == "mlctl set-resources train.yaml --requests memory=30Gi --patch"
    assert not blocker.never_fits  # gpu-1 would hold it once it is free


def test_a_resource_no_node_has_is_never_fitting_and_gets_no_suggestion() -> None:
    result = explain.explain(facts(pending_pod(limits={"amd.com/gpu": "1"})))
    blocker = only(result, explain.TOO_LARGE)
    assert "no node the pod may use has any" in blocker.message
    assert "no node could ever fit it as it is" in blocker.message
    assert blocker.never_fits and blocker.suggestion == ""


def test_gpus_taken_by_other_pods_get_no_suggestion_to_ask_for_none() -> None:
    busy = [bound("gpu-1", **{"nvidia.com/gpu": "4"})]
    result = explain.explain(facts(pending_pod(limits={"nvidia.com/gpu": "2"}), busy=busy))
    blocker = only(result, explain.INSUFFICIENT)
    assert blocker.message == "insufficient nvidia.com/gpu: needs 2, the most free on a node is 0 (gpu-1)"
    assert blocker.suggestion == ""


def test_the_suggestion_without_a_spec_file_names_a_placeholder() -> None:
    result = explain.explain(facts(pending_pod(limits={"nvidia.com/gpu": "8"}), spec_file=""))
    assert only(result, explain.TOO_LARGE).suggestion == "mlctl set-resources FILE --limits gpus=4 --patch"


def test_requests_count_the_largest_init_container_and_the_overhead() -> None:
    spec = {
        "containers": [
            {"resources": {"requests": {"cpu": "1"}}},
            {"resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}},
        ],
        "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
        "overhead": {"cpu": "100m"},
    }
    assert explain.requests(spec) == {"cpu": Decimal("2.1"), "memory": Decimal(GI), "pods": Decimal(1)}


# --- taints, selectors, affinity -------------------------------------------------------


def test_spot_taints_under_prevent_suggest_allow_when_spot_nodes_would_fit() -> None:
    busy = [bound(n, cpu="7") for n in ("cpu-1", "cpu-2")] + [bound("gpu-1", cpu="15")]
    result = explain.explain(facts(pending_pod(requests={"cpu": "4"}), busy=busy))
    blocker = only(result, explain.TAINT)
    assert blocker.message == (
        "2 spot nodes (spot-1, spot-2) have taint node-lifecycle=spot:NoSchedule that the pod does not tolerate "
        "(preemption mode prevent)"
    )
    assert blocker.suggestion == "mlctl set-preemption train.yaml allow"
    assert explain.INSUFFICIENT in reasons(result)


def test_spot_taints_are_not_blamed_when_spot_nodes_are_too_small_too() -> None:
    result = explain.explain(facts(pending_pod(requests={"cpu": "20"})))
    assert reasons(result) == {explain.TOO_LARGE}
    assert only(result, explain.TOO_LARGE).message == "needs cpu: 20; the largest node (gpu-1) has 16"


def test_only_spot_nodes_left_and_too_small_says_tolerating_would_not_help() -> None:
    pod = pending_pod(requests={"cpu": "12"}, selector={"node-lifecycle": "spot"})
    result = explain.explain(facts(pod))
    blocker = only(result, explain.TAINT)
    assert blocker.message.endswith("(preemption mode prevent); tolerating it would not help: they lack room too")
    assert blocker.suggestion == ""
    assert only(result, explain.TOO_LARGE).message.startswith("needs cpu: 12; the largest node (spot-1) has 8")
    assert only(result, explain.TOO_LARGE).suggestion == ""


def test_a_pod_that_tolerates_spot_is_not_blocked_by_the_spot_taint() -> None:
    pod = pending_pod(requests={"cpu": "20"}, tolerations=[SPOT_TOLERATION])
    result = explain.explain(facts(pod))
    assert reasons(result) == {explain.TOO_LARGE}
    assert only(result, explain.TOO_LARGE).suggestion == "mlctl set-resources train.yaml --requests cpu=16 --patch"


def test_a_node_selector_matching_no_node_never_fits() -> None:
    result = explain.explain(facts(pending_pod(selector={"accelerator": "a100"})))
    blocker = only(result, explain.SELECTOR)
    assert blocker.message == "node selector accelerator=a100 matches no node"
    assert blocker.never_fits and not blocker.suggestion
    assert explain.TAINT not in reasons(result)  # taints are said of nodes the pod may use only


def test_selector_pairs_that_match_apart_but_not_together() -> None:
    pod = pending_pod(selector={"accelerator": "nvidia", "node-lifecycle": "spot"})
    blocker = only(explain.explain(facts(pod)), explain.SELECTOR)
    assert blocker.message == "node selector accelerator=nvidia, node-lifecycle=spot matches no node (together)"


def test_required_affinity_matching_no_node_names_the_preemption_mode() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}
                ]
            }
        }
    }
    pod = pending_pod(requests={"cpu": "1"}, tolerations=[SPOT_TOLERATION], affinity=affinity, selector={"a": "b"})
    blocker = only(explain.explain(facts(pod)), explain.SELECTOR)
    assert blocker.never_fits
    pod = pending_pod(requests={"cpu": "1"}, affinity=affinity, selector={"accelerator": "nvidia"})
    blocker = only(explain.explain(facts(pod)), explain.AFFINITY)
    assert blocker.message == (
        "the required node affinity matches no node (preemption mode prevent) that also matches the node selector"
    )


def test_constrain_on_spot_nodes_too_small_says_the_mode() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}
                ]
            }
        }
    }
    pod = pending_pod(requests={"cpu": "12"}, tolerations=[SPOT_TOLERATION], affinity=affinity)
    result = explain.explain(facts(pod))
    blocker = only(result, explain.TOO_LARGE)
    assert blocker.message == "needs cpu: 12; the largest node (spot-1) has 8"
    assert blocker.suggestion == "mlctl set-resources train.yaml --requests cpu=8 --patch"
    assert not blocker.never_fits  # gpu-1 has 16, but only once the pod may leave spot nodes


def test_a_node_with_room_now_says_the_scheduler_may_retry() -> None:
    result = explain.explain(facts(pending_pod(requests={"cpu": "1"})))
    assert "a node has room now" in only(result, explain.UNSCHEDULABLE).message


def test_without_nodes_the_schedulers_own_message_is_used_and_the_gap_said() -> None:
    event = {
        "involvedObject": {"kind": "Pod", "name": "trainer-abc12-x"},
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": "0/5 nodes are available: 1 Insufficient nvidia.com/gpu.",
    }
    result = explain.explain(
        facts(
            pending_pod(limits={"nvidia.com/gpu": "8"}),
            nodes=None,
            node_requests=None,
            events=[event],
            unreadable=("nodes (forbidden)",),
        )
    )
    blocker = only(result, explain.UNSCHEDULABLE)
    assert blocker.message == "the scheduler says: 0/5 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert result.unreadable == ("nodes (forbidden)",)
    assert "  could not read nodes (forbidden)" in explain.lines(result)


# --- the namespace's objects -----------------------------------------------------------


def test_a_missing_claim_is_named_and_not_blamed_on_nodes() -> None:
    pod = pending_pod(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-claim"}}])
    event = {
        "involvedObject": {"kind": "Pod", "name": "trainer-abc12-x"},
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": '0/5 nodes are available: persistentvolumeclaim "data-claim" not found.',
    }
    result = explain.explain(facts(pod, events=[event], claims=["other"]))
    assert reasons(result) == {explain.MISSING_PVC}
    assert only(result, explain.MISSING_PVC).message.startswith("volume claim (PVC) data-claim does not exist")


def test_a_missing_claim_is_found_from_events_when_claims_cannot_be_read() -> None:
    pod = pending_pod(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-claim"}}])
    event = {
        "involvedObject": {"kind": "Pod", "name": "trainer-abc12-x"},
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": '0/5 nodes are available: persistentvolumeclaim "data-claim" not found.',
    }
    result = explain.explain(facts(pod, events=[event], claims=None))
    assert explain.MISSING_PVC in reasons(result)


def job_event(message: str) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Job", "name": "trainer-abc12"},
        "type": "Warning",
        "reason": "FailedCreate",
        "message": message,
    }


def test_an_exceeded_quota_says_what_was_asked_used_and_allowed() -> None:
    said = (
        'Error creating: pods "trainer-abc12-x" is forbidden: exceeded quota: small, '
        "requested: requests.cpu=4, used: requests.cpu=0, limited: requests.cpu=2"
    )
    result = explain.explain(facts(events=[job_event(said)]))
    blocker = only(result, explain.QUOTA)
    assert blocker.message == (
        "resource quota small refuses the pod: it requests requests.cpu=4; requests.cpu=0 is used of requests.cpu=2"
    )
    assert explain.NO_PODS not in reasons(result)


def test_a_missing_service_account_from_the_event_or_the_template() -> None:
    said = (
        'Error creating: pods "trainer-abc12-x" is forbidden: error looking up service account ml/robot: '
        'serviceaccount "robot" not found'
    )
    blocker = only(explain.explain(facts(events=[job_event(said)])), explain.MISSING_SERVICE_ACCOUNT)
    assert blocker.message == "service account robot does not exist in namespace ml; no pod can be created"
    result = explain.explain(facts(templates=[{"serviceAccountName": "robot"}], service_accounts=["default"]))
    assert only(result, explain.MISSING_SERVICE_ACCOUNT).message == blocker.message


def test_an_unknown_priority_class_lists_the_known_ones() -> None:
    said = 'Error creating: pods "x" is forbidden: no PriorityClass with name urgent was found'
    result = explain.explain(facts(events=[job_event(said)], priority_classes=["high", "low"]))
    blocker = only(result, explain.UNKNOWN_PRIORITY_CLASS)
    assert blocker.message == "priority class urgent does not exist (the cluster has high, low); no pod can be created"
    result = explain.explain(facts(templates=[{"priorityClassName": "urgent"}], priority_classes=["high"]))
    assert only(result, explain.UNKNOWN_PRIORITY_CLASS).suggestion == "mlctl set-priority train.yaml high"


def test_any_other_refusal_to_create_is_passed_on() -> None:
    result = explain.explain(facts(events=[job_event("Error creating: admission webhook denied the request")]))
    assert only(result, explain.CREATE_FAILED).message.endswith("admission webhook denied the request")


def test_a_run_without_pods_or_events_says_so() -> None:
    result = explain.explain(facts())
    assert only(result, explain.NO_PODS).message == "run abc12 has no pod, and no event says why"
    assert result.state == "no pods"


# --- containers ------------------------------------------------------------------------


def started_pod(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "trainer-abc12-x"},
        "spec": {"nodeName": "cpu-1", "containers": [{"name": "base"}], **spec},
        "status": status,
    }


def test_an_image_pull_failure_gives_the_image_the_kubelets_words_and_the_pull_secret() -> None:
    pod = started_pod(
        {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "base",
                    "image": "registry.example/private/trainer:1",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}},
                }
            ],
        },
        imagePullSecrets=[{"name": "regcred"}],
    )
    event = {
        "involvedObject": {"kind": "Pod", "name": "trainer-abc12-x"},
        "type": "Warning",
        "reason": "Failed",
        "message": 'Failed to pull image "registry.example/private/trainer:1": unauthorized: authentication required',
    }
    result = explain.explain(facts(pod, events=[event]))
    blocker = only(result, explain.IMAGE_PULL)
    assert blocker.message == (
        "cannot pull image registry.example/private/trainer:1 of container base (ImagePullBackOff): "
        'Failed to pull image "registry.example/private/trainer:1": unauthorized: authentication required; '
        "pull secrets used: regcred"
    )
    assert result.state == "image_pull_backoff"


def test_an_image_pull_failure_without_events_uses_the_waiting_message() -> None:
    pod = started_pod(
        {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "base", "image": "nope:1", "state": {"waiting": {"reason": "ErrImagePull", "message": "m"}}}
            ],
        }
    )
    blocker = only(explain.explain(facts(pod)), explain.IMAGE_PULL)
    assert blocker.message.endswith("(ErrImagePull): m; pull secrets used: none")


def test_a_crash_loop_gives_the_last_exit_the_handlers_error_and_log_lines() -> None:
    pod = started_pod(
        {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "base",
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "message": json.dumps({"error": "ValueError: bad input"}),
                        }
                    },
                }
            ],
        }
    )
    result = explain.explain(facts(pod, logs={"trainer-abc12-x": ["loading", "ValueError: bad input"]}))
    blocker = only(result, explain.CRASH_LOOP)
    assert blocker.message == (
        "container base keeps crashing (restarted 3 times): exit code 1, reason Error; "
        "the handler's error: ValueError: bad input"
    )
    assert blocker.details == ("loading", "ValueError: bad input")
    assert "    | ValueError: bad input" in explain.lines(result)


def test_a_failed_pod_gives_its_exit_code_and_reason() -> None:
    pod = started_pod(
        {
            "phase": "Failed",
            "containerStatuses": [{"name": "base", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}],
        }
    )
    blocker = only(explain.explain(facts(pod)), explain.FAILED)
    assert blocker.message == "container base failed: exit code 137, reason OOMKilled"


def test_a_failed_pod_without_container_status_gives_the_pods_reason() -> None:
    pod = started_pod({"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."})
    blocker = only(explain.explain(facts(pod)), explain.FAILED)
    assert blocker.message == "pod trainer-abc12-x failed: Evicted: The node was low on memory."


def test_other_warnings_on_a_pod_are_passed_on() -> None:
    pod = started_pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]})
    event = {
        "involvedObject": {"kind": "Pod", "name": "trainer-abc12-x"},
        "type": "Warning",
        "reason": "FailedMount",
        "message": 'configmap "code" not found',
    }
    blocker = only(explain.explain(facts(pod, events=[event])), explain.WARNING)
    assert blocker.message == 'FailedMount: configmap "code" not found'


# --- many pods, output, hooks ----------------------------------------------------------


def test_identical_workers_are_said_once_naming_every_pod() -> None:
    pods = [pending_pod(f"w-{i}", limits={"nvidia.com/gpu": "8"}) for i in range(5)]
    result = explain.explain(facts(*pods))
    blocker = only(result, explain.TOO_LARGE)
    assert blocker.pods == tuple(f"w-{i}" for i in range(5))
    assert "[w-0, w-1, w-2 and 2 more]" in explain.lines(result)[1]


def test_the_text_and_json_forms() -> None:
    result = explain.explain(facts(pending_pod(limits={"nvidia.com/gpu": "8"})))
    text = explain.lines(result)
    assert text[0] == "run abc12 (namespace ml): pending_not_scheduled"
    assert "    no node in the cluster could ever fit the pod as it is" in text
    assert "    to change it: mlctl set-resources train.yaml --limits gpus=4 --patch" in text
    data = result.to_json()
    assert [b["reason"] for b in data["blockers"]] == [explain.TOO_LARGE]
    assert json.loads(explain.record_text(result)) == data["blockers"]


def test_mlctl_run_explains_after_30s_or_half_the_nearest_pending_limit() -> None:
    assert explain.pending_delay(state_thresholds.effective({})) == 30.0
    assert explain.pending_delay(state_thresholds.effective({"pending_not_scheduled": "10s"})) == 5.0
    assert explain.pending_delay(state_thresholds.effective({"image_pull_backoff": "1s"})) == 1.0


def test_a_runs_record_carries_the_explanation_kept_at_abort() -> None:
    from mlctl.runs import states

    result = explain.explain(facts(pending_pod(limits={"nvidia.com/gpu": "8"})))
    job = {
        "metadata": {
            "namespace": "ml",
            "labels": {labels.RUN_ID: "abc12"},
            "annotations": {labels.STATE: "aborted", labels.EXPLANATION: explain.record_text(result)},
        }
    }
    record = states.run_record(job, [])
    assert record.to_json()["explanation"] == [b.to_json() for b in result.blockers]
    job["metadata"]["annotations"][labels.EXPLANATION] = "not json"
    assert states.run_record(job, []).explanation == ()
