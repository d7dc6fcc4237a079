"""The scheduler: a pure decision core (``decide``), a lease so only one scheduler acts
(``lease``), and the shell that performs the core's instructions (``shell``)."""
