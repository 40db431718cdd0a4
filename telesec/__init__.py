"""Telesec: telephony engine for medical remote-secretary services."""
