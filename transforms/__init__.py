"""Stages of the data's way: pure science functions plus thin Beam composites."""
