"""Announcement phrases in three languages, text-to-speech engines, the clip cache."""
