"""CLI command groups; ``citewise.cli`` mounts each module's ``register(app)``."""
