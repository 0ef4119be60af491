"""Convolutional sketch inversion: turns witness sketches into photo-like composites."""

STYLES = ("line", "grayscale", "color")
