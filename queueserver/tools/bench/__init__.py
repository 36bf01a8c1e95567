"""`queueserver bench`: what the project's check-ins and calls cost, beside a bare relay."""
