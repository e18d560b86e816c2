"""Running Wren as several instances: locally (local.py, cluster.py) and on Kubernetes (k8s/)."""
