"""Alerts the office must act on: the rules that open them, their lifecycle, and the engine that
evaluates them on a timer."""
