"""Published tables that Parity's settings are checked against (see ``parity reproductions``)."""
