"""SVG icons, installed as the ``notifier.resources`` package (see pyproject.toml)."""
