"""The agenda core: slots, holds, bookings, rules and exports."""
