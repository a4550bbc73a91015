"""Result records, their provenance and validation, scores of released predictions and published numbers."""
