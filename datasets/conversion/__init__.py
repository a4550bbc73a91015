"""Conversion of face videos and images into event recordings (standardisation, pixel model)."""
