"""Sub-commands of the telesec CLI, one module per group."""
