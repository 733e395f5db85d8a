"""Privacy: GDPR erase and export of one user and everything about them."""
