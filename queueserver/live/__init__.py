"""Live events: one stream reader per centre and process, fanned out to the sockets."""
