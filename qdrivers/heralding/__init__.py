"""Heralded entanglement through a heralding station: the link controller both QDriver ends of a link share, and the
entanglement settings of a node setup."""
