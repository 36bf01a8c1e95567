"""The booking platform (CONTRACT §11): approved applications, their booking tokens, a centre's
slots, appointments booked, moved and cancelled, waiting lists and blocks, and the emails."""
