"""The project's measured claims: one script per claim; `python -m benchmarks` runs the speed figures."""
