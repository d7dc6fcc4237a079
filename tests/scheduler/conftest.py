from hyperloop.db.testing import *  # noqa: F403
