"""My analysis: a workflow package of its own for Hyperloop trains."""
