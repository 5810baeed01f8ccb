"""citewise api stage."""
