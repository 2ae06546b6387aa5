"""The Kubernetes contract as data: the kinds mlctl reads and writes, and its label and annotation names.

Both sides of mlctl read this package: rendering (which builds objects and
must never import the cluster package) and the cluster package (which sends
them). So it imports nothing from mlctl but the error tree, and does no I/O.
"""
