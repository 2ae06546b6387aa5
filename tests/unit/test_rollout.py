"""``deploy --wait`` judges a Deployment's rollout as ``kubectl rollout status`` does."""

from __future__ import annotations

from typing import Any

import pytest

from mlctl import errors
from mlctl.cluster import ready


def deployment(generation: int = 2, replicas: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "predictor", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": generation, **status},
    }


def test_old_replicas_still_available_do_not_make_a_new_rollout_done() -> None:
    # the new image cannot start yet; the two old pods keep serving
    live = deployment(replicas=2, updatedReplicas=1, availableReplicas=2)
    live["status"]["replicas"] = 3

    done, detail = ready.is_ready(live)

    assert not done
    assert detail == "1 of 2 replicas updated"


def test_a_generation_the_controller_has_not_seen_is_not_done() -> None:
    live = deployment(updatedReplicas=2, replicas=2, availableReplicas=2)
    live["metadata"]["generation"] = 3

    assert ready.is_ready(live) == (False, "the new generation is not observed yet")


def test_old_replicas_left_are_waited_for() -> None:
    live = deployment(updatedReplicas=2, availableReplicas=2)
    live["status"]["replicas"] = 3

    assert ready.is_ready(live) == (False, "1 old replicas pending termination")


def test_a_finished_rollout_is_done() -> None:
    live = deployment(updatedReplicas=2, availableReplicas=2)
    live["status"]["replicas"] = 2

    assert ready.is_ready(live)[0] is True


def test_a_new_pod_that_cannot_pull_its_image_fails_the_wait_with_the_reason() -> None:
    pod = {
        "metadata": {"name": "predictor-7d9-abc"},
        "status": {
            "containerStatuses": [
                {"state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nope:1"'}}}
            ]
        },
    }

    with pytest.raises(errors.ClusterError) as raised:
        ready.is_ready(deployment(updatedReplicas=1, availableReplicas=2), [pod])

    assert str(raised.value) == (
        'deployment predictor cannot roll out: pod predictor-7d9-abc: ImagePullBackOff: Back-off pulling image "nope:1"'
    )


def test_a_progress_deadline_exceeded_fails_the_wait() -> None:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "predictor-7d9" has timed out progressing.',
    }

    with pytest.raises(errors.ClusterError, match="has timed out progressing"):
        ready.is_ready(deployment(conditions=[condition]))


def test_an_autoscaled_deployment_waits_for_the_autoscalers_minimum() -> None:
    live = deployment(replicas=1, updatedReplicas=1, availableReplicas=1)
    live["status"]["replicas"] = 1

    assert ready.is_ready(live, floor=2)[0] is False
    assert ready.is_ready(live, floor=1)[0] is True
