"""The application layer: one function per user-level operation, called by every front end (CLI, batch,
the Slicer Logic, the server). Front ends parse their input and call these; they hold no rules of their own."""
