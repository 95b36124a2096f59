"""The model registry and the models bundled for offline use."""
