"""Lua scripts, one per state change; see queueserver/lua.py."""
