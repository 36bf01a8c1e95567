"""The only code that names a Redis key (`keys`), the Lua script runner (`lua`) and every
script (`scripts/`)."""
