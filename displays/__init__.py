"""Unattended screens: the hall display (board, calls, audio playback) and the kiosk screen."""
