"""See notifier/__init__.py for the layer map."""
