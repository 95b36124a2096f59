"""Guardrails on served traffic: input and output guards per deployment version, each flagging, redacting or
blocking, every hit recorded on the inference event (guard_flags). See core.guardrails.apply for the config shape."""
