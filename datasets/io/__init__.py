"""Readers of event-camera recording files into the suite's event records."""
