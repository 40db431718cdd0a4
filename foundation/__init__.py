"""The ground floor: settings, errors and small process and file helpers.

Every layer may import it; it imports no other Telesec package.
"""
