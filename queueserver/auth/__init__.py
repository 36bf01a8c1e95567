"""Who may do what: roles and credentials (tokens), staff logins and sessions, rate limits."""
