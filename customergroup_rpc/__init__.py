"""customergroup-rpc: a JSON-RPC 2.0 service for customer groups.

The package is flat on purpose: its layers are named by its files, and each file owns one
concept, so the architecture reads from ``ls``::

    __main__.py   command line (argparse): serve, token, call
    app.py        TRANSPORT: aiohttp routes, tokens of requests, access log, console files
    rpc.py        DISPATCH: the method table; the one place exceptions become JSON-RPC errors
    params.py     binds and checks params (with schemas.py, checks.py), with pointers
    service.py    MODEL: the Customergroup use cases and rules
    store/        STORE: the seam (a Protocol of operations) and one module per engine
    query.py      the field-selection language;  filters.py: the filter-object language
    errors.py     the error tree;  text.py: how names compare;  codec.py: JSON in and out
    tokens.py     API tokens;  files.py: atomic files and the lock;  openrpc.py: discovery
    call.py       the client side: ``customergroup-rpc call``, in the console's notation.py
    console/      the API console's page and ES modules, served as static files

A split into ``server/``, ``client/`` and ``console/`` was considered and not made: the client
side is two modules of the standard library, and the console is already its own folder, so the
split would add import depth without showing anything the names do not. The store is the one
package: its ``__init__`` is the seam the service sees, and each engine is a module behind it.
"""

__version__ = "0.1.0"
