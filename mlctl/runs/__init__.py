"""Runs: the modules here are pure (states, ids, thresholds, records, explanations) or keep local runs
(``local_store``); those that call the cluster live in ``mlctl.runs.cluster``.
"""
