"""Permit collection: eligibility, collection at the kiosk, the kiosks' offline feed."""
