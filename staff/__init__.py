"""Staff accounts: who may use the console and what they must prove to log in.

Below the API and the CLI, which both administer accounts (``telesec users``, the
``/users`` routes); above storage and scheduling (practices are named by slug).
"""
