"""The console's screens: the mesh view, the runbook runner, help and modals."""
