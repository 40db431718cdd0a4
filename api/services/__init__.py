"""Services below the routers: plain Python over the database, no web framework."""
