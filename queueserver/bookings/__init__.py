"""Booked appointments: the booking store, the import plan, the feed's state and the staff look-up.

`booking_sync` reads exports and feeds and writes through this room."""
