"""The in-cluster monitor: a Deployment running ``mlctl monitor`` with least privilege.

It needs to watch pods and abort runs: list/watch/delete pods (and patch
them, to release a stopped Job pod's tracking finalizer), get/list/patch
Jobs, MPIJobs and SparkApplications. Nothing else. With ``all_namespaces``
the Role becomes a ClusterRole.
"""

from __future__ import annotations

from typing import Any

from mlctl.kube import kinds, labels

NAME = "mlctl-monitor"
LABELS = {**labels.managed(), labels.NAME: NAME}
RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete", "patch"]},
    # run objects are watched too: a run whose controller creates no pod is seen only there
    *(
        {"apiGroups": [group], "resources": [plural], "verbs": ["get", "list", "watch", "patch"]}
        for group, plural in dict.fromkeys((kind.group, kind.plural) for kind in kinds.run_kinds())
    ),
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},  # why a controller created no pod
]


def render(namespace: str, image: str, all_namespaces: bool = False) -> list[dict[str, Any]]:
    role = kinds.CLUSTER_ROLE if all_namespaces else kinds.ROLE
    binding = kinds.CLUSTER_ROLE_BINDING if all_namespaces else kinds.ROLE_BINDING
    scoped = {} if all_namespaces else {"namespace": namespace}
    args = ["monitor", "--all-namespaces"] if all_namespaces else ["monitor", "--namespace", namespace]
    return [
        {
            **kinds.SERVICE_ACCOUNT.header(),
            "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS},
        },
        {
            **role.header(),
            "metadata": {"name": NAME, **scoped, "labels": LABELS},
            "rules": RULES,
        },
        {
            **binding.header(),
            "metadata": {"name": NAME, **scoped, "labels": LABELS},
            "roleRef": {"apiGroup": role.group, "kind": role.kind, "name": NAME},
            "subjects": [{"kind": kinds.SERVICE_ACCOUNT.kind, "name": NAME, "namespace": namespace}],
        },
        {
            **kinds.DEPLOYMENT.header(),
            "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {labels.NAME: NAME}},
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "serviceAccountName": NAME,
                        "containers": [
                            {
                                "name": "monitor",
                                "image": image,
                                "command": ["mlctl"],
                                "args": args,
                                "env": [{"name": "CI", "value": "1"}],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "500m", "memory": "256Mi"},
                                },
                                "securityContext": {
                                    "runAsNonRoot": True,
                                    "runAsUser": 65532,
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                },
                            }
                        ],
                    },
                },
            },
        },
    ]
