"""Tenancy: workspaces, operators, apps and their API keys."""
