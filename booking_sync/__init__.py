"""Reading booking exports (CSV, JSON, an HTTP feed), validating rows, upserting bookings."""
