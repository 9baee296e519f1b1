"""Automation: the rules (`rules`: their schema and store) and the code that applies them to a
classified message (`actions`: one handler per kind of action)."""
