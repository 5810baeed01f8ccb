"""citewise evals stage."""
