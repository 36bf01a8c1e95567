"""Thermal printers (CONTRACT §10): ticket and receipt slips printed on ESC/POS network printers
by the worker, never in a request, retried for two minutes, then `printer.failed`."""
