"""The runbook engine and the runbooks; no Textual here, ever.

For a front end (the console, the CLI, a test):

- `runbooks.registry.RUNBOOKS`: name -> runbook module (`name`, `title`,
  `scenario`, `steps(ctx)`, `restore_steps(ctx)`, `describe_estate(ctx)`).
- `runbooks.connect.open_estate(mesh_name, mesh[, gateway])`: the estate the
  steps act on, through the mesh Gateway.
- `runbooks.engine.Engine(dirs, confirmer, observers)`: `plan(...)` changes
  nothing; `run(...)` and `resume(run_id, ...)` return a `RunResult`;
  `unfinished_restores(dirs, RESTORING)` finds drills to put back first.
- `runbooks.confirm.Confirmer`: answer a `ConfirmationRequest` with a
  `Confirmation` (the console shows modals; it is called on the run's
  thread and may block until the operator answers).
- `runbooks.events`: what observers receive (step states, the SDK call in
  progress, retries, log lines, the plan, the end), called synchronously on
  the run's thread; `events.render` gives one line for a terminal.
- `runbooks.paths.state_dirs(flag)`: where journals and reports live.
"""
