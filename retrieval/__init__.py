"""citewise retrieval stage."""
