"""Staffed screens: the counter clerk's panel, the inquiry desk, the photo booth station."""
