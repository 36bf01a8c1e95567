"""Lua scripts, one per state change; see queueserver/store/lua.py."""
