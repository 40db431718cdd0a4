"""Declarative IVR flows: interpreter, steps, understanding of callers, prompts."""
