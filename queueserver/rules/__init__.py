"""The centre's rules as pure functions, standard library only: identity numbers, ticket and
receipt numbering, working days."""
