"""Site work: field jobs opened with marked tasks (a step hook and a gate marker), station capacity, appointments,
check-in and check-out, callbacks; and the weekly design-review meeting."""
