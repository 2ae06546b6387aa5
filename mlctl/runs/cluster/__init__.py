"""Runs on a cluster: find, list, abort and record them (``control``), watch and abort stuck ones
(``monitor``), follow one to its end (``follow``), and read why one is stuck (``gather``).

These modules call the Kubernetes API through ``mlctl.cluster``; what they decide is
left to the pure modules of ``mlctl.runs`` (states, thresholds, records, explanations).
"""
