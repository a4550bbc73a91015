"""Measurement scripts and models of cost: metrics, energy, carbon, speed, estimates and overheads."""
