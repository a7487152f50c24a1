"""What the office is: its settings, departments, windows, operators, shifts and served clients,
and the re-credit of stored presses when those change."""
