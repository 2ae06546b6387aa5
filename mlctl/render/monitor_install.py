"""The in-cluster monitor: a Deployment running ``mlctl monitor`` with least privilege.

It needs to watch pods and abort runs: list/watch/delete pods, get/list/patch
Jobs, MPIJobs and SparkApplications. Nothing else. With ``all_namespaces``
the Role becomes a ClusterRole.
"""

from __future__ import annotations

from typing import Any

from mlctl.kube import kinds, labels

NAME = "mlctl-monitor"
LABELS = {**labels.managed(), labels.NAME: NAME}
RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    # run objects are watched too: a run whose controller creates no pod is seen only there
    *(
        {"apiGroups": [group], "resources": [plural], "verbs": ["get", "list", "watch", "patch"]}
        for group, plural in dict.fromkeys((kind.group, kind.plural) for kind in kinds.run_kinds())
    ),
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},  # why a controller created no pod
]


def render(namespace: str, image: str, all_namespaces: bool = False) -> list[dict[str, Any]]:
    role_kind = "ClusterRole" if all_namespaces else "Role"
    binding_kind = "ClusterRoleBinding" if all_namespaces else "RoleBinding"
    scoped = {} if all_namespaces else {"namespace": namespace}
    args = ["monitor", "--all-namespaces"] if all_namespaces else ["monitor", "--namespace", namespace]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": role_kind,
            "metadata": {"name": NAME, **scoped, "labels": LABELS},
            "rules": RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": binding_kind,
            "metadata": {"name": NAME, **scoped, "labels": LABELS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
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
