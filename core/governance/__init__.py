"""Roles, permissions, accounts, logins and the audit log."""
