"""citewise generation stage."""
