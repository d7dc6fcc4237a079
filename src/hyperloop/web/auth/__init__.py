"""Authentication building blocks: passwords, sessions/CSRF, API tokens, OIDC, proxy identity."""
