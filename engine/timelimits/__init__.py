"""Time limits: the working-day calendar, each task's due date (a step hook), and the sweep that warns before a limit
and escalates after it."""
