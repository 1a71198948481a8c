"""Search tasks as plugins: one folder per task kind, registered by name."""
