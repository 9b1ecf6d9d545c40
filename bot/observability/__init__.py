"""What operators of the service can watch: Prometheus metrics."""
