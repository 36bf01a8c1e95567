"""The centre's rules as pure functions, standard library only: the vocabularies, identity
numbers, ticket and receipt numbering, working days."""
