"""The hall's notices and the closure of issuing (CONTRACT §10): posting, listing, removing and
expiring notices, their announcements, closing and reopening issuing, and the ready-made texts
the supervisor posts on a typhoon morning."""
