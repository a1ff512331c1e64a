"""The product's commands (`afterhours ...`): CLI, runner, replay, demo, queue, training, jobs."""
