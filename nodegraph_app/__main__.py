"""``python -m nodegraph_app`` is the ``nodegraph`` command."""

import sys

from . import main

sys.exit(main())
