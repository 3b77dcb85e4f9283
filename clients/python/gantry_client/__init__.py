"""gantry_client: the Python client of a Gantry hub (the package is written in clients/python)."""
