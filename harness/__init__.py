"""What tests and benchmarks share: one launcher, one client, one model of the API's answers.

::

    server.py     Server: ``serve`` (or another server) on 127.0.0.1:free port, stopped by PID
    client.py     Client: JSON-RPC over one kept-alive http.client connection; post(), rpc()
    contract.py   what any reply to any body must be: status, envelope, ids, documented errors
                  with pointers into the params
    methods.py    what each method takes and gives: verdicts on bad params, results valid
                  against methods.json and shaped by their query
    postgres.py   Cluster: a throwaway PostgreSQL (initdb, pg_ctl) on 127.0.0.1:free port,
                  for tests, benchmarks and ``make serve-pg``

``tests/test_fuzz.py`` holds hypothesis' requests to the contract; ``bench/soak.py`` holds
the answers of many concurrent clients to it, and to a model of the groups each client owns
(bench/soak_model.py). Importable from the checkout's root: pytest puts it on the path
(``tests`` is a package), and ``pip install -e .`` does for the scripts in ``bench/``.
"""
