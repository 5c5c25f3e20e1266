"""Calibration routines of a trapped-ion node (placeholder until written)."""
