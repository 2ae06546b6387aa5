"""The label and annotation names mlctl puts on what it renders, and reads back.

Labels select (whose object, which function, which run); annotations hold
a run's record (state, status text, result, parameters, thresholds) and
deploy's content digest. Kubernetes' recommended ``app.kubernetes.io``
labels say who manages an object and what it is.
"""

from __future__ import annotations

PREFIX = "mlctl.io/"

# Kubernetes' recommended labels
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "mlctl"
NAME = "app.kubernetes.io/name"
MANAGED = f"{MANAGED_BY}={MANAGER}"  # the selector of everything mlctl renders

# mlctl's labels
FUNCTION = PREFIX + "function"
KIND = PREFIX + "kind"
PROJECT = PREFIX + "project"
TAG = PREFIX + "tag"
RUN_ID = PREFIX + "run-id"

# mlctl's annotations: a run's record
STATE = PREFIX + "state"
STATUS_TEXT = PREFIX + "status-text"
FINISHED = PREFIX + "finished"
RESULT = PREFIX + "result"
THRESHOLDS = PREFIX + "thresholds"
PARAMS = PREFIX + "params"
EXPLANATION = PREFIX + "explanation"
TRACEBACK = PREFIX + "traceback"
RETRY = PREFIX + "retry"  # the run's retry policy: count, backoff, max_disruptions
# one annotation per attempt whose pod may be gone (disrupted, deleted), keyed by the pod's name
ATTEMPT_PREFIX = "attempt.mlctl.io/"
# and what deploy and run stamp on objects
APPLIED_DIGEST = PREFIX + "applied-digest"
CODE_SHA256 = PREFIX + "code-sha256"


# what the Job controller writes on the pods of an Indexed Job: the index's counted and ignored failures
JOB_INDEX_FAILURES = "batch.kubernetes.io/job-index-failure-count"
JOB_INDEX_IGNORED_FAILURES = "batch.kubernetes.io/job-index-ignored-failure-count"
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"  # the Job controller's, on each pod until it counted it


def managed() -> dict[str, str]:
    """The label every object mlctl renders carries."""
    return {MANAGED_BY: MANAGER}


def of_function(name: str) -> str:
    """The selector of everything deploy made for the function ``name`` (a Kubernetes name)."""
    return f"{MANAGED},{FUNCTION}={name}"


def of_run(run_id: str) -> str:
    """The selector of a run's objects and pods."""
    return f"{RUN_ID}={run_id}"
