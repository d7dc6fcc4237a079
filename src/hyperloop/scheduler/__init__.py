"""The scheduler: a pure decision core (``core``), a lease so only one scheduler acts
(``lease``), and the shell that performs the core's instructions (``shell``)."""
