"""streamline's benchmarks: each case measures a baseline and streamline in the same run.

    python -m benchmarks                      # every case, median of 3 runs, embedded broker
    python -m benchmarks --case produce,cli --runs 5
    python -m benchmarks --smoke              # tiny sizes, one run: checks they still work (CI)

See ``docs/performance.md`` for the cases, the targets and the latest results.
"""
