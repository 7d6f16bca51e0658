"""`python -m zspace.cli ...` runs the `zspace` command."""

import sys

from zspace.cli.main import main

sys.exit(main())
