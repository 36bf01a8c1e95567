"""The ticket in the person's hand (CONTRACT §9): follow tokens, the follow page's state and its
live fan-out to phones, text messages through the centre's gateway, and feedback."""
