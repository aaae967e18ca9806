"""The tasklease benchmark (``make bench``): see bench/README.md.

``bench.run.main()`` is the command line; ``bench.run.run_bench(dsn, config)`` runs the
sections against an already migrated database and returns the results dictionary (the
smoke test in tests/python/test_bench_smoke.py calls it in quick mode).
"""
