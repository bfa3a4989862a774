"""Where the work of a command runs: in this process (local.py, the default) or as tasks on a Ray cluster
(ray_executor.py, `--ray ADDRESS`). Callers hand an Executor tasks (executor.py) and read the outcomes as they
finish; the decisions (which trainings, which rung survives) stay with the caller, in the driver."""
