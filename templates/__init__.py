"""Jinja2 templates of every screen (package data)."""
